/**
 * Bounds the requests the extract pool sends to the endpoint: at most `concurrency` in flight per
 * worker, and `requestsPerMinute` started per minute across the pool, from a token bucket in
 * Redis every replica shares (holding up to `concurrency` tokens, so a burst never exceeds what
 * one worker may have in flight). While Redis cannot answer, each worker falls back to a local
 * bucket at the same rate, so extraction goes on at worst replicas times faster. A 429's
 * Retry-After pauses every request of the worker, not just the one that got it.
 */
import type { Logger } from '../../observability/log.ts';
import { sleep } from '../../worker/retry.ts';

/** Takes one token from the pool's shared bucket: 0 when taken, else how long to wait (ms). */
export type SharedTake = (bucket: { perSecond: number; burst: number }) => Promise<number>;

export interface RequestLimits {
  requestsPerMinute: number;
  concurrency: number;
}

export class RequestLimiter {
  readonly #perMs: number;
  readonly #burst: number;
  readonly #concurrency: number;
  readonly #now: () => number;
  #tokens: number;
  #refilledAt: number;
  #inFlight = 0;
  #pausedUntil = 0;
  readonly #waiting: (() => void)[] = [];
  readonly #shared: SharedTake | undefined;
  readonly #log: Logger | undefined;
  #sharedFailing = false;

  constructor(
    limits: RequestLimits,
    options: { now?: () => number; shared?: SharedTake; log?: Logger } = {},
  ) {
    const now = options.now ?? Date.now;
    this.#shared = options.shared;
    this.#log = options.log;
    this.#perMs = limits.requestsPerMinute / 60_000;
    this.#concurrency = limits.concurrency;
    this.#burst = Math.max(1, Math.min(limits.concurrency, limits.requestsPerMinute));
    this.#tokens = this.#burst;
    this.#now = now;
    this.#refilledAt = now();
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Runs `fn` once a slot and a token are free; throws the signal's reason when it aborts first. */
  async run<T>(fn: () => Promise<T>, signal: AbortSignal): Promise<T> {
    await this.#acquireSlot(signal);
    try {
      for (;;) {
        signal.throwIfAborted();
        const wait = await this.#take();
        if (wait === 0) break;
        await sleep(wait, signal);
      }
      return await fn();
    } finally {
      this.#releaseSlot();
    }
  }

  /** Every request waits until then (a 429's Retry-After). */
  pauseUntil(at: number): void {
    this.#pausedUntil = Math.max(this.#pausedUntil, at);
  }

  /** 0 when a token was taken, else how long to wait for one (or for a pause to end). */
  async #take(): Promise<number> {
    const now = this.#now();
    if (now < this.#pausedUntil) return this.#pausedUntil - now;
    if (!this.#shared) return this.#takeLocal(now);
    try {
      const wait = await this.#shared({ perSecond: this.#perMs * 1000, burst: this.#burst });
      if (this.#sharedFailing) this.#log?.info('shared extraction rate limit reachable again');
      this.#sharedFailing = false;
      return wait;
    } catch (err) {
      if (!this.#sharedFailing)
        this.#log?.warn('shared extraction rate limit unreachable: limiting this worker alone', {
          error: err,
        });
      this.#sharedFailing = true;
      return this.#takeLocal(now);
    }
  }

  #takeLocal(now: number): number {
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#refilledAt) * this.#perMs);
    this.#refilledAt = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - this.#tokens) / this.#perMs));
  }

  async #acquireSlot(signal: AbortSignal): Promise<void> {
    while (this.#inFlight >= this.#concurrency) {
      signal.throwIfAborted();
      await new Promise<void>((resolve) => {
        const onAbort = () => resolve();
        signal.addEventListener('abort', onAbort, { once: true });
        this.#waiting.push(() => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        });
      });
    }
    signal.throwIfAborted();
    this.#inFlight++;
  }

  #releaseSlot(): void {
    this.#inFlight--;
    // All waiters re-check: one woken but aborted must not leave a live one asleep.
    for (const wake of this.#waiting.splice(0)) wake();
  }
}
