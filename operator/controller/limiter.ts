/** At most `width` holders at once; the others wait in order. */
export class Limiter {
  #free: number;
  readonly #waiting: Array<() => void> = [];
  constructor(width: number) {
    this.#free = width;
  }
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((r) => this.#waiting.push(r));
    try {
      return await fn();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    }
  }
}
