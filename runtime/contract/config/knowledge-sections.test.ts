import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRuntimeConfig, type RuntimeConfigError, runtimeEnv } from '../config.ts';
import { DEFAULT_FUNCTIONAL_RELATIONS } from './resolve.ts';

const base = { ENGRAM_CLUSTER: 'demo', ENGRAM_TOPIC_PREFIX: 'engram.demo', ENGRAM_KAFKA_BROKERS: 'k:9092' };
const parse = (env: Record<string, string>) =>
  parseRuntimeConfig({ ...base, ...env }, { role: 'ingest', hostname: 'h' });

describe('resolve and query settings', () => {
  it('defaults', () => {
    const c = parse({});
    assert.equal(c.resolve.matchThreshold, 0.92);
    assert.equal(c.resolve.greyThreshold, 0.8);
    assert.deepEqual(c.resolve.functionalRelations, DEFAULT_FUNCTIONAL_RELATIONS);
    assert.equal(c.query.hops, 2);
    assert.equal(c.query.cacheTtlSeconds, 300);
    assert.equal(c.query.gatewaySync, false);
  });

  it('refuses bad values naming the variable and the fix', () => {
    const refused = (env: Record<string, string>, pattern: RegExp) =>
      assert.throws(
        () => parse(env),
        (e: RuntimeConfigError) => pattern.test(e.message),
      );
    refused({ ENGRAM_RESOLVE_MATCH_THRESHOLD: '1.5' }, /ENGRAM_RESOLVE_MATCH_THRESHOLD.*Fix: set/);
    refused(
      { ENGRAM_RESOLVE_MATCH_THRESHOLD: '0.7' },
      /ENGRAM_RESOLVE_GREY_THRESHOLD \(0.8\) exceeds ENGRAM_RESOLVE_MATCH_THRESHOLD \(0.7\)/,
    );
    refused({ ENGRAM_QUERY_HOPS: '3' }, /ENGRAM_QUERY_HOPS/);
    refused(
      {
        ENGRAM_QUERY_WEIGHT_SIMILARITY: '0',
        ENGRAM_QUERY_WEIGHT_RECENCY: '0',
        ENGRAM_QUERY_WEIGHT_IMPORTANCE: '0',
      },
      /all 0/,
    );
    refused({ ENGRAM_RESOLVE_FUNCTIONAL_RELATIONS: 'works at' }, /expected relation types/);
  });

  it('the operator side writes what it overrides, and the runtime parses it back', () => {
    const env = runtimeEnv({
      role: 'resolve',
      cluster: 'demo',
      topicPrefix: 'engram.demo',
      kafka: { brokers: ['k:9092'] },
      resolve: { matchThreshold: 0.95, functionalRelations: ['works_at'] },
      query: { hops: 1 },
    });
    const asEnv = Object.fromEntries(env.map((e) => [e.name, e.value ?? '']));
    assert.equal(asEnv['ENGRAM_RESOLVE_MATCH_THRESHOLD'], '0.95');
    assert.equal(asEnv['ENGRAM_RESOLVE_FUNCTIONAL_RELATIONS'], 'works_at');
    const c = parse(Object.fromEntries(Object.entries(asEnv).filter(([k]) => k !== 'ENGRAM_ROLE')));
    assert.equal(c.resolve.matchThreshold, 0.95);
    assert.deepEqual(c.resolve.functionalRelations, ['works_at']);
    assert.equal(c.query.hops, 1);
  });
});
