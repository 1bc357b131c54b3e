// End to end: WorkerPools reconciled by the operator as a real process against the local API
// server (kwok nodes, the real controller-manager) and Kafka: Deployments the runtime can parse,
// GPU placement, /scale, the HPA that owns replicas, lag in status and the gauge, printer
// columns, the cluster's WorkersReady, and an idle world that costs no write.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { WORKER_POOL_LAG_METRIC } from '../../operator/api/external-metrics.ts';
import type { KubeObject } from '../../operator/kube/client.ts';
import { Types } from '../../operator/kube/resources.ts';
import { parseRuntimeConfig } from '../../runtime/contract/config.ts';
import { requireDevEnv } from '../support/devenv.ts';
import {
  conditionOf,
  createNamespace,
  deleteNamespace,
  installCrds,
  kubeClient,
  kubectl,
} from '../support/kube.ts';
import { type OperatorProcess, startOperator } from '../support/operator.ts';
import { deleteTopicsWithPrefix } from '../support/topics.ts';
import { eventually, uniqueName } from '../support/wait.ts';
import { applyLocalCluster, resolvePodEnv, workerContainer, workerPool } from './workerpool-fixtures.ts';

/** Write calls the operator made (everything but reads, watches, its Lease and Events). */
const writeCalls = (op: OperatorProcess) =>
  op.counter('engram_operator_kube_api_calls_total', {
    verb: /^(apply|apply-status|create|patch|patch-status|patch-scale|update|update-status|delete)$/,
    resource: /^(?!leases$|events$).*/,
  });

