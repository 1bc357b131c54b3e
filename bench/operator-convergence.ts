/**
 * Operator convergence benchmark: time from `apply` of N MemoryClusters to every child object and
 * every topic existing, next to a floor measured in the same run: the very same objects applied
 * by a tight server-side-apply loop plus one batched CreateTopics call. Both clocks stop when the
 * same poll (list the children, list the topics, every 20 ms) sees everything.
 *
 *   node bench/operator-convergence.ts [--clusters 5] [--rounds 3]
 *
 * Needs the local environment (`make devenv`). Prints one line per round and the median ratio.
 * The operator runs with its defaults (16 concurrent reconciles); `--log-level debug` logs each
 * reconcile's phases (children, credentials, topics, total) for a profile.
 */
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { effectiveTopics } from '../operator/api/defaults.ts';
import type { MemoryCluster } from '../operator/api/memorycluster.ts';
import { KubeClient, type KubeObject } from '../operator/kube/client.ts';
import { Types } from '../operator/kube/resources.ts';
import { buildNeo4jChildren } from '../operator/memorycluster/desired/neo4j.ts';
import { buildRedisChildren } from '../operator/memorycluster/desired/redis.ts';
import { buildGeneratedCredentials } from '../operator/memorycluster/desired/store.ts';
import { requireDevEnv } from '../test/support/devenv.ts';
import { installCrds } from '../test/support/kube.ts';
import { startOperator } from '../test/support/operator.ts';

const { values } = parseArgs({
  options: {
    clusters: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    profile: { type: 'boolean', default: false },
  },
});
const N = Number(values.clusters);
const ROUNDS = Number(values.rounds);
const env = requireDevEnv();
const client = new KubeClient({ kubeconfig: env.KUBECONFIG });
const kafka = new Kafka({
  clientId: 'engram-bench',
  brokers: env.KAFKA_BROKERS.split(','),
  logLevel: logLevel.NOTHING,
});
const admin = kafka.admin();

function clusterObject(ns: string, i: number, prefix: string): KubeObject {
  return {
    apiVersion: 'engram.dev/v1alpha1',
    kind: 'MemoryCluster',
    metadata: { name: `c${i}`, namespace: ns },
    spec: {
      kafka: {
        topicPrefix: `${prefix}.c${i}`,
        replicationFactor: 1,
        topics: { 'ingest.raw': { partitions: 8 }, 'query.pending': { partitions: 8 } },
        external: { bootstrapServers: env.KAFKA_BROKERS.split(',') },
      },
      neo4j: { managed: {} },
      redis: { managed: {} },
    },
  };
}

/** Every child the operator makes for one cluster (stores, generated credentials). */
function childrenOf(mc: MemoryCluster): KubeObject[] {
  return [
    ...buildNeo4jChildren(mc, mc.spec.neo4j.managed!, { operatorNamespace: 'engram-system' }),
    ...buildRedisChildren(mc, mc.spec.redis.managed!, { operatorNamespace: 'engram-system' }),
    buildGeneratedCredentials(mc, 'neo4j', 'bench-password-0000'),
    buildGeneratedCredentials(mc, 'redis', 'bench-password-0000'),
  ];
}

/** The kinds of object a MemoryCluster owns (its credentials Secrets among them). */
const CHILD_TYPES = [
  Types.StatefulSet,
  Types.Service,
  Types.ConfigMap,
  Types.Secret,
  Types.PodDisruptionBudget,
  Types.NetworkPolicy,
] as const;

async function countChildren(ns: string): Promise<number> {
  const counts = await Promise.all(
    CHILD_TYPES.map(
      async (t) =>
        (await client.list(t, ns, { labelSelector: 'app.kubernetes.io/managed-by=engram-operator' })).items
          .length,
    ),
  );
  return counts.reduce((a, b) => a + b, 0);
}

async function topicCount(prefix: string): Promise<number> {
  return (await admin.listTopics()).filter((t) => t.startsWith(`${prefix}.`)).length;
}

