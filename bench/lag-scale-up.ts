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
import { requireDevEnv } from '../test/support/devenv.ts';
import { produceMessages, startLagScenario } from '../test/support/external-metrics.ts';
import { kubeClient } from '../test/support/kube.ts';
import { eventually } from '../test/support/wait.ts';

// kafkajs 2.2.4 schedules a negative timeout on Node >= 24 (harmless).
process.removeAllListeners('warning');
const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
const ROUNDS = Number(values.rounds);
const TARGET = 10;

const env = requireDevEnv();
const client = kubeClient(env);
/** When the HPA controller read the metric, and what it got. */
const reads: { at: number; value: number }[] = [];
const world = await startLagScenario(env, client, {
  prefix: 'bench-lag',
  partitions: 3,
  pollMs: 100,
  onRead: (_ns, value) => reads.push({ at: Date.now(), value }),
});
/** The HPA sync period: the median interval between its reads of the metric. */
const syncPeriod = () => {
  const gaps = reads.slice(1).map((x, i) => x.at - reads[i]!.at);
  return [...gaps].sort((a, b) => a - b)[Math.floor(gaps.length / 2)] ?? Number.NaN;
};

try {
  await world.scalePool({
    target: TARGET,
    scaleDownPodsPerPeriod: world.partitions,
    scaleDownPeriodSeconds: 1,
  });
  console.log(
    `lag spike -> scale up: ${ROUNDS} rounds, target ${TARGET} messages per replica, ${world.partitions} partitions`,
  );
  const latencies: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    await world.lag.drain();
    const drained = Date.now();
    // Start from rest: one replica, and the HPA has seen the drained lag.
    await eventually(
      'the HPA at 1 replica on a drained lag',
      async () => (await world.replicas()) === 1 && reads.some((x) => x.at > drained && x.value === 0),
      { timeoutMs: 60_000 },
    );
    // A spike lands at a random phase of the HPA's sync loop, not right after a read.
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 5000));
    await produceMessages(env, world.topic, 4 * TARGET + 5);
    const crossed = await eventually('the lag crossing the target', async () =>
      (await world.lag.poll()).total > TARGET ? Date.now() : undefined,
    );
    const scaled = await eventually(
      'replicas increasing',
      async () => ((await world.replicas()) > 1 ? Date.now() : undefined),
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
  await world.close();
  client.close();
}