describe('WorkerPool reconciliation', () => {
  const env = requireDevEnv();
  const client = kubeClient(env);
  const ns = uniqueName('e2e-wp');
  const prefix = `engram.${ns}`;
  const kafka = new Kafka({
    clientId: 'engram-e2e-wp',
    brokers: env.KAFKA_BROKERS.split(','),
    logLevel: logLevel.NOTHING,
  });
  const producer = kafka.producer();
  let op: OperatorProcess;

  const pool = (name: string) => client.get(Types.WorkerPool, ns, name);
  const deployment = (name: string) =>
    eventually(`Deployment ${name}`, () => client.getOrUndefined(Types.Deployment, ns, name), {
      timeoutMs: 30_000,
    });
  const poolReady = (name: string, check: (p: KubeObject) => boolean = () => true) =>
    eventually(
      `WorkerPool ${name} Ready`,
      async () => {
        const p = await pool(name);
        const ready = conditionOf(p, 'Ready');
        return ready?.status === 'True' && ready.observedGeneration === p.metadata.generation && check(p)
          ? p
          : undefined;
      },
      { timeoutMs: 45_000 },
    );

  before(async () => {
    await installCrds(env);
    await createNamespace(env, ns);
    await producer.connect();
    op = await startOperator(env, [
      '--namespaces',
      ns,
      '--leader-election-namespace',
      ns,
      '--resync-period',
      '3s',
      '--poll-interval',
      '3s',
      '--lag-poll-interval',
      '1s',
    ]);
    await applyLocalCluster(client, env, ns, 'demo', prefix);
    await eventually(
      'the cluster topics on the broker',
      async () =>
        conditionOf(await client.get(Types.MemoryCluster, ns, 'demo'), 'TopicsReady')?.status === 'True',
      { timeoutMs: 45_000 },
    );
    await client.apply(Types.WorkerPool, workerPool(ns, 'query', { role: 'query', replicas: 2 }));
    await client.apply(
      Types.WorkerPool,
      workerPool(ns, 'gpu-embed', {
        role: 'embed',
        replicas: 2,
        resources: { requests: { cpu: '500m', memory: '512Mi' }, limits: { memory: '512Mi' } },
        gpu: {
          count: 1,
          nodeSelector: { 'nvidia.com/gpu.present': 'true' },
          tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
        },
      }),
    );
    await client.apply(
      Types.WorkerPool,
      workerPool(ns, 'ingest', {
        role: 'ingest',
        autoscaling: { minReplicas: 1, maxReplicas: 10, targetLagPerReplica: 5 },
      }),
    );
  });

  after(async () => {
    await op?.stop();
    await producer.disconnect();
    await deleteTopicsWithPrefix(env, prefix);
    await deleteNamespace(env, ns);
    client.close();
  });

  it("renders a Deployment whose env the runtime's own config parser accepts (Secrets resolved as the kubelet would)", async () => {
    const d = await deployment('gpu-embed');
    const c = workerContainer(d);
    const config = parseRuntimeConfig(await resolvePodEnv(client, ns, c), {
      role: c.args[0]!,
      hostname: 'pod',
    });
    assert.equal(config.role, 'embed');
    assert.equal(config.topicPrefix, prefix);
    assert.equal(config.consumerGroup, `${prefix}.embed`);
    assert.deepEqual(config.kafka.brokers, env.KAFKA_BROKERS.split(','));
    assert.equal(config.neo4j?.password, env.NEO4J_PASSWORD);
    assert.equal(config.model?.executionProvider, 'cuda');
    assert.ok(!JSON.stringify(d).includes(env.NEO4J_PASSWORD), 'no secret value in the Deployment');
  });

  it("places the GPU embed pool's pods only on the GPU node kwok-gpu-0", async () => {
    const pods = await eventually(
      'two scheduled gpu-embed pods',
      async () => {
        const list = await client.list(Types.Pod, ns, { labelSelector: 'engram.dev/worker-pool=gpu-embed' });
        const scheduled = list.items.filter((p) => (p.spec as { nodeName?: string }).nodeName);
        return scheduled.length === 2 ? scheduled : undefined;
      },
      { timeoutMs: 45_000 },
    );
    assert.deepEqual(
      pods.map((p) => (p.spec as { nodeName: string }).nodeName),
      ['kwok-gpu-0', 'kwok-gpu-0'],
    );
    const cpuPods = await client.list(Types.Pod, ns, { labelSelector: 'engram.dev/worker-pool=query' });
    assert.ok(cpuPods.items.every((p) => (p.spec as { nodeName?: string }).nodeName !== 'kwok-gpu-0'));
    await poolReady('gpu-embed', (p) => (p.status as { readyReplicas?: number }).readyReplicas === 2);
  });

  it('scales a fixed pool through its /scale subresource (kubectl scale wp)', async () => {
    await poolReady('query', (p) => (p.status as { replicas?: number }).replicas === 2);
    await kubectl(env, 'scale', '-n', ns, 'wp/query', '--replicas=3');
    const d = await eventually('Deployment query at 3', async () => {
      const x = await client.get(Types.Deployment, ns, 'query');
      return (x.spec as { replicas: number }).replicas === 3 ? x : undefined;
    });
    assert.ok(d);
    const scale = JSON.parse(
      await kubectl(
        env,
        'get',
        '--raw',
        `/apis/engram.dev/v1alpha1/namespaces/${ns}/workerpools/query/scale`,
      ),
    );
    assert.equal(scale.spec.replicas, 3);
    assert.equal(
      scale.status.selector,
      'app.kubernetes.io/name=engram-runtime,app.kubernetes.io/instance=query,engram.dev/worker-pool=query',
    );
    await poolReady('query', (p) => (p.status as { readyReplicas?: number }).readyReplicas === 3);
  });

  it('gives an autoscaled pool an HPA on its lag, capped at the partitions, and never applies replicas (no drift for Argo CD)', async () => {
    const hpa = await eventually('HPA ingest', () =>
      client.getOrUndefined(Types.HorizontalPodAutoscaler, ns, 'ingest'),
    );
    const spec = hpa.spec as {
      maxReplicas: number;
      minReplicas: number;
      scaleTargetRef: { kind: string; name: string };
    };
    assert.equal(spec.maxReplicas, 4, 'ingest.raw has 4 partitions');
    assert.deepEqual([spec.scaleTargetRef.kind, spec.scaleTargetRef.name], ['Deployment', 'ingest']);
    const fieldsOf = (d: KubeObject): string[] =>
      ((d.metadata.managedFields ?? []) as Array<{ manager?: string; fieldsV1?: unknown }>)
        .filter((m) => m.manager === 'engram-operator')
        .map((m) => JSON.stringify(m.fieldsV1));
    const auto = await deployment('ingest');
    assert.ok(fieldsOf(auto).length > 0);
    assert.ok(
      fieldsOf(auto).every((f) => !f.includes('"f:replicas"')),
      `the operator must not own spec.replicas of an autoscaled Deployment: ${fieldsOf(auto).join(' ')}`,
    );
    // The same check sees replicas where the operator does own them: it can fail.
    assert.ok(fieldsOf(await deployment('query')).some((f) => f.includes('"f:replicas"')));
    // AutoscalingReady tells what the HPA controller itself reports.
    const p = await eventually('AutoscalingReady decided', async () => {
      const x = await pool('ingest');
      const c = conditionOf(x, 'AutoscalingReady');
      return c && c.status !== 'Unknown' ? x : undefined;
    });
    const c = conditionOf(p, 'AutoscalingReady')!;
    if (c.status === 'False') assert.match(c.message, /HorizontalPodAutoscaler ScalingActive/);
    assert.equal((p.status as { maxReplicas?: number }).maxReplicas, 4);
    assert.ok(c.status === 'True' || c.status === 'False', JSON.stringify(c));
  });

  it('measures the lag of messages nobody consumed: status, the gauge, the cluster total', async () => {
    await producer.send({
      topic: `${prefix}.ingest.raw`,
      messages: Array.from({ length: 7 }, (_, i) => ({ key: `k${i}`, value: `{"n":${i}}` })),
    });
    const p = await eventually(
      'ingest lag 7',
      async () => {
        const x = await pool('ingest');
        return (x.status as { lag?: number }).lag === 7 ? x : undefined;
      },
      { timeoutMs: 20_000 },
    );
    const st = p.status as { partitions: number; consumerGroup: string; topics: string[] };
    assert.equal(st.partitions, 4);
    assert.equal(st.consumerGroup, `${prefix}.ingest`);
    assert.deepEqual(st.topics, [`${prefix}.ingest.raw`]);
    const samples = await op.metrics();
    assert.equal(samples.get(`${WORKER_POOL_LAG_METRIC}{namespace="${ns}",workerpool="ingest"}`), 7);
    await eventually('MemoryCluster totalLag 7', async () => {
      const mc = await client.get(Types.MemoryCluster, ns, 'demo');
      return (mc.status as { totalLag?: number }).totalLag === 7;
    });
  });

  it('says what to fix when the pool names a cluster that does not exist, and creates nothing', async () => {
    await client.apply(Types.WorkerPool, {
      ...workerPool(ns, 'orphan', { role: 'ingest' }),
      spec: { clusterRef: { name: 'nope' }, role: 'ingest' },
    });
    const p = await eventually('orphan Ready=False', async () => {
      const x = await pool('orphan');
      return conditionOf(x, 'Ready')?.status === 'False' ? x : undefined;
    });
    const ready = conditionOf(p, 'Ready')!;
    assert.equal(ready.reason, 'ClusterNotFound');
    assert.match(ready.message, /MemoryCluster nope not found .*create it or fix spec\.clusterRef\.name/);
    assert.equal(await client.getOrUndefined(Types.Deployment, ns, 'orphan'), undefined);
    await client.delete(Types.WorkerPool, ns, 'orphan');
  });

  it('shows CLUSTER, ROLE, REPLICAS, READY, LAG and AGE in kubectl get wp', async () => {
    const out = await kubectl(env, 'get', 'wp', '-n', ns);
    const [header, ...rows] = out.trim().split('\n');
    assert.deepEqual(header!.split(/\s+/), ['NAME', 'CLUSTER', 'ROLE', 'REPLICAS', 'READY', 'LAG', 'AGE']);
    const ingest = rows.find((r) => r.startsWith('ingest '))!.split(/\s+/);
    assert.deepEqual(ingest.slice(0, 6), ['ingest', 'demo', 'ingest', '1', '1', '7']);
    const query = rows.find((r) => r.startsWith('query '))!.split(/\s+/);
    assert.deepEqual(query.slice(0, 6), ['query', 'demo', 'query', '3', '3', '0']);
  });

  it('writes a changing lag to status at most once per poll (1 s), the pool and the cluster alike', async () => {
    const statusWrites = (resource: string) =>
      op.counter('engram_operator_kube_api_calls_total', { verb: 'update-status', resource });
    const pools0 = await statusWrites('workerpools');
    const clusters0 = await statusWrites('memoryclusters');
    const started = Date.now();
    for (let i = 0; i < 50; i++) {
      await producer.send({ topic: `${prefix}.ingest.raw`, messages: [{ key: `s${i}`, value: '{}' }] });
      await new Promise((r) => setTimeout(r, 80));
    }
    await new Promise((r) => setTimeout(r, 1500));
    const polls = Math.ceil((Date.now() - started) / 1000) + 1;
    const pools = (await statusWrites('workerpools')) - pools0;
    const clusters = (await statusWrites('memoryclusters')) - clusters0;
    assert.ok(pools >= 2 && pools <= polls, `${pools} pool status writes for ${polls} polls and 50 messages`);
    assert.ok(clusters <= polls, `${clusters} cluster status writes for ${polls} polls`);
    assert.equal(((await pool('ingest')).status as { lag?: number }).lag, 57);
  });

  it('makes zero writes while nothing changes (lag polls every second, resyncs every 3 s)', async () => {
    // Settle: every pool Ready or decided, the cluster's status caught up.
    await poolReady('query');
    await new Promise((r) => setTimeout(r, 4000));
    const before = await writeCalls(op);
    await new Promise((r) => setTimeout(r, 8000));
    assert.equal(await writeCalls(op), before, 'an idle world costs no write');
  });

  it("drives the cluster's WorkersReady and Ready from the pools' real state", async () => {
    const mc = await client.get(Types.MemoryCluster, ns, 'demo');
    const workers = conditionOf(mc, 'WorkersReady')!;
    const ingestReady = conditionOf(await pool('ingest'), 'Ready')!;
    if (ingestReady.status === 'False') {
      assert.equal(workers.status, 'False');
      assert.match(workers.message, /ingest/);
    }
    // Without the pool that cannot scale (no External Metrics API here, or it can), the rest is Ready.
    await client.delete(Types.WorkerPool, ns, 'ingest');
    await eventually(
      'MemoryCluster Ready with WorkersReady True',
      async () => {
        const x = await client.get(Types.MemoryCluster, ns, 'demo');
        const w = conditionOf(x, 'WorkersReady');
        return (
          w?.status === 'True' && w.reason === 'WorkersReady' && conditionOf(x, 'Ready')?.status === 'True'
        );
      },
      { timeoutMs: 30_000 },
    );
    const st = (await client.get(Types.MemoryCluster, ns, 'demo')).status as {
      workers: { pools: number; summary: string };
    };
    assert.deepEqual([st.workers.pools, st.workers.summary], [2, '5/5']);
  });
});
