/**
 * Tracks which messages of a partition batch are done and yields the end of the contiguous done
 * prefix: the only offset that may be committed (a gap means a message still in flight).
 */
export class ContiguousOffsets {
  readonly #order: string[];
  readonly #done = new Set<string>();
  #next = 0;

  constructor(offsetsInOrder: string[]) {
    this.#order = offsetsInOrder;
  }

  /** Marks one offset done; returns the new last offset of the done prefix if it advanced. */
  complete(offset: string): string | undefined {
    this.#done.add(offset);
    const before = this.#next;
    while (this.#next < this.#order.length && this.#done.has(this.#order[this.#next]!)) this.#next++;
    return this.#next > before ? this.#order[this.#next - 1] : undefined;
  }

  get pending(): number {
    return this.#order.length - this.#done.size;
  }

  get allDone(): boolean {
    return this.#next === this.#order.length;
  }
}
