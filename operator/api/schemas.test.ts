// The zod schemas as the operator uses them: the samples parse into typed objects with the schema
// defaults applied, single-field checks agree with the CEL rules they are generated with, and the
// CEL helpers quote and escape correctly.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { celField, celFormat, celString, conditionSchema } from './common.ts';
import { memoryClusterSchema, memoryClusterSpecSchema } from './memorycluster.ts';
import { tenantMemorySchema, tenantMemorySpecSchema } from './tenantmemory.ts';
import { GPU_ROLES, LAG_SCALED_ROLES, workerPoolSchema, workerPoolSpecSchema } from './workerpool.ts';

const samplesDir = join(import.meta.dirname, '..', '..', 'config', 'samples');
const byKind = {
  MemoryCluster: memoryClusterSchema,
  TenantMemory: tenantMemorySchema,
  WorkerPool: workerPoolSchema,
};

function sampleObjects(): Array<Record<string, unknown>> {
  return readdirSync(samplesDir)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => parseAllDocuments(readFileSync(join(samplesDir, f), 'utf8')).map((d) => d.toJS()));
}

describe('samples parse with the zod schemas', () => {
  const objects = sampleObjects().filter((o) => String(o['kind']) in byKind);
  it('has a sample of every kind', () => {
    assert.deepEqual([...new Set(objects.map((o) => o['kind']))].sort(), Object.keys(byKind).sort());
  });
  for (const o of objects) {
    const name = (o['metadata'] as { name: string }).name;
    it(`${o['kind']} ${name}`, () => {
      const schema = byKind[o['kind'] as keyof typeof byKind];
      const parsed = schema.safeParse(o);
      assert.ok(parsed.success, parsed.error?.message);
    });
  }

  it('applies the schema defaults an object read from the API server already has', () => {
    const mc = memoryClusterSpecSchema.parse({
      kafka: { managed: {} },
      neo4j: { managed: {} },
      redis: { managed: {} },
    });
    assert.equal(mc.topicDeletionPolicy, 'Retain');
    const tm = tenantMemorySpecSchema.parse({ clusterRef: { name: 'prod' }, tenantId: 'acme' });
    assert.equal(tm.deletionPolicy, 'Retain');
    const wp = workerPoolSpecSchema.parse({ clusterRef: { name: 'prod' }, role: 'embed', gpu: { count: 1 } });
    assert.equal(wp.replicas, 1);
    assert.equal(wp.gpu?.resourceName, 'nvidia.com/gpu');
  });
});

describe('single-field checks agree with their CEL rules', () => {
  const tm = (tenantId: string) =>
    tenantMemorySpecSchema.safeParse({ clusterRef: { name: 'prod' }, tenantId }).success;
  it('tenantId is a DNS label of at most 48 characters', () => {
    assert.equal(tm('acme'), true);
    assert.equal(tm('acme-2'), true);
    assert.equal(tm('ACME'), false);
    assert.equal(tm('acme_corp'), false);
    assert.equal(tm('-acme'), false);
    assert.equal(tm('a'.repeat(48)), true);
    assert.equal(tm('a'.repeat(49)), false);
  });

  it('durations, bootstrap servers and topic prefixes', () => {
    const kafka = (k: unknown) =>
      memoryClusterSpecSchema.safeParse({ kafka: k, neo4j: { managed: {} }, redis: { managed: {} } }).success;
    assert.equal(kafka({ external: { bootstrapServers: ['kafka-0.kafka:9092', '[::1]:9092'] } }), true);
    assert.equal(kafka({ external: { bootstrapServers: ['kafka://kafka-0:9092'] } }), false);
    assert.equal(kafka({ external: { bootstrapServers: ['kafka-0'] } }), false);
    assert.equal(kafka({ managed: {}, topicPrefix: 'engram.prod_1-a' }), true);
    assert.equal(kafka({ managed: {}, topicPrefix: 'engram/prod' }), false);
    assert.equal(kafka({ managed: {}, topics: { dlq: { retention: '720h' } } }), true);
    assert.equal(kafka({ managed: {}, topics: { dlq: { retention: '30d' } } }), false);
  });

  it('conditions follow metav1.Condition', () => {
    const ok = {
      type: 'Ready',
      status: 'True',
      lastTransitionTime: '2026-01-01T00:00:00Z',
      reason: 'Reconciled',
      message: '',
    };
    assert.equal(conditionSchema.safeParse(ok).success, true);
    assert.equal(conditionSchema.safeParse({ ...ok, status: 'Yes' }).success, false);
    assert.equal(conditionSchema.safeParse({ ...ok, reason: 'not camel case' }).success, false);
    assert.equal(conditionSchema.safeParse({ ...ok, lastTransitionTime: 'yesterday' }).success, false);
  });
});

describe('roles from the runtime contract', () => {
  it('gives GPUs to roles that load the model and lag autoscaling to roles that consume', () => {
    assert.ok(GPU_ROLES.includes('embed'));
    assert.ok(!GPU_ROLES.includes('gateway'));
    assert.ok(!LAG_SCALED_ROLES.includes('gateway'));
    assert.ok(LAG_SCALED_ROLES.includes('extract'));
  });
});

describe('CEL helpers', () => {
  it('quotes strings and escapes field names the way Kubernetes exposes them', () => {
    assert.equal(celString("it's a \\ test"), "'it\\'s a \\\\ test'");
    assert.equal(celField('ingest.raw'), 'ingest__dot__raw');
    assert.equal(celField('max-size'), 'max__dash__size');
    assert.equal(celField('a__b'), 'a__underscores__b');
    assert.equal(celFormat('was %d, now %d', 'oldSelf', 'self'), "'was %d, now %d'.format([oldSelf, self])");
  });
});
