import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ExtractionMessage as ChunkExtraction } from '../../pipeline/messages.ts';
import {
  applyResolution,
  collectMentions,
  decide,
  groupNewNames,
  type NameToResolve,
  relationType,
  tenantKey,
} from './resolution.ts';

const extraction = (over: Partial<ChunkExtraction>): ChunkExtraction => ({
  v: 1,
  kind: 'extraction',
  tenantId: 'acme',
  documentId: 'd1',
  chunkId: 'a'.repeat(32),
  entities: [],
  relations: [],
  extractedAt: 1000,
  ...over,
});

const name = (key: string, tenantId = 'acme'): NameToResolve => ({
  tenantId,
  key,
  name: key,
  type: 'person',
  lastSeen: 1,
});
const unit = (...xs: number[]) => {
  const v = new Float32Array(xs);
  const n = Math.hypot(...xs);
  return v.map((x) => x / n);
};

describe('collectMentions', () => {
  it('keys names, merges spellings in one chunk and adds unlisted relation ends', () => {
    const b = collectMentions([
      extraction({
        entities: [
          { name: 'Northwind Analytics Inc.', type: 'organization' },
          { name: 'NORTHWIND ANALYTICS', type: 'organization' },
        ],
        relations: [
          { source: 'Dr. Dana Whitfield', target: 'Northwind Analytics', type: 'WORKS_AT', fact: 'f' },
        ],
      }),
    ]);
    assert.deepEqual(
      b.names.map((n) => [n.key, n.type]),
      [
        ['northwind analytics', 'organization'],
        ['dana whitfield', 'entity'],
      ],
    );
    assert.equal(b.mentions.length, 2);
    assert.deepEqual(
      b.relations.map((r) => [r.sourceKey, r.type, r.targetKey]),
      [['dana whitfield', 'works_at', 'northwind analytics']],
    );
  });

  it('drops a relation of an entity to itself', () => {
    const b = collectMentions([
      extraction({ relations: [{ source: 'Acme Inc', target: 'ACME', type: 'owns', fact: 'f' }] }),
    ]);
    assert.equal(b.relations.length, 0);
  });

  it('keeps tenants apart: one name in two tenants is two names', () => {
    const b = collectMentions([
      extraction({ entities: [{ name: 'Dana', type: 'person' }] }),
      extraction({
        tenantId: 'globex',
        chunkId: 'b'.repeat(32),
        entities: [{ name: 'Dana', type: 'person' }],
      }),
    ]);
    assert.equal(b.names.length, 2);
  });
});

describe('decide', () => {
  const settings = { matchThreshold: 0.93, greyThreshold: 0.85 };
  it('matches at or above the threshold, picks the best', async () => {
    const d = await decide(
      name('x'),
      [
        { key: 'a', name: 'a', type: 't', score: 0.94 },
        { key: 'b', name: 'b', type: 't', score: 0.97 },
      ],
      settings,
    );
    assert.deepEqual(d, { kind: 'same', key: 'b', stage: 'vector', score: 0.97 });
  });
  it('the grey zone is new without a confirmer, and asks one when there is', async () => {
    const grey = [{ key: 'a', name: 'a', type: 't', score: 0.9 }];
    assert.deepEqual(await decide(name('x'), grey, settings), { kind: 'new' });
    const asked: string[] = [];
    const yes = {
      confirm: async (_n: NameToResolve, c: { key: string }) => {
        asked.push(c.key);
        return true;
      },
    };
    assert.deepEqual(await decide(name('x'), grey, settings, yes), {
      kind: 'same',
      key: 'a',
      stage: 'confirmed',
      score: 0.9,
    });
    const no = { confirm: async () => false };
    assert.deepEqual(await decide(name('x'), grey, settings, no), { kind: 'new' });
    assert.deepEqual(asked, ['a']);
  });
  it('below the grey zone, never asks', async () => {
    const never = { confirm: async () => assert.fail('asked') };
    assert.deepEqual(
      await decide(name('x'), [{ key: 'a', name: 'a', type: 't', score: 0.5 }], settings, never),
      { kind: 'new' },
    );
  });
});

describe('groupNewNames and applyResolution', () => {
  it('joins near-identical new names of one tenant, never across tenants', () => {
    const groups = groupNewNames(
      [
        { name: name('b'), vector: unit(1, 0.01) },
        { name: name('a'), vector: unit(1, 0) },
        { name: name('c'), vector: unit(0, 1) },
        { name: name('a2', 'globex'), vector: unit(1, 0) },
      ],
      0.93,
    );
    assert.deepEqual([...groups], [[tenantKey('acme', 'b'), 'a']]);
  });
  it('rewrites mentions and relations onto resolved keys', () => {
    const b = collectMentions([
      extraction({ relations: [{ source: 'Dana W', target: 'Acme', type: 'works_at', fact: 'f' }] }),
      extraction({
        chunkId: 'c'.repeat(32),
        relations: [{ source: 'Dana Whitfield', target: 'Acme', type: 'works_at', fact: 'f' }],
      }),
    ]);
    const out = applyResolution(b, new Map([[tenantKey('acme', 'dana w'), 'dana whitfield']]));
    assert.deepEqual(
      out.names.map((n) => n.key),
      ['acme', 'dana whitfield'],
    );
    assert.deepEqual(new Set(out.relations.map((r) => r.sourceKey)), new Set(['dana whitfield']));
    assert.equal(out.relations.length, 2, 'one statement per chunk');
    assert.equal(out.mentions.length, 4);
  });
});

describe('relationType', () => {
  it('normalises spelling', () => {
    assert.equal(relationType(' Works At '), 'works_at');
    assert.equal(relationType('based-in'), 'based_in');
  });
});
