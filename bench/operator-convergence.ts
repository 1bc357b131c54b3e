/**
 * Operator convergence benchmark: time from `apply` of N MemoryClusters to every child object and
 * every topic existing, next to a floor measured in the same run: the very same objects applied
 * by a tight server-side-apply loop plus one batched CreateTopics call. Both clocks stop when the
 * same poll (list the children, list the topics, every 20 ms) sees everything.
 *
 *   node bench/operator-convergence.ts [--clusters 5] [--rounds 3]
 *
 * Needs the local environment (`make devenv`). Prints one line per round and the median ratio.
 * The operator runs with its defaults (16 concurrent reconciles). The poll has a client of its
 * own, so it neither spends the floor's rate-limit tokens nor is throttled by them.
 *
 * `--profile` prints, per run, when the poll saw what; the CPU seconds each process spent inside
 * the window (API server, etcd, controller-manager, kwok, Kafka, the bench, the operator: on 2
 * cores the window is CPU-bound, so this is where the time goes); the operator's API and Kafka
 * calls; and each reconcile's phases (children, credentials, topics, total) with its topics result.
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
import { cpuSeconds, devenvPid } from './runtime/process-cpu.ts';

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
// The poll has its own client: its lists must not spend the floor's rate-limit tokens (the
// operator has its own), and its own rate must not be throttled to the floor's 50 requests/s.
const pollClient = new KubeClient({ kubeconfig: env.KUBECONFIG, qps: 10_000, burst: 10_000 });
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

/** The servers whose CPU a profile reports, next to the bench itself and the operator. */
const SERVERS = ['kube-apiserver', 'etcd', 'kube-controller-manager', 'kwok', 'kafka'] as const;
type CpuSnapshot = Map<string, number>;
function cpuSnapshot(operatorPid?: number): CpuSnapshot {
  const snap: CpuSnapshot = new Map(SERVERS.map((s) => [s, cpuSeconds(devenvPid(env, s))]));
  const own = process.cpuUsage();
  snap.set('bench', (own.user + own.system) / 1e6);
  if (operatorPid) snap.set('operator', cpuSeconds(operatorPid));
  return snap;
}
/** CPU seconds each process spent between two snapshots, as one line. */
function cpuSpent(from: CpuSnapshot, to: CpuSnapshot): string {
  let total = 0;
  const parts = [...to].map(([k, v]) => {
    const d = v - (from.get(k) ?? v);
    total += d;
    return `${k} ${d.toFixed(2)}`;
  });
  return `CPU s: ${parts.join(', ')}; total ${total.toFixed(2)}`;
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
        (await pollClient.list(t, ns, { labelSelector: 'app.kubernetes.io/managed-by=engram-operator' }))
          .items.length,
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
  // The namespace's garbage collection (StatefulSets, their kwok pods) must not run during the
  // next measurement: wait until it is gone.
  for (let i = 0; i < 600 && (await client.getOrUndefined(Types.Namespace, undefined, ns)); i++)
    await new Promise((r) => setTimeout(r, 100));
}

/**
 * Polls (list the children, list the topics, every 20 ms) from `started` until every object and
 * topic is seen; resolves with the elapsed ms. Both runs poll from their clock's start, so the
 * poll's own load on the API server and the broker falls on both alike.
 */
