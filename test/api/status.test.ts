// Status through the status subresource: a status with every field set round-trips unchanged (no
// field silently pruned), conditions merge per type under server-side apply, kubectl get shows the
// printer columns, /scale serves the HPA, and field selectors find pools and tenants by cluster.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Condition } from '../../operator/api/common.ts';
import { effectiveTopics } from '../../operator/api/defaults.ts';
import { type MemoryClusterStatus, memoryClusterSpecSchema } from '../../operator/api/memorycluster.ts';
import type { TenantMemoryStatus } from '../../operator/api/tenantmemory.ts';
import {
  API_VERSION,
  GROUP,
  MEMORY_CLUSTER_CONDITIONS,
  TENANT_MEMORY_CONDITIONS,
  VERSION,
  WORKER_POOL_CONDITIONS,
} from '../../operator/api/wellknown.ts';
import type { WorkerPoolStatus } from '../../operator/api/workerpool.ts';
import { TOPIC_KEYS } from '../../runtime/contract/topics.ts';
import {
  apiTestEnv,
  committedCrds,
  installCrds,
  mustKubectl,
  rawApply,
  samplesDir,
  testNamespace,
} from './support.ts';

type Schema = { [key: string]: unknown };

/** Schema paths the value leaves unset: a status fixture must exercise every field. */
function uncoveredPaths(schema: Schema, value: unknown, path: string): string[] {
  if (value === undefined) return [path];
  const props = schema['properties'] as Record<string, Schema> | undefined;
  if (props) {
    return Object.entries(props).flatMap(([k, s]) =>
      uncoveredPaths(s, (value as Record<string, unknown>)[k], `${path}.${k}`),
    );
  }
  const items = schema['items'] as Schema | undefined;
  if (items) {
    const list = value as unknown[];
    if (list.length === 0) return [`${path}[]`];
    // Every item field must be set in at least one item.
    const perItem = list.map((v) => new Set(uncoveredPaths(items, v, `${path}[]`)));
    return [...perItem[0]!].filter((p) => perItem.every((s) => s.has(p)));
  }
  const extra = schema['additionalProperties'] as Schema | undefined;
  if (extra && Object.keys(value as object).length === 0) return [`${path}{}`];
  return [];
}

function statusSchema(plural: string): Schema {
  const crd = committedCrds().find((c) => c.crd.metadata.name === `${plural}.${GROUP}`)!.crd as unknown as {
    spec: { versions: Array<{ schema: { openAPIV3Schema: { properties: { status: Schema } } } }> };
  };
  return crd.spec.versions[0]!.schema.openAPIV3Schema.properties.status;
}

const at = '2026-01-02T03:04:05Z';
function conditions(types: readonly string[], generation: number): Condition[] {
  return [...types, 'Paused'].map((type) => ({
    type,
    status: ['Reconciling', 'Stalled', 'Paused'].includes(type) ? 'False' : 'True',
    observedGeneration: generation,
    lastTransitionTime: at,
    reason: type === 'Ready' ? 'Reconciled' : 'AsExpected',
    message: `${type}: everything for generation ${generation} is in place`,
  }));
}

