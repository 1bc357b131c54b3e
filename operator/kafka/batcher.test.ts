import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Batcher } from './batcher.ts';

describe('Batcher', () => {
  it('merges calls made within the window into one', async () => {
    const calls: number[][] = [];
    const b = new Batcher<number>(async (items) => void calls.push(items));
    await Promise.all([b.submit([1, 2]), b.submit([3]), b.submit([4])]);
    assert.deepEqual(calls, [[1, 2, 3, 4]]);
  });

  it('on failure retries each caller alone, so errors reach only their owner', async () => {
    const b = new Batcher<string>(async (items) => {
      if (items.includes('bad')) throw new Error(`refused ${items.join(',')}`);
    });
    const results = await Promise.allSettled([b.submit(['ok']), b.submit(['bad'])]);
    assert.equal(results[0]!.status, 'fulfilled');
    assert.equal(results[1]!.status, 'rejected');
    assert.match(String((results[1] as PromiseRejectedResult).reason), /refused bad$/);
  });
});
