import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planMerges } from './consolidation.ts';

const e = (key: string, firstSeen: number) => ({ key, firstSeen });

describe('planMerges', () => {
  it('merges the newer entity of a pair into the older', () => {
    assert.deepEqual(planMerges([{ a: e('acme', 20), b: e('acme-corp', 10), similarity: 0.97 }]), [
      { keep: 'acme-corp', merged: 'acme', similarity: 0.97 },
    ]);
  });

  it('merges a chain into its oldest member, so nothing is left to merge', () => {
    const merges = planMerges([
      { a: e('b', 2), b: e('c', 3), similarity: 0.96 },
      { a: e('a', 1), b: e('b', 2), similarity: 0.98 },
      { a: e('x', 5), b: e('y', 5), similarity: 0.99 },
    ]);
    assert.deepEqual(merges, [
      { keep: 'a', merged: 'b', similarity: 0.98 },
      { keep: 'a', merged: 'c', similarity: 0.96 },
      { keep: 'x', merged: 'y', similarity: 0.99 },
    ]);
  });

  it('plans nothing without pairs', () => {
    assert.deepEqual(planMerges([]), []);
  });
});
