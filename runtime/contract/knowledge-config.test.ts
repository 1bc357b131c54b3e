import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RuntimeConfigError } from './config.ts';
import {
  DEFAULT_FUNCTIONAL_RELATIONS,
  knowledgeEnv,
  parseQuerySettings,
  parseResolveSettings,
} from './knowledge-config.ts';

describe('knowledge settings', () => {
  it('defaults', () => {
    const r = parseResolveSettings({});
    assert.equal(r.matchThreshold, 0.92);
    assert.equal(r.greyThreshold, 0.8);
    assert.deepEqual(r.functionalRelations, DEFAULT_FUNCTIONAL_RELATIONS);
    const q = parseQuerySettings({ ENGRAM_QUERY_HOPS: '' });
    assert.equal(q.hops, 2);
    assert.equal(q.cacheTtlSeconds, 300);
  });

  it('refuses bad values naming the variable and the fix', () => {
    assert.throws(
      () => parseResolveSettings({ ENGRAM_RESOLVE_MATCH_THRESHOLD: '1.5' }),
      (e: RuntimeConfigError) => /ENGRAM_RESOLVE_MATCH_THRESHOLD \(got "1.5"\).*Fix: set/.test(e.message),
    );
    assert.throws(
      () => parseResolveSettings({ ENGRAM_RESOLVE_MATCH_THRESHOLD: '0.7' }),
      /ENGRAM_RESOLVE_GREY_THRESHOLD \(0.8\) exceeds ENGRAM_RESOLVE_MATCH_THRESHOLD \(0.7\)/,
    );
    assert.throws(() => parseQuerySettings({ ENGRAM_QUERY_HOPS: '3' }), /ENGRAM_QUERY_HOPS/);
    assert.throws(
      () =>
        parseQuerySettings({
          ENGRAM_QUERY_WEIGHT_SIMILARITY: '0',
          ENGRAM_QUERY_WEIGHT_RECENCY: '0',
          ENGRAM_QUERY_WEIGHT_IMPORTANCE: '0',
        }),
      /all 0/,
    );
    assert.throws(
      () => parseResolveSettings({ ENGRAM_RESOLVE_FUNCTIONAL_RELATIONS: 'works at' }),
      /expected relation types/,
    );
  });

  it('the operator side emits what it overrides, and the runtime parses it back', () => {
    const env = knowledgeEnv({
      resolve: { matchThreshold: 0.95, functionalRelations: ['works_at'] },
      query: { hops: 1 },
    });
    assert.deepEqual(env, [
      { name: 'ENGRAM_QUERY_HOPS', value: '1' },
      { name: 'ENGRAM_RESOLVE_FUNCTIONAL_RELATIONS', value: 'works_at' },
      { name: 'ENGRAM_RESOLVE_MATCH_THRESHOLD', value: '0.95' },
    ]);
    const asEnv = Object.fromEntries(env.map((e) => [e.name, e.value]));
    assert.equal(parseResolveSettings(asEnv).matchThreshold, 0.95);
    assert.equal(parseQuerySettings(asEnv).hops, 1);
  });
});
