import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RequestLimiter } from './request-limiter.ts';

describe('RequestLimiter', () => {
  it('never has more than its concurrency in flight, and runs everything', async () => {
    const limiter = new RequestLimiter({ requestsPerMinute: 1_000_000, concurrency: 3 });
    let inFlight = 0;
    let most = 0;
    const signal = new AbortController().signal;
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        limiter.run(async () => {
          inFlight++;
          most = Math.max(most, inFlight);
          await new Promise((r) => setImmediate(r));
          inFlight--;
          return i;
        }, signal),
      ),
    );
    assert.deepEqual(
      results,
      Array.from({ length: 12 }, (_, i) => i),
    );
    assert.equal(most, 3);
    assert.equal(limiter.inFlight, 0);
  });

  it('uses the shared bucket when given one, and falls back to its own when it fails', async () => {
    const asked: number[] = [];
    let failing = false;
    const limiter = new RequestLimiter(
      { requestsPerMinute: 60, concurrency: 2 },
      {
        shared: async (bucket) => {
          asked.push(bucket.perSecond);
          if (failing) throw new Error('redis down');
          return 0;
        },
      },
    );
    const signal = new AbortController().signal;
    for (let i = 0; i < 5; i++) await limiter.run(async () => i, signal);
    assert.deepEqual(asked, [1, 1, 1, 1, 1]);
    failing = true;
    // The local bucket holds 2 tokens (the concurrency): two more run at once.
    await limiter.run(async () => 0, signal);
    await limiter.run(async () => 0, signal);
    assert.equal(asked.length, 7);
  });

  it('gives up waiting when the signal aborts', async () => {
    let now = 0;
    const limiter = new RequestLimiter({ requestsPerMinute: 1, concurrency: 1 }, { now: () => now });
    const ac = new AbortController();
    await limiter.run(async () => 'first', ac.signal);
    limiter.pauseUntil(60_000);
    const waiting = limiter.run(async () => 'second', ac.signal);
    ac.abort(new Error('stopping'));
    await assert.rejects(waiting, /stopping/);
    now = 120_000;
    assert.equal(await limiter.run(async () => 'third', new AbortController().signal), 'third');
  });
});
