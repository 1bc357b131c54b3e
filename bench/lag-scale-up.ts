/**
 * Lag-spike-to-scale-up latency: the time from a pool's consumer lag crossing its HPA target to
 * the Deployment's replicas increasing, through the operator's External Metrics API, the real
 * kube-apiserver aggregator and the real controller-manager's HPA controller (kwok nodes).
 *
 *   node bench/lag-scale-up.ts [--rounds 5]
 *   node bench/lag-scale-up.ts --workerpool [--rounds 5] [--lag-poll-interval 10s]
 *
 * Default mode: the API server in this process on a direct Kafka reading, a hand-made Deployment
 * and HPA (the metric path alone). --workerpool: the operator as a process (shipped RBAC, its own
 * lag monitor polling every --lag-poll-interval, its default 10s) reconciles an autoscaled
 * WorkerPool, and the HPA is the one the operator made: the whole product path.
 *
 * The floor is the HPA sync period measured in the same run: the median interval between the
 * HPA controller's reads of the metric (the in-process server sees each one; the operator counts
 * them in engram_operator_external_metric_reads_total). Spikes land at a random phase of that
 * loop, so ~0.5x the floor on average is the HPA's own polling; more is time lost in the metric
 * path (the lag poll, the aggregator, the scale write). Needs `make devenv` and root (the metrics
 * server's address on lo; see test/support/external-metrics.ts).
 */
import { parseArgs } from 'node:util';
import { Types } from '../operator/kube/resources.ts';
import { EXTERNAL_METRIC_READS } from '../operator/metrics-api/lag-source.ts';
import { workerPool } from '../test/operator/workerpool-fixtures.ts';
import { requireDevEnv } from '../test/support/devenv.ts';
import { type KafkaGroupLag, produceMessages, startLagScenario } from '../test/support/external-metrics.ts';
import { kubeClient } from '../test/support/kube.ts';
import { startAutoscalingWorld } from '../test/support/operator-autoscaling.ts';
import { eventually } from '../test/support/wait.ts';

// kafkajs 2.2.4 schedules a negative timeout on Node >= 24 (harmless).
process.removeAllListeners('warning');
const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    workerpool: { type: 'boolean', default: false },
    'lag-poll-interval': { type: 'string', default: '10s' },
  },
});
const ROUNDS = Number(values.rounds);
const TARGET = 10;

const env = requireDevEnv();
const client = kubeClient(env);
/** When the HPA controller read the metric. */
const reads: number[] = [];

/** What a round needs of either setup. */
interface Bench {
  description: string;
  namespace: string;
  hpa: string;
  partitions: number;
  lag: KafkaGroupLag;
  produce(count: number): Promise<void>;
  replicas(): Promise<number>;
  close(): Promise<void>;
}

async function handMade(): Promise<Bench> {
  const world = await startLagScenario(env, client, {
    prefix: 'bench-lag',
    partitions: 3,
    pollMs: 100,
    onRead: () => reads.push(Date.now()),
  });
  await world.scalePool({
    target: TARGET,
    scaleDownPodsPerPeriod: world.partitions,
    scaleDownPeriodSeconds: 1,
  });
  return {
    description: 'in-process External Metrics API on a direct Kafka reading, hand-made HPA',
    namespace: world.namespace,
    hpa: world.pool,
    partitions: world.partitions,
    lag: world.lag,
    produce: (count) => produceMessages(env, world.topic, count),
    replicas: () => world.replicas(),
    close: () => world.close(),
  };
}

async function throughOperator(): Promise<Bench> {
  const interval = values['lag-poll-interval'];
  const world = await startAutoscalingWorld(env, client, {
    prefix: 'bench-wplag',
    lagPollInterval: interval,
  });
  await client.apply(
    Types.WorkerPool,
    workerPool(world.namespace, 'ingest', {
      role: 'ingest',
      autoscaling: {
        minReplicas: 1,
        maxReplicas: 10,
        targetLagPerReplica: TARGET,
        behavior: {
          scaleDown: { stabilizationWindowSeconds: 0, maxReplicasPerPeriod: 10, periodSeconds: 1 },
        },
      },
    }),
  );
  const lag = world.groupLag('ingest');
  await lag.start(1000);
  // The operator counts the HPA's reads: each increment seen is one read (polled every 100 ms).
  let seen = 0;
  const counting = setInterval(() => {
    world.op
      .counter(EXTERNAL_METRIC_READS, { namespace: world.namespace })
      .then((n) => {
        for (; seen < n; seen++) reads.push(Date.now());
      })
      .catch(() => undefined);
  }, 100);
  return {
    description: `the operator process (lag poll every ${interval}), its WorkerPool's own HPA`,
    namespace: world.namespace,
    hpa: 'ingest',
    partitions: 4,
    lag,
    produce: (count) => world.produce('ingest', count),
    replicas: () => world.replicas('ingest'),
    close: async () => {
      clearInterval(counting);
      await world.close();
    },
  };
}

/** The HPA sync period: the median interval between its reads of the metric. */
const syncPeriod = () => {
  const gaps = reads.slice(1).map((x, i) => x - reads[i]!);
  return [...gaps].sort((a, b) => a - b)[Math.floor(gaps.length / 2)] ?? Number.NaN;
};
/** The lag the HPA last read, as it reports it. */
const hpaReading = async (b: Bench) => {
  const h = await client.get(Types.HorizontalPodAutoscaler, b.namespace, b.hpa);
  return (h.status as { currentMetrics?: { external?: { current?: { averageValue?: string } } }[] })
    ?.currentMetrics?.[0]?.external?.current?.averageValue;
};

const bench = values.workerpool ? await throughOperator() : await handMade();
try {
  console.log(
    `lag spike -> scale up: ${ROUNDS} rounds through ${bench.description}; target ${TARGET} messages per replica, ${bench.partitions} partitions`,
  );
  const latencies: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    await bench.lag.drain();
    // Start from rest: one replica, the HPA has read the drained lag, and a sync period is known.
    await eventually(
      'the HPA at 1 replica on a drained lag',
      async () => reads.length >= 2 && (await bench.replicas()) === 1 && (await hpaReading(bench)) === '0',
      { timeoutMs: 90_000 },
    );
    // A spike lands at a random phase of the HPA's sync loop, not right after a read.
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 5000));
    await bench.produce(4 * TARGET + 5);
    const crossed = await eventually('the lag crossing the target', async () =>
      (await bench.lag.poll()).total > TARGET ? Date.now() : undefined,
    );
    const scaled = await eventually(
      'replicas increasing',
      async () => ((await bench.replicas()) > 1 ? Date.now() : undefined),
      { timeoutMs: 60_000, intervalMs: 50 },
    );
    latencies.push(scaled - crossed);
    const floor = syncPeriod();
    console.log(
      `round ${r + 1}: floor (HPA sync period) ${(floor / 1000).toFixed(2)} s | lag crossed -> replicas up ${((scaled - crossed) / 1000).toFixed(2)} s | ratio ${((scaled - crossed) / floor).toFixed(2)}`,
    );
  }
  const floor = syncPeriod();
  const sorted = [...latencies].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  console.log(
    `median ${(median / 1000).toFixed(2)} s, max ${(sorted.at(-1)! / 1000).toFixed(2)} s; median ratio latency/floor: ${(median / floor).toFixed(2)} (floor ${(floor / 1000).toFixed(2)} s, ${reads.length} HPA reads)`,
  );
} finally {
  await bench.close();
  client.close();
}
