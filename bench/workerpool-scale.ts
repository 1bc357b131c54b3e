/**
 * WorkerPools at scale: time from `apply` of P WorkerPools (over C MemoryClusters) to every pool
 * Ready, next to a floor measured in the same run: the very same Deployments (the operator's own
 * builder) applied by a tight server-side-apply loop and waited for until available. Then, with
 * everything converged: the Kafka admin calls one lag poll makes (batched: distinct topics and
 * groups, not pools), the writes an idle minute-fraction costs, and the operator's resident memory.
 *
 *   node bench/workerpool-scale.ts [--clusters 10] [--pools 100]
 *
 * Needs the local environment (`make devenv`).
 */
import { parseArgs } from 'node:util';
import { type MemoryCluster, memoryClusterSchema } from '../operator/api/memorycluster.ts';
import { type WorkerPool, workerPoolSchema } from '../operator/api/workerpool.ts';
import { KubeClient, type KubeObject } from '../operator/kube/client.ts';
import { Types } from '../operator/kube/resources.ts';
import { buildWorkerDeployment } from '../operator/workerpool/desired/deployment.ts';
import { ROLES } from '../runtime/contract/roles.ts';
import { SMALL_TOPICS } from '../test/operator/workerpool-fixtures.ts';
import { requireDevEnv } from '../test/support/devenv.ts';
import { createNamespace, deleteNamespace, installCrds } from '../test/support/kube.ts';
import { startOperator } from '../test/support/operator.ts';
import { deleteTopicsWithPrefix } from '../test/support/topics.ts';
import { eventually, uniqueName } from '../test/support/wait.ts';

const { values } = parseArgs({
  options: { clusters: { type: 'string', default: '10' }, pools: { type: 'string', default: '100' } },
});
const C = Number(values.clusters);
const P = Number(values.pools);
const env = requireDevEnv();
const client = new KubeClient({ kubeconfig: env.KUBECONFIG, qps: 200, burst: 400 });
const run = uniqueName('bench-wp');
const prefix = `engram.${run}`;

const clusterObject = (ns: string, i: number): KubeObject => ({
  apiVersion: 'engram.dev/v1alpha1',
  kind: 'MemoryCluster',
  metadata: { name: `c${i}`, namespace: ns, uid: `uid-c${i}` },
  spec: {
    kafka: {
      topicPrefix: `${prefix}.c${i}`,
      replicationFactor: 1,
      topics: SMALL_TOPICS,
      external: { bootstrapServers: env.KAFKA_BROKERS.split(',') },
    },
    neo4j: { external: { uri: env.NEO4J_URI, credentialsSecretRef: { name: 'neo4j' } } },
    redis: { external: { uri: env.REDIS_URL } },
  },
});
const poolObject = (ns: string, j: number): KubeObject => ({
  apiVersion: 'engram.dev/v1alpha1',
  kind: 'WorkerPool',
  metadata: { name: `p${j}`, namespace: ns, uid: `uid-p${j}` },
  spec: { clusterRef: { name: `c${j % C}` }, role: ROLES[j % ROLES.length], replicas: 1 },
});

async function inParallel<T>(items: T[], n: number, fn: (t: T) => Promise<unknown>): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: n }, async () => {
      for (let t = queue.shift(); t !== undefined; t = queue.shift()) await fn(t);
    }),
  );
}

const available = async (ns: string) =>
  (await client.list(Types.Deployment, ns)).items.filter(
    (d) => (d.status as { availableReplicas?: number } | undefined)?.availableReplicas === 1,
  ).length;

await installCrds(env);

// Floor: the operator's own Deployments, applied directly.
const floorNs = `${run}-floor`;
await createNamespace(env, floorNs);
const floorStart = performance.now();
await inParallel(
  Array.from({ length: P }, (_, j) => j),
  16,
  (j) => {
    const cluster: MemoryCluster = memoryClusterSchema.parse(clusterObject(floorNs, j % C));
    const pool: WorkerPool = workerPoolSchema.parse(poolObject(floorNs, j));
    const d = buildWorkerDeployment({ pool, cluster, replicas: 1 });
    // No owner here: the garbage collector would delete a child of a pool that does not exist.
    delete d.metadata.ownerReferences;
    return client.apply(Types.Deployment, d);
  },
);
await eventually('floor Deployments available', async () => (await available(floorNs)) === P, {
  timeoutMs: 300_000,
  intervalMs: 200,
});
const floorMs = performance.now() - floorStart;
await deleteNamespace(env, floorNs);