async function namespace(name: string): Promise<void> {
  await client.create(Types.Namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
}

async function cleanup(ns: string, prefix: string): Promise<void> {
  await client.delete(Types.Namespace, undefined, ns);
  const names = (await admin.listTopics()).filter((t) => t.startsWith(`${prefix}.`));
  if (names.length) await admin.deleteTopics({ topics: names });
}

/** Floor: the same objects by a tight SSA loop (4 in flight, as the operator's workers) + one CreateTopics. */
async function floor(round: number): Promise<{ ms: number; objects: number; topics: number }> {
  const ns = `bench-floor-${Date.now().toString(36)}-${round}`;
  const prefix = `bench.${ns}`;
  await namespace(ns);
  const clusters: MemoryCluster[] = [];
  for (let i = 0; i < N; i++)
    clusters.push(
      (await client.create(Types.MemoryCluster, clusterObject(ns, i, prefix))) as unknown as MemoryCluster,
    );
  const objects = clusters.flatMap(childrenOf);
  const topics = clusters.flatMap((mc) => effectiveTopics(mc.spec, ns, mc.metadata.name));
  const started = performance.now();
  const queue = [...objects];
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let o = queue.shift(); o; o = queue.shift())
        await client.apply(CHILD_TYPES.find((t) => t.kind === o.kind)!, o);
    }),
  );
  // The broker may answer UNKNOWN_TOPIC_OR_PARTITION while it settles the new topics (as the
  // operator waits it out too): try again; an already created topic is then simply there.
  for (let attempt = 0; ; attempt++) {
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: topics.map((t) => ({
          topic: t.name,
          numPartitions: t.partitions,
          replicationFactor: t.replicationFactor ?? 1,
          configEntries: Object.entries(t.config).map(([name, value]) => ({ name, value })),
        })),
      });
      break;
    } catch (err) {
      if ((err as { type?: string }).type !== 'UNKNOWN_TOPIC_OR_PARTITION' || attempt > 20) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  // Done when the same poll that times the operator sees every object and topic: a fresh metadata
  // read can lag the broker's own creation by a moment, and the operator's time includes that lag.
  let listed = 0;
  for (let i = 0; i < 500; i++) {
    const [objectsSeen, topicsSeen] = await Promise.all([countChildren(ns), topicCount(prefix)]);
    listed = topicsSeen;
    if (objectsSeen >= objects.length && topicsSeen >= topics.length) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const ms = performance.now() - started;
  const result = { ms, objects: await countChildren(ns), topics: listed };
  await cleanup(ns, prefix);
  return result;
}

/** The operator: apply N MemoryClusters, wait until every child and topic exists. */
async function operator(round: number, expectObjects: number, expectTopics: number): Promise<number> {
  const ns = `bench-op-${Date.now().toString(36)}-${round}`;
  const prefix = `bench.${ns}`;
  await namespace(ns);
  const level = values.profile ? 'debug' : 'warn';
  const op = await startOperator(env, ['--namespaces', ns, '--no-leader-elect', '--log-level', level]);
  try {
    const started = performance.now();
    const startedAt = Date.now();
    await Promise.all(
      Array.from({ length: N }, (_, i) => client.apply(Types.MemoryCluster, clusterObject(ns, i, prefix))),
    );
    for (;;) {
      const [objects, topics] = await Promise.all([countChildren(ns), topicCount(prefix)]);
      if (objects >= expectObjects && topics >= expectTopics) break;
      if (performance.now() - started > 120_000)
        throw new Error(`no convergence: ${objects} objects, ${topics} topics`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const took = performance.now() - started;
    if (values.profile) profile(op.logs, startedAt);
    return took;
  } finally {
    await op.stop();
    await cleanup(ns, prefix);
  }
}

/** Each reconcile's phases, as offsets from the apply: where the operator's time goes. */
function profile(logs: readonly string[], startedAt: number): void {
  for (const line of logs) {
    let entry: { msg?: string; ts?: string; memorycluster?: string; ms?: Record<string, number> };
    try {
      entry = JSON.parse(line);
    } catch {
      continue;
    }
    if (entry.msg !== 'reconciled' || !entry.ts || !entry.ms) continue;
    const end = Date.parse(entry.ts) - startedAt;
    const begin = end - (entry.ms.total ?? 0);
    const phases = Object.entries(entry.ms)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    console.log(`  ${entry.memorycluster}: ${begin}..${end} ms after apply (${phases})`);
  }
}

await installCrds(env);
await admin.connect();
const ratios: number[] = [];
console.log(`operator convergence: ${N} MemoryClusters, ${ROUNDS} rounds`);
for (let r = 0; r < ROUNDS; r++) {
  const f = await floor(r);
  const o = await operator(r, f.objects, f.topics);
  ratios.push(o / f.ms);
  console.log(
    `round ${r + 1}: floor ${f.ms.toFixed(0)} ms (${f.objects} objects, ${f.topics} topics) | operator ${o.toFixed(0)} ms | ratio ${(o / f.ms).toFixed(2)}`,
  );
}
ratios.sort((a, b) => a - b);
console.log(`median ratio operator/floor: ${ratios[Math.floor(ratios.length / 2)]!.toFixed(2)}`);
await admin.disconnect();
client.close();
