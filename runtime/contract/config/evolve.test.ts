import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRuntimeConfig, type RuntimeConfigError, runtimeEnv } from '../config.ts';

const base = { ENGRAM_CLUSTER: 'demo', ENGRAM_TOPIC_PREFIX: 'engram.demo', ENGRAM_KAFKA_BROKERS: 'k:9092' };
const parse = (env: Record<string, string>) =>
  parseRuntimeConfig({ ...base, ...env }, { role: 'ingest', hostname: 'h' });

describe('evolve settings', () => {
  it('defaults: hourly schedule, 30-day half-life', () => {
    assert.deepEqual(parse({}).evolve, {
      intervalMs: 3_600_000,
      halfLifeMs: 2_592_000_000,
      archiveBelow: 0.05,
      mergeSimilarity: 0.95,
      batchSize: 1000,
    });
  });

  it('refuses bad values naming the variable', () => {
    for (const [name, value] of [
      ['ENGRAM_EVOLVE_HALF_LIFE_SECONDS', '0'],
      ['ENGRAM_EVOLVE_MERGE_SIMILARITY', '1.2'],
      ['ENGRAM_EVOLVE_BATCH_SIZE', '5'],
      ['ENGRAM_EVOLVE_INTERVAL_SECONDS', '-1'],
    ] as const)
      assert.throws(
        () => parse({ [name]: value }),
        (e: RuntimeConfigError) => e.message.includes(name),
      );
  });

  it('the operator side writes what it overrides, and the runtime parses it back', () => {
    const env = runtimeEnv({
      role: 'evolve',
      cluster: 'demo',
      topicPrefix: 'engram.demo',
      kafka: { brokers: ['k:9092'] },
      evolve: { intervalMs: 600_000, halfLifeMs: 86_400_000 },
    });
    const asEnv = Object.fromEntries(env.map((e) => [e.name, e.value ?? '']));
    assert.equal(asEnv['ENGRAM_EVOLVE_INTERVAL_SECONDS'], '600');
    const c = parse(Object.fromEntries(Object.entries(asEnv).filter(([k]) => k !== 'ENGRAM_ROLE')));
    assert.equal(c.evolve.intervalMs, 600_000);
    assert.equal(c.evolve.halfLifeMs, 86_400_000);
    assert.equal(c.evolve.mergeSimilarity, 0.95);
  });
});
