/**
 * A work queue of object keys: a key waiting is queued once however often it is added, a key
 * being processed is never handed out twice at once (re-added keys wait until `done`), and
 * failures requeue with per-key exponential backoff.
 *
 * A delayed add folds a burst of events into one reconcile. A key re-added with a delay while it
 * is being processed waits that delay after `done`, not from the add: the events a reconcile's
 * own writes cause (children created, their status filled in) fold into one follow-up instead of
 * a reconcile each, while an add without delay (a spec change) still runs right after `done`.
 */

export interface WorkQueueOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Observes depth changes and the wait of each key handed out (for metrics). */
  onDepth?(depth: number): void;
  onWait?(ms: number): void;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly addedAt = new Map<string, number>();
  private readonly processing = new Set<string>();
  /** Keys re-added while processing, with the delay to wait after `done` (0: at once). */
  private readonly dirty = new Map<string, number>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; due: number }>();
  private readonly waiters: Array<(key: string | undefined) => void> = [];
  private shuttingDown = false;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly options: WorkQueueOptions;

  constructor(options: WorkQueueOptions = {}) {
    this.options = options;
    this.baseDelayMs = options.baseDelayMs ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 5 * 60_000;
  }

  get depth(): number {
    return this.queue.length;
  }

  add(key: string): void {
    this.addFolded(key, 0);
  }

  private addFolded(key: string, foldMs: number): void {
    if (this.shuttingDown) return;
    if (this.processing.has(key)) {
      this.dirty.set(key, Math.min(this.dirty.get(key) ?? foldMs, foldMs));
      return;
    }
    if (this.queued.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      this.processing.add(key);
      this.options.onWait?.(0);
      waiter(key);
      return;
    }
    this.queued.add(key);
    this.addedAt.set(key, Date.now());
    this.queue.push(key);
    this.options.onDepth?.(this.queue.length);
  }

  /**
   * Adds the key after a delay; of two pending delayed adds for a key, the earlier wins. A key
   * being processed (now, or when the delay ends) waits the delay again after `done`.
   */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    if (this.processing.has(key)) {
      this.addFolded(key, delayMs);
      return;
    }
    const due = Date.now() + delayMs;
    const pending = this.timers.get(key);
    if (pending && pending.due <= due) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.addFolded(key, delayMs);
    }, delayMs);
    timer.unref();
    this.timers.set(key, { timer, due });
  }

  /**
   * Requeues after a failure with per-key exponential backoff (by default 0.5 s, 1 s, 2 s, ... up
   * to 5 min), with a little jitter so keys failing together do not retry in lockstep.
   */
  addRateLimited(key: string, backoff: { baseDelayMs?: number; maxDelayMs?: number } = {}): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const base = backoff.baseDelayMs ?? this.baseDelayMs;
    const max = backoff.maxDelayMs ?? this.maxDelayMs;
    const delay = Math.round(Math.min(max, base * 2 ** Math.min(n, 30)) * (0.9 + Math.random() * 0.2));
    this.addAfter(key, delay);
    return delay;
  }

  /** Clears the key's failure history after a success. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** Waits for the next key; undefined once the queue shuts down. */
  get(): Promise<string | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) {
      this.queued.delete(key);
      this.processing.add(key);
      this.options.onDepth?.(this.queue.length);
      this.options.onWait?.(Date.now() - (this.addedAt.get(key) ?? Date.now()));
      this.addedAt.delete(key);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    const foldMs = this.dirty.get(key);
    if (foldMs === undefined) return;
    this.dirty.delete(key);
    this.addAfter(key, foldMs);
  }

  /** Stops handing out keys; in-flight work finishes, waiting workers get undefined. */
  shutdown(): void {
    this.shuttingDown = true;
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }

  get inFlight(): number {
    return this.processing.size;
  }
}
