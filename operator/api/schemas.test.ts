// The zod schemas as the operator uses them: the samples parse into typed objects with the schema
// defaults applied, single-field checks agree with the CEL rules they are generated with, and the
// CEL helpers quote and escape correctly.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { openApiSchema } from '../../hack/crdgen-crd.ts';
import { TOPIC_KEYS, topicName } from '../../runtime/contract/topics.ts';
import { quantityToBytes } from '../kube/quantity.ts';
import { celField, celFormat, celString, conditionSchema } from './common.ts';
import { durationToMilliseconds } from './defaults.ts';
import { DURATION_PATTERN, durationMilliseconds, MAX_DURATION } from './durations.ts';
import { KINDS } from './kinds.ts';
import { MAX_TOPIC_PREFIX, memoryClusterSchema, memoryClusterSpecSchema } from './memorycluster.ts';
import { QUANTITY_PATTERN, SIZE_PATTERN } from './quantities.ts';
import { TENANT_ID_MAX, tenantMemorySchema, tenantMemorySpecSchema } from './tenantmemory.ts';
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
    assert.equal(kafka({ external: { bootstrapServers: ['kafka-0.kafka:9092', '10.0.0.1:65535'] } }), true);
    // kafkajs splits broker addresses at ':': an IPv6 literal cannot work.
    assert.equal(kafka({ external: { bootstrapServers: ['[::1]:9092'] } }), false);
    assert.equal(kafka({ external: { bootstrapServers: ['kafka-0:0'] } }), false);
    assert.equal(kafka({ external: { bootstrapServers: ['kafka://kafka-0:9092'] } }), false);
    assert.equal(kafka({ external: { bootstrapServers: ['kafka-0'] } }), false);
    assert.equal(kafka({ managed: {}, topicPrefix: 'engram.prod_1-a' }), true);
    assert.equal(kafka({ managed: {}, topicPrefix: 'engram/prod' }), false);
    assert.equal(kafka({ managed: {}, topics: { dlq: { retention: '720h' } } }), true);
    assert.equal(kafka({ managed: {}, topics: { dlq: { retention: '30d' } } }), false);
    assert.equal(kafka({ managed: {}, topics: { dlq: { retention: '0s' } } }), false);
    assert.equal(kafka({ managed: {}, topics: { dlq: { retention: MAX_DURATION } } }), true);
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

describe('what admission accepts, the operator can run', () => {
  const mantissas = ['0', '1', '7', '0.5', '1.25', '999999', '12345.678'];
  const suffixes = ['', 'n', 'u', 'm', 'k', 'M', 'G', 'T', 'P', 'E', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];

  it('every quantity the API admits is one the operator parses to a finite number', () => {
    for (const pattern of [QUANTITY_PATTERN, SIZE_PATTERN]) {
      const re = new RegExp(pattern);
      for (const m of mantissas)
        for (const s of suffixes) {
          const q = `${m}${s}`;
          if (!re.test(q)) continue;
          const bytes = quantityToBytes(q);
          assert.ok(Number.isFinite(bytes) && bytes >= 0, `${q} parses: ${bytes}`);
        }
    }
    for (const bad of ['2e9', '1E3', '-1', '+1', '.5', '1.', '1 Gi', '1gi'])
      assert.doesNotMatch(bad, new RegExp(QUANTITY_PATTERN), `${bad} is refused`);
  });

  it('every duration the API admits is read alike by the operator', () => {
    for (const d of ['1ms', '90s', '30m', '1h30m', '1h30m15s250ms', '168h', MAX_DURATION, '0001h']) {
      assert.match(d, new RegExp(DURATION_PATTERN));
      assert.equal(durationMilliseconds(d), durationToMilliseconds(d), d);
    }
  });

  it('the longest topic name fits in 249 characters: a dedicated topic of the longest tenant id', () => {
    const longestKey = [...TOPIC_KEYS].sort((a, b) => b.length - a.length)[0]!;
    const prefix = `${'p'.repeat(MAX_TOPIC_PREFIX)}.tenant.${'t'.repeat(TENANT_ID_MAX)}`;
    assert.equal(topicName(prefix, longestKey).length, 249);
    // The default prefix engram.<namespace (63)>.<name (40)> is within the bound.
    assert.ok(`engram.${'n'.repeat(63)}.${'c'.repeat(40)}`.length <= MAX_TOPIC_PREFIX);
  });

  it('every integer in a spec has a maximum the operator reads exactly (zod integers stop at 2^53)', () => {
    const unbounded: string[] = [];
    const walk = (node: Record<string, unknown>, path: string): void => {
      const integer = node['type'] === 'integer' || node['x-kubernetes-int-or-string'] === true;
      if (integer && !(typeof node['maximum'] === 'number' && node['maximum'] < Number.MAX_SAFE_INTEGER))
        unbounded.push(path);
      for (const [k, v] of Object.entries(
        (node['properties'] as Record<string, Record<string, unknown>>) ?? {},
      ))
        walk(v, `${path}.${k}`);
      if (node['items']) walk(node['items'] as Record<string, unknown>, `${path}[]`);
      if (typeof node['additionalProperties'] === 'object')
        walk(node['additionalProperties'] as Record<string, unknown>, `${path}{}`);
    };
    for (const kind of KINDS) {
      const root = openApiSchema(kind) as { properties: { spec: Record<string, unknown> } };
      walk(root.properties.spec, `${kind.kind}.spec`);
    }
    assert.deepEqual(unbounded, []);
  });
});
