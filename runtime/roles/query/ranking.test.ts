import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ChunkCandidate, entitiesOf, importanceOf, rank, recencyOf, selectChunks } from './ranking.ts';

const DAY = 86_400_000;
const weights = { similarityWeight: 0.8, recencyWeight: 0.1, importanceWeight: 0.1, recencyHalfLifeDays: 30 };
const chunk = (id: string, similarity: number, over: Partial<ChunkCandidate> = {}): ChunkCandidate => ({
  chunkId: id,
  documentId: `d-${id}`,
  text: id,
  similarity,
  timestamp: null,
  entities: [],
  ...over,
});

describe('ranking', () => {
  it('recency halves every half-life; importance squashes to [0, 1)', () => {
    assert.equal(recencyOf(100 * DAY, 100 * DAY, 30), 1);
    assert.ok(Math.abs(recencyOf(70 * DAY, 100 * DAY, 30) - 0.5) < 1e-9);
    assert.equal(recencyOf(null, 0, 30), 0);
    assert.equal(importanceOf(0), 0);
    assert.equal(importanceOf(3), 0.5);
    assert.ok(importanceOf(1e9) < 1);
  });

  it('orders by the weighted score and keeps topK', () => {
    const now = 1000 * DAY;
    const r = rank(
      [
        chunk('old', 0.9, { timestamp: now - 365 * DAY }),
        chunk('fresh', 0.88, { timestamp: now }),
        chunk('far', 0.5, { timestamp: now }),
      ],
      2,
      weights,
      now,
    );
    assert.deepEqual(
      r.chunks.map((c) => c.chunkId),
      ['fresh', 'old'],
    );
  });

  it('entities and facts inherit the best chunk score, deduplicated', () => {
    const fact = {
      source: 'A',
      type: 'works_at',
      target: 'B',
      fact: 'A works at B',
      chunkId: 'x',
      validFrom: 1,
    };
    const e = { key: 'a', name: 'A', type: 'person', importance: 2 };
    const r = rank(
      [chunk('c1', 0.9, { entities: [e] }), chunk('c2', 0.7, { entities: [e] })],
      5,
      weights,
      0,
      new Map([['a', [fact]]]),
    );
    assert.equal(r.entities.length, 1);
    assert.equal(r.facts.length, 1);
    assert.equal(r.entities[0]!.score, r.chunks[0]!.score);
  });

  it('expands only the selected chunks: their distinct entities, best chunk first', () => {
    const entity = (key: string, importance = 1) => ({ key, name: key, type: 'person', importance });
    const selected = selectChunks(
      [
        chunk('low', 0.2, { entities: [entity('z')] }),
        chunk('top', 0.9, { entities: [entity('b'), entity('a')] }),
        chunk('second', 0.8, { entities: [entity('a'), entity('c')] }),
      ],
      2,
      weights,
      0,
    );
    assert.deepEqual(
      selected.map((s) => s.ranked.chunkId),
      ['top', 'second'],
    );
    assert.deepEqual(
      entitiesOf(selected).map((e) => e.key),
      ['b', 'a', 'c'],
    );
  });
});