async function converged(
  ns: string,
  prefix: string,
  expectObjects: number,
  expectTopics: number,
  started: number,
): Promise<number> {
  const seen: string[] = [];
  let last = '';
  for (;;) {
    const [objects, topics] = await Promise.all([countChildren(ns), topicCount(prefix)]);
    const now = `${objects} objects, ${topics} topics`;
    if (now !== last) seen.push(`${Math.round(performance.now() - started)} ms: ${now}`);
    last = now;
    if (objects >= expectObjects && topics >= expectTopics) {
      if (values.profile) console.log(`  seen ${seen.join(' | ')}`);
      return performance.now() - started;
    }
    if (performance.now() - started > 120_000)
      throw new Error(`no convergence: ${objects} objects, ${topics} topics`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Floor: the same objects by a tight SSA loop (4 in flight, as the operator's workers) + one
 * CreateTopics. With `protocol`, the floor also does what the operator owes by contract and the
 * plain floor skips, each once and with no waiting: its clock starts before the MemoryClusters are
 * created (the operator's does), and per cluster it reads the Kafka cluster id and the existing
 * topics (conflict detection) and claims the topic names in status before the CreateTopics (so a
 * crash cannot make its own topics look foreign), as `operator/memorycluster/topics.ts` does.
 */
async function floor(
  round: number,
  protocol = false,
): Promise<{ ms: number; objects: number; topics: number }> {
  const ns = `bench-floor-${Date.now().toString(36)}-${round}${protocol ? 'p' : ''}`;
  const prefix = `bench.${ns}`;
  await namespace(ns);
  const cpuFrom = cpuSnapshot();
  let started = performance.now();
  const clusters = (await Promise.all(
    Array.from({ length: N }, (_, i) => client.create(Types.MemoryCluster, clusterObject(ns, i, prefix))),
  )) as unknown as MemoryCluster[];
  if (!protocol) started = performance.now();
  const objects = clusters.flatMap(childrenOf);
  const topics = clusters.flatMap((mc) => effectiveTopics(mc.spec, ns, mc.metadata.name));
  const seen = converged(ns, prefix, objects.length, topics.length, started);
  const queue = [...objects];
  const claims = protocol
    ? Promise.all(
        clusters.map(async (mc) => {
          const [{ clusterId }] = await Promise.all([admin.describeCluster(), admin.listTopics()]);
          const claimed = effectiveTopics(mc.spec, ns, mc.metadata.name).map((t) => ({
            key: t.key,
            name: t.name,
            partitions: t.partitions,
            replicationFactor: t.replicationFactor ?? 1,
            ownership: 'Created',
          }));
          await client.replaceStatus(Types.MemoryCluster, {
            ...(mc as unknown as KubeObject),
            status: { kafkaClusterId: clusterId, topics: claimed },
          });
        }),
      )
    : Promise.resolve();
  await Promise.all([
    claims,
    ...Array.from({ length: 4 }, async () => {
      for (let o = queue.shift(); o; o = queue.shift())
        await client.apply(CHILD_TYPES.find((t) => t.kind === o.kind)!, o);
    }),
  ]);
  // The broker may answer UNKNOWN_TOPIC_OR_PARTITION while it settles the new topics (as the
  // operator waits it out too): try again; an already created topic is then simply there.
  for (let attempt = 0; ; attempt++) {
    try {
      await admin.createTopics({
        waitForLeaders: false,
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
  // Done when the poll sees every object and topic (a fresh metadata read can lag the broker's
  // own creation by a moment; the operator's time includes that lag too).
  const ms = await seen;
  if (values.profile)
    console.log(`  ${protocol ? 'protocol floor' : 'floor'} ${cpuSpent(cpuFrom, cpuSnapshot())}`);
  const result = { ms, objects: await countChildren(ns), topics: await topicCount(prefix) };
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
    const cpuFrom = cpuSnapshot(op.proc.pid);
    const started = performance.now();
    const startedAt = Date.now();
    const seen = converged(ns, prefix, expectObjects, expectTopics, started);
    await Promise.all(
      Array.from({ length: N }, (_, i) => client.apply(Types.MemoryCluster, clusterObject(ns, i, prefix))),
    );
    const took = await seen;
    if (values.profile) {
      console.log(`  operator ${cpuSpent(cpuFrom, cpuSnapshot(op.proc.pid))}`);
      const calls = [...(await op.metrics())]
        .filter(([k]) => /^engram_operator_(kafka_admin|kube_api)_calls/.test(k) && !k.includes('_bucket'))
        .map(([k, v]) => `${k.replace('engram_operator_', '')} ${v}`);
      console.log(`  calls until converged: ${calls.join('; ')}`);
      profile(op.logs, startedAt);
    }
    return took;
  } finally {
    await op.stop();
    await cleanup(ns, prefix);
  }
}

/** Each reconcile's phases, as offsets from the apply: where the operator's time goes. */
function profile(logs: readonly string[], startedAt: number): void {
  for (const line of logs) {
    let entry: {
      msg?: string;
      ts?: string;
      memorycluster?: string;
      topics?: string;
      ms?: Record<string, number>;
    };
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
    console.log(`  ${entry.memorycluster}: ${begin}..${end} ms after apply (${phases}; ${entry.topics})`);
  }
}

await installCrds(env);
await admin.connect();
const ratios: number[] = [];
console.log(`operator convergence: ${N} MemoryClusters, ${ROUNDS} rounds`);
const protocolRatios: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const f = await floor(r);
  const o = await operator(r, f.objects, f.topics);
  const p = await floor(r, true);
  ratios.push(o / f.ms);
  protocolRatios.push(o / p.ms);
  console.log(
    `round ${r + 1}: floor ${f.ms.toFixed(0)} ms (${f.objects} objects, ${f.topics} topics) | operator ${o.toFixed(0)} ms | ratio ${(o / f.ms).toFixed(2)} | protocol floor ${p.ms.toFixed(0)} ms, ratio ${(o / p.ms).toFixed(2)}`,
  );
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!.toFixed(2);
console.log(
  `median ratio operator/floor: ${median(ratios)}; operator/protocol floor: ${median(protocolRatios)}`,
);
await admin.disconnect();
client.close();
pollClient.close();
