import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptyHistory, partitionLag } from './lag.ts';

const ends = (...highs: Array<[number, number]>) =>
  highs.map(([low, high], partition) => ({ partition, low, high }));
const committed = (...offsets: number[]) => new Map(offsets.map((o, p) => [p, o]));

describe('partitionLag', () => {
  it('is log-end minus committed per partition', () => {
    const r = partitionLag(ends([0, 10], [0, 5]), committed(4, 5), emptyHistory(), 0, undefined);
    assert.deepEqual(r, { total: 6, stuckPartitions: 0 });
  });

  it('counts a partition with no committed offset as its whole retained log, never -1 arithmetic', () => {
    // -1 is what kafkajs reports for "never committed"; high - (-1) would be one too many.
    const r = partitionLag(ends([3, 10], [0, 0]), committed(-1, -1), emptyHistory(), 0, undefined);
    assert.deepEqual(r, { total: 7, stuckPartitions: 0 });
    assert.equal(partitionLag(ends([0, 4]), undefined, emptyHistory(), 0, undefined).total, 4);
  });

  it('resumes a committed offset below the log start at the log start', () => {
    assert.equal(partitionLag(ends([100, 120]), committed(40), emptyHistory(), 0, undefined).total, 20);
  });

  it('excludes a stuck partition only while others progress, and only after the window', () => {
    const h = emptyHistory();
    const window = 60_000;
    // t=0: both lag; partition 0 sits at 5, partition 1 moves on.
    partitionLag(ends([0, 100], [0, 100]), committed(5, 10), h, 0, window);
    assert.deepEqual(partitionLag(ends([0, 100], [0, 100]), committed(5, 50), h, 30_000, window), {
      total: 145,
      stuckPartitions: 0,
    });
    assert.deepEqual(partitionLag(ends([0, 100], [0, 100]), committed(5, 90), h, 61_000, window), {
      total: 10,
      stuckPartitions: 1,
    });
    // The group stops everywhere: nothing is excluded, so scaling still sees the lag.
    assert.deepEqual(partitionLag(ends([0, 100], [0, 100]), committed(5, 90), h, 200_000, window), {
      total: 105,
      stuckPartitions: 0,
    });
  });

  it('never treats a partition without a committed offset as stuck', () => {
    const h = emptyHistory();
    partitionLag(ends([0, 9], [0, 9]), committed(-1, 1), h, 0, 1000);
    const r = partitionLag(ends([0, 9], [0, 9]), committed(-1, 2), h, 5000, 1000);
    assert.deepEqual(r, { total: 16, stuckPartitions: 0 });
  });

  it('counts everything without the option', () => {
    const h = emptyHistory();
    partitionLag(ends([0, 100], [0, 100]), committed(5, 10), h, 0, undefined);
    const r = partitionLag(ends([0, 100], [0, 100]), committed(5, 90), h, 1e9, undefined);
    assert.deepEqual(r, { total: 105, stuckPartitions: 0 });
  });
});