// The operator.
const ns = run;
await createNamespace(env, ns);
const op = await startOperator(env, [
  '--namespaces',
  ns,
  '--leader-election-namespace',
  ns,
  '--lag-poll-interval',
  '2s',
]);
try {
  await client.apply(Types.Secret, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'neo4j', namespace: ns },
    stringData: { username: env.NEO4J_USER, password: env.NEO4J_PASSWORD },
  } as KubeObject);
  for (let i = 0; i < C; i++) {
    const { uid: _, ...metadata } = clusterObject(ns, i).metadata;
    await client.apply(Types.MemoryCluster, { ...clusterObject(ns, i), metadata });
  }
  await eventually(
    'clusters with topics',
    async () =>
      (await client.list(Types.MemoryCluster, ns)).items.every((mc) =>
        (mc.status as { conditions?: Array<{ type: string; status: string }> } | undefined)?.conditions?.some(
          (c) => c.type === 'TopicsReady' && c.status === 'True',
        ),
      ),
    { timeoutMs: 120_000 },
  );
  const start = performance.now();
  await inParallel(
    Array.from({ length: P }, (_, j) => j),
    16,
    (j) => {
      const { uid: _, ...metadata } = poolObject(ns, j).metadata;
      return client.apply(Types.WorkerPool, { ...poolObject(ns, j), metadata });
    },
  );
  await eventually(
    'every pool Ready',
    async () =>
      (await client.list(Types.WorkerPool, ns)).items.filter((p) =>
        (p.status as { conditions?: Array<{ type: string; status: string }> } | undefined)?.conditions?.some(
          (c) => c.type === 'Ready' && c.status === 'True',
        ),
      ).length === P,
    { timeoutMs: 300_000, intervalMs: 200 },
  );
  const convergeMs = performance.now() - start;

  await new Promise((r) => setTimeout(r, 5000));
  const calls = async () => ({
    offsets: await op.counter('engram_operator_kafka_admin_calls_total', { verb: 'fetchTopicOffsets' }),
    groups: await op.counter('engram_operator_kafka_admin_calls_total', { verb: 'fetchOffsets' }),
    writes: await op.counter('engram_operator_kube_api_calls_total', {
      verb: /^(apply|create|patch|patch-status|patch-scale|update|update-status|delete)$/,
      resource: /^(?!leases$|events$).*/,
    }),
  });
  const before = await calls();
  const idleMs = 20_000;
  await new Promise((r) => setTimeout(r, idleMs));
  const after = await calls();
  const polls = idleMs / 2000;
  const rss = (await op.metrics()).get('engram_operator_process_resident_memory_bytes') ?? Number.NaN;
  const subjects = new Set(
    Array.from({ length: P }, (_, j) => [j % C, ROLES[j % ROLES.length]] as const)
      .filter(([, role]) => role !== 'gateway')
      .map(([c, role]) => `${c}|${role}`),
  );
  const measured = Array.from({ length: P }, (_, j) => ROLES[j % ROLES.length]).filter(
    (r) => r !== 'gateway',
  ).length;
  console.log(
    `pools=${P} clusters=${C}: converged in ${(convergeMs / 1000).toFixed(1)} s, floor ${(floorMs / 1000).toFixed(1)} s, ratio ${(convergeMs / floorMs).toFixed(2)}x`,
  );
  console.log(
    `lag poll: ${((after.offsets - before.offsets) / polls).toFixed(1)} fetchTopicOffsets and ${((after.groups - before.groups) / polls).toFixed(1)} fetchOffsets per poll ` +
      `for ${measured} measured pools (distinct topic+group pairs: ${subjects.size})`,
  );
  console.log(
    `idle ${idleMs / 1000} s: ${after.writes - before.writes} writes; operator RSS ${(rss / 2 ** 20).toFixed(0)} MiB`,
  );
} finally {
  await op.stop();
  await deleteNamespace(env, ns);
  await deleteTopicsWithPrefix(env, prefix);
  client.close();
}
