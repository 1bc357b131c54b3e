/**
 * Lag-spike-to-scale-up latency: the time from a pool's consumer lag crossing its HPA target to
 * the Deployment's replicas increasing, through the operator's External Metrics API, the real
 * kube-apiserver aggregator and the real controller-manager's HPA controller (kwok nodes).
 *
 *   node bench/lag-scale-up.ts [--rounds 5]
 *
 * The floor is the HPA sync period measured in the same run: the median interval between the
 * HPA controller's reads of the metric (the server sees each one). Spikes land at a random phase
 * of that loop, so ~0.5x the floor on average is the HPA's own polling; more is time lost in the
 * metric path (the lag reading, the aggregator, the scale write). Needs `make devenv` and root
 * (the metrics server's address on lo; see test/support/external-metrics.ts).
 */
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { WORKER_POOL_LAG_METRIC } from '../operator/api/external-metrics.ts';
import { Types } from '../operator/kube/resources.ts';
import { workerPoolLagSource } from '../operator/metrics-api/lag-source.ts';
import { requireDevEnv } from '../test/support/devenv.ts';
import {
  KafkaGroupLag,
  lagHpa,
  produceMessages,
  startRoutedMetricsApi,
  workDeployment,
} from '../test/support/external-metrics.ts';
import { createNamespace, deleteNamespace, kubeClient } from '../test/support/kube.ts';
import { eventually, uniqueName } from '../test/support/wait.ts';

// kafkajs 2.2.4 schedules a negative timeout on Node >= 24 (harmless).
process.removeAllListeners('warning');
const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
const ROUNDS = Number(values.rounds);
const TARGET = 10;
const PARTITIONS = 3;

const env = requireDevEnv();
const client = kubeClient(env);
const ns = uniqueName('bench-lag');
const pool = 'embed';
const topic = `engram.${ns}.chunks`;
const lag = new KafkaGroupLag(env, topic, `engram.${ns}.${pool}`);
/** When the HPA controller read the metric, and what it got. */
const reads: { at: number; value: number }[] = [];

await createNamespace(env, ns);
const admin = new Kafka({ brokers: env.KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING }).admin();
await admin.connect();
await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
await lag.start(100);
const readPool = workerPoolLagSource((namespace, name) =>
  namespace === ns && name === pool ? lag.read() : undefined,
);
const api = await startRoutedMetricsApi(env, client, {
  metricNames: [WORKER_POOL_LAG_METRIC],
  source: async (namespace, metric, selector) => {
    const items = await readPool(namespace, metric, selector);
    if (namespace === ns) reads.push({ at: Date.now(), value: Number(items[0]?.value ?? Number.NaN) });
    return items;
  },
});
const replicas = async () =>
  ((await client.get(Types.Deployment, ns, pool)).spec as { replicas: number }).replicas;

try {
  await client.create(Types.Deployment, workDeployment(ns, pool));
  await client.create(
    Types.HorizontalPodAutoscaler,
    lagHpa(ns, pool, pool, {
      target: TARGET,
      max: PARTITIONS,
      scaleDownPodsPerPeriod: PARTITIONS,
      scaleDownPeriodSeconds: 1,
    }),
  );
  console.log(
    `lag spike -> scale up: ${ROUNDS} rounds, target ${TARGET} messages per replica, ${PARTITIONS} partitions`,
  );
  const latencies: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    await lag.drain();
    const drained = Date.now();
    // Start from rest: one replica, and the HPA has seen the drained lag.
    await eventually(
      'the HPA at 1 replica on a drained lag',
      async () => (await replicas()) === 1 && reads.some((x) => x.at > drained && x.value === 0),
      { timeoutMs: 60_000 },
    );
    // A spike lands at a random phase of the HPA's sync loop, not right after a read.
    await new Promise((r) => setTimeout(r, Math.random() * 5000));
    await produceMessages(env, topic, 4 * TARGET + 5);
    const crossed = await eventually('the lag crossing the target', async () =>
      (await lag.poll()).total > TARGET ? Date.now() : undefined,
    );
    const scaled = await eventually(
      'replicas increasing',
      async () => ((await replicas()) > 1 ? Date.now() : undefined),
      { timeoutMs: 60_000, intervalMs: 50 },
    );
    latencies.push(scaled - crossed);
    const gaps = reads.slice(1).map((x, i) => x.at - reads[i]!.at);
    const floor = [...gaps].sort((a, b) => a - b)[Math.floor(gaps.length / 2)] ?? Number.NaN;
    console.log(
      `round ${r + 1}: floor (HPA sync period) ${(floor / 1000).toFixed(2)} s | lag crossed -> replicas up ${((scaled - crossed) / 1000).toFixed(2)} s | ratio ${((scaled - crossed) / floor).toFixed(2)}`,
    );
  }
  const gaps = reads.slice(1).map((x, i) => x.at - reads[i]!.at);
  const floor = [...gaps].sort((a, b) => a - b)[Math.floor(gaps.length / 2)]!;
  const sorted = [...latencies].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  console.log(
    `median ${(median / 1000).toFixed(2)} s, max ${(sorted.at(-1)! / 1000).toFixed(2)} s; median ratio latency/floor: ${(median / floor).toFixed(2)} (floor ${(floor / 1000).toFixed(2)} s, ${reads.length} HPA reads)`,
  );
} finally {
  await api.close();
  await lag.stop();
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
  await deleteNamespace(env, ns);
  client.close();
}