describe('status subresource, printer columns, /scale, field selectors', () => {
  const t = apiTestEnv();
  let ns: Awaited<ReturnType<typeof testNamespace>>;
  const path = (plural: string, name: string) =>
    `/apis/${GROUP}/${VERSION}/namespaces/${ns.name}/${plural}/${name}`;

  before(async () => {
    await installCrds(t);
    ns = await testNamespace(t, 'api-status');
    await mustKubectl(t, ['apply', '--server-side', '-n', ns.name, '-f', samplesDir]);
  });
  after(async () => {
    await ns?.remove();
  });

  const get = async (kind: string, name: string) =>
    JSON.parse(await mustKubectl(t, ['get', kind, name, '-n', ns.name, '-o', 'json']));

  it('round-trips a MemoryCluster status with every field set', async () => {
    const mc = await get('mc', 'prod');
    const spec = memoryClusterSpecSchema.parse(mc.spec);
    const status: MemoryClusterStatus = {
      observedGeneration: mc.metadata.generation,
      conditions: conditions(MEMORY_CLUSTER_CONDITIONS, mc.metadata.generation),
      topicPrefix: 'engram.prod',
      kafkaClusterId: 'MkU3OEVBNTcwNTJENDM2Qk',
      topics: effectiveTopics(spec, ns.name, 'prod').map((topic) => ({
        key: topic.key,
        name: topic.name,
        partitions: topic.partitions,
        replicationFactor: topic.replicationFactor ?? 3,
        config: topic.config,
        ownership: 'Created' as const,
        defaults: { partitions: topic.partitions, replicationFactor: 3, config: topic.config },
      })),
      endpoints: {
        kafka: 'prod-kafka-0.prod-kafka-headless:9092,prod-kafka-1.prod-kafka-headless:9092',
        bolt: 'neo4j://prod-neo4j:7687',
        redis: 'redis://prod-redis:6379',
        gateway: 'http://prod-gateway:8080',
      },
      credentials: { neo4jSecretName: 'prod-neo4j-credentials', redisSecretName: 'prod-redis-credentials' },
      tenants: 2,
      workers: { pools: 2, replicas: 6, readyReplicas: 5, summary: '5/6' },
      totalLag: 12_345_678_901, // above 2^32: int64 survives
    };
    assert.equal(status.topics?.length, TOPIC_KEYS.length);
    assert.ok(
      uncoveredPaths(statusSchema('memoryclusters'), {}, 'status').length > 5,
      'the coverage check bites',
    );
    assert.deepEqual(uncoveredPaths(statusSchema('memoryclusters'), status, 'status'), []);

    await rawApply(t, `${path('memoryclusters', 'prod')}/status`, {
      apiVersion: API_VERSION,
      kind: 'MemoryCluster',
      metadata: { name: 'prod' },
      status,
    });
    const back = await get('mc', 'prod');
    assert.deepEqual(back.status, status);
    assert.equal(back.metadata.generation, mc.metadata.generation, 'a status write does not bump generation');
  });

  it('merges conditions per type: another field manager updates Ready without erasing the rest', async () => {
    const before = await get('mc', 'prod');
    const ready = { ...before.status.conditions.find((c: Condition) => c.type === 'Ready'), status: 'False' };
    ready.reason = 'TopicsNotReady';
    ready.message = 'topic engram.prod.dlq: partitions cannot decrease (was 8, now 4)';
    await rawApply(
      t,
      `${path('memoryclusters', 'prod')}/status`,
      {
        apiVersion: API_VERSION,
        kind: 'MemoryCluster',
        metadata: { name: 'prod' },
        status: { conditions: [ready] },
      },
      'engram-api-tests-other',
    );
    const after = await get('mc', 'prod');
    assert.equal(after.status.conditions.length, before.status.conditions.length);
    assert.equal(after.status.conditions.find((c: Condition) => c.type === 'Ready').reason, 'TopicsNotReady');
    assert.equal(after.status.conditions.find((c: Condition) => c.type === 'TopicsReady').status, 'True');
  });

  it('round-trips TenantMemory and WorkerPool statuses with every field set', async () => {
    const tm = await get('tm', 'acme');
    const tmStatus: TenantMemoryStatus = {
      observedGeneration: tm.metadata.generation,
      conditions: conditions(TENANT_MEMORY_CONDITIONS, tm.metadata.generation),
      credentialsSecretName: 'acme-api-key',
      redisUser: 'engram-prod-acme',
      redisKeyPrefix: 'engram:prod:t:acme:',
      neo4jDatabase: 'neo4j',
      topics: ['engram.prod.tenant.acme.ingest.raw'],
      usage: { documents: 1_000_000, nodes: 5_000_000_000, relationships: 7, observedAt: at },
    };
    assert.deepEqual(uncoveredPaths(statusSchema('tenantmemories'), tmStatus, 'status'), []);
    await rawApply(t, `${path('tenantmemories', 'acme')}/status`, {
      apiVersion: API_VERSION,
      kind: 'TenantMemory',
      metadata: { name: 'acme' },
      status: tmStatus,
    });
    assert.deepEqual((await get('tm', 'acme')).status, tmStatus);

    for (const name of ['prod-embed', 'prod-query']) {
      const wp = await get('wp', name);
      const wpStatus: WorkerPoolStatus = {
        observedGeneration: wp.metadata.generation,
        conditions: conditions(WORKER_POOL_CONDITIONS, wp.metadata.generation),
        replicas: 3,
        readyReplicas: 2,
        selector: `engram.dev/cluster=prod,engram.dev/worker-pool=${name}`,
        consumerGroup: `engram.prod.${wp.spec.role}`,
        topics: [`engram.prod.${wp.spec.role === 'embed' ? 'ingest.embed' : 'query.pending'}`],
        lag: 4_321,
        partitions: 16,
        stuckPartitions: 1,
        lagObservedAt: '2026-12-03T06:00:00.000Z',
        horizontalPodAutoscalerName: name,
        maxReplicas: 16,
      };
      assert.deepEqual(uncoveredPaths(statusSchema('workerpools'), wpStatus, 'status'), []);
      await rawApply(t, `${path('workerpools', name)}/status`, {
        apiVersion: API_VERSION,
        kind: 'WorkerPool',
        metadata: { name },
        status: wpStatus,
      });
      assert.deepEqual((await get('wp', name)).status, wpStatus);
    }
  });

  it('refuses a status the schema does not allow (status is validated too)', async () => {
    const r = await t.kubectl(
      [
        'apply',
        '--server-side',
        '--subresource=status',
        '--field-manager=engram-api-tests',
        '-n',
        ns.name,
        '-f',
        '-',
      ],
      JSON.stringify({
        apiVersion: API_VERSION,
        kind: 'WorkerPool',
        metadata: { name: 'prod-query' },
        status: {
          conditions: [{ type: 'Ready', status: 'Maybe', lastTransitionTime: at, reason: 'x', message: '' }],
        },
      }),
    );
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Unsupported value: "Maybe"/);
  });

  it('shows the printer columns in kubectl get mc,tm,wp', async () => {
    const out = await mustKubectl(t, ['get', 'mc,tm,wp', '-n', ns.name]);
    const tables = out.trim().split(/\n\s*\n/);
    const header = (prefix: string) =>
      tables
        .find((tb) => tb.includes(prefix))!
        .split('\n')[0]!
        .split(/\s+/);
    assert.deepEqual(header('memorycluster.engram.dev/prod'), [
      'NAME',
      'READY',
      'REASON',
      'TENANTS',
      'WORKERS',
      'LAG',
      'AGE',
    ]);
    assert.deepEqual(header('tenantmemory.engram.dev/acme'), ['NAME', 'CLUSTER', 'TENANT', 'READY', 'AGE']);
    assert.deepEqual(header('workerpool.engram.dev/prod-query'), [
      'NAME',
      'CLUSTER',
      'ROLE',
      'REPLICAS',
      'READY',
      'LAG',
      'AGE',
    ]);
    const row = (name: string) =>
      out
        .split('\n')
        .find((l) => l.startsWith(`${name} `))!
        .split(/\s+/);
    assert.deepEqual(row('memorycluster.engram.dev/prod').slice(1, 6), [
      'False',
      'TopicsNotReady',
      '2',
      '5/6',
      '12345678901',
    ]);
    assert.deepEqual(row('tenantmemory.engram.dev/acme').slice(1, 4), ['prod', 'acme', 'True']);
    assert.deepEqual(row('workerpool.engram.dev/prod-query').slice(1, 6), [
      'prod',
      'query',
      '3',
      '2',
      '4321',
    ]);
    const wide = await mustKubectl(t, ['get', 'mc', 'prod', '-n', ns.name, '-o', 'wide']);
    assert.match(wide, /MESSAGE/);
    assert.match(wide, /partitions cannot decrease \(was 8, now 4\)/);
  });

  it('serves /scale on WorkerPool for kubectl scale and the HPA', async () => {
    await mustKubectl(t, ['scale', 'wp/prod-query', '--replicas=5', '-n', ns.name]);
    assert.equal((await get('wp', 'prod-query')).spec.replicas, 5);
    const scale = JSON.parse(
      await mustKubectl(t, ['get', '--raw', `${path('workerpools', 'prod-query')}/scale`]),
    );
    assert.equal(scale.kind, 'Scale');
    assert.equal(scale.spec.replicas, 5);
    assert.equal(scale.status.replicas, 3);
    assert.equal(scale.status.selector, 'engram.dev/cluster=prod,engram.dev/worker-pool=prod-query');
  });

  it('selects tenants and pools by cluster and role with field selectors', async () => {
    const names = async (args: string[]) =>
      (await mustKubectl(t, ['get', ...args, '-n', ns.name, '-o', 'name']))
        .trim()
        .split('\n')
        .filter(Boolean)
        .sort();
    assert.deepEqual(await names(['tm', '--field-selector', 'spec.clusterRef.name=prod']), [
      'tenantmemory.engram.dev/acme',
    ]);
    assert.deepEqual(await names(['tm', '--field-selector', 'spec.clusterRef.name=other']), []);
    assert.deepEqual(await names(['wp', '--field-selector', 'spec.clusterRef.name=prod']), [
      'workerpool.engram.dev/prod-embed',
      'workerpool.engram.dev/prod-query',
    ]);
    // Every sample is applied here (the demo's cluster `local` has an embed pool too).
    assert.deepEqual(await names(['wp', '--field-selector', 'spec.role=embed,spec.clusterRef.name=prod']), [
      'workerpool.engram.dev/prod-embed',
    ]);
    assert.deepEqual(
      await names(['wp', '--field-selector', 'spec.role=embed,spec.clusterRef.name=nowhere']),
      [],
    );
  });
});
