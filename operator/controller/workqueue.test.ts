import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WorkQueue } from './workqueue.ts';

describe('WorkQueue', () => {
  it('queues a key once however often it is added', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('a');
    q.add('b');
    assert.equal(q.depth, 2);
    assert.equal(await q.get(), 'a');
    assert.equal(await q.get(), 'b');
  });

  it('never hands out a key being processed; a re-add waits for done', async () => {
    const q = new WorkQueue();
    q.add('a');
    assert.equal(await q.get(), 'a');
    q.add('a');
    assert.equal(q.depth, 0, 'a is in flight, so it is not queued again yet');
    q.done('a');
    assert.equal(q.depth, 1);
    assert.equal(await q.get(), 'a');
  });

  it('hands a key straight to a waiting worker', async () => {
    const q = new WorkQueue();
    const next = q.get();
    q.add('x');
    assert.equal(await next, 'x');
    assert.equal(q.inFlight, 1);
  });

  it('backs off exponentially per key (with 10% jitter) and forgets on success', () => {
    const q = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 1000 });
    const near = (got: number, want: number) =>
      assert.ok(got >= want * 0.9 && got <= want * 1.1, `${got} is within 10% of ${want}`);
    for (const want of [100, 200, 400, 800, 1000]) near(q.addRateLimited('k'), want);
    near(q.addRateLimited('other'), 100);
    q.forget('k');
    near(q.addRateLimited('k'), 100);
    // Conflicts use their own, shorter backoff; it grows too instead of retrying at a fixed rate.
    near(q.addRateLimited('c', { baseDelayMs: 10, maxDelayMs: 80 }), 10);
    near(q.addRateLimited('c', { baseDelayMs: 10, maxDelayMs: 80 }), 20);
    q.shutdown();
  });

  it('delivers delayed adds, earliest wins', async () => {
    const q = new WorkQueue();
    q.addAfter('d', 10_000);
    q.addAfter('d', 20);
    const started = Date.now();
    assert.equal(await q.get(), 'd');
    assert.ok(Date.now() - started < 5_000);
    q.shutdown();
  });

  it('releases waiting workers on shutdown', async () => {
    const q = new WorkQueue();
    const next = q.get();
    q.shutdown();
    assert.equal(await next, undefined);
    q.add('late');
    assert.equal(q.depth, 0);
  });
});
