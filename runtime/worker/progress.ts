/**
 * Liveness from the worker's own progress: a worker that has lag but finished no message for
 * `timeoutMs` is stuck (evicted and looping, a handler that never returns, a consumer that stopped
 * fetching) however healthy its process looks, and a restart is what gets it going again.
 * Caught up (no lag) is always live, however long it has been idle.
 */
export class ProgressWatch {
  readonly #timeoutMs: number;
  readonly #now: () => number;
  readonly #lag = new Map<string, number>();
  #lastProgress: number;

  constructor(timeoutMs: number, now: () => number = () => performance.now()) {
    this.#timeoutMs = timeoutMs;
    this.#now = now;
    this.#lastProgress = now();
  }

  /** A message was processed or dead-lettered. */
  progressed(): void {
    this.#lastProgress = this.#now();
  }

  /** Messages waiting behind the next offset to process, as last seen on this partition. */
  setLag(topic: string, partition: number, lag: number): void {
    // Work appearing after a quiet spell starts the clock: idle time is not a stall.
    if (lag > 0 && this.lag === 0) this.#lastProgress = this.#now();
    this.#lag.set(`${topic}/${partition}`, Math.max(0, lag));
  }

  /** After a rebalance: forget partitions this member no longer owns (keep the others' lag). */
  assigned(owned: { topic: string; partitions: number[] }[]): void {
    const keep = new Set(owned.flatMap((o) => o.partitions.map((p) => `${o.topic}/${p}`)));
    for (const key of this.#lag.keys()) if (!keep.has(key)) this.#lag.delete(key);
  }

  get lag(): number {
    let total = 0;
    for (const n of this.#lag.values()) total += n;
    return total;
  }

  /** Undefined while live, else why not. */
  stalled(): string | undefined {
    if (this.#timeoutMs <= 0) return undefined;
    const lag = this.lag;
    if (lag === 0) return undefined;
    const idle = this.#now() - this.#lastProgress;
    if (idle <= this.#timeoutMs) return undefined;
    return (
      `no message finished for ${Math.round(idle / 1000)} s while ${lag} wait ` +
      `(ENGRAM_PROGRESS_TIMEOUT_MS ${this.#timeoutMs})`
    );
  }
}
