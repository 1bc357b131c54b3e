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

  it('a key re-added with a delay while processing waits that delay after done (events fold)', async () => {
    const q = new WorkQueue();
    q.add('k');
    assert.equal(await q.get(), 'k');
    // The reconcile's own writes come back as events, each asking for a folded reconcile.
    q.addAfter('k', 150);
    q.addAfter('k', 150);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(q.depth, 0, 'still processing: nothing queued');
    const doneAt = Date.now();
    q.done('k');
    assert.equal(q.depth, 0, 'not at once: the delay runs from done');
    assert.equal(await q.get(), 'k');
    const waited = Date.now() - doneAt;
    assert.ok(waited >= 140, `waited ${waited} ms after done`);
    q.done('k');
    assert.equal(q.depth, 0, 'the burst became one follow-up');
    q.shutdown();
  });

  it('a delayed add whose delay ends while the key is processed also waits after done', async () => {
    const q = new WorkQueue();
    q.addAfter('k', 30);
    q.add('k');
    assert.equal(await q.get(), 'k');
    await new Promise((r) => setTimeout(r, 60));
    const doneAt = Date.now();
    q.done('k');
    assert.equal(q.depth, 0);
    assert.equal(await q.get(), 'k');
    assert.ok(Date.now() - doneAt >= 25);
    q.shutdown();
  });

  it('an add without delay while processing runs right after done, even with a folded add pending', async () => {
    const q = new WorkQueue();
    q.add('k');
    assert.equal(await q.get(), 'k');
    q.addAfter('k', 10_000);
    q.add('k');
    q.done('k');
    assert.equal(q.depth, 1, 'a spec change does not wait for the fold');
    assert.equal(await q.get(), 'k');
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
