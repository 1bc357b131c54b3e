/**
 * Merges calls made within a short window into one: the clusters that share an admin client
 * (same brokers) get one CreateTopics request instead of one each. If the merged call fails,
 * each caller's part is retried alone, so every caller gets its own error, never another's.
 */
export class Batcher<T> {
  private pending: Array<{ items: T[]; resolve: () => void; reject: (err: unknown) => void }> = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly run: (items: T[]) => Promise<void>;
  private readonly windowMs: number;

  constructor(run: (items: T[]) => Promise<void>, windowMs = 25) {
    this.run = run;
    this.windowMs = windowMs;
  }

  submit(items: T[]): Promise<void> {
    if (!items.length) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.pending.push({ items, resolve, reject });
      this.timer ??= setTimeout(() => void this.flush(), this.windowMs);
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    this.timer = undefined;
    try {
      await this.run(batch.flatMap((b) => b.items));
      for (const b of batch) b.resolve();
    } catch (err) {
      if (batch.length === 1) {
        batch[0]!.reject(err);
        return;
      }
      await Promise.all(batch.map((b) => this.run(b.items).then(b.resolve, b.reject)));
    }
  }
}
