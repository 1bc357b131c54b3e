// End to end: an autoscaled WorkerPool scaled by the real controller-manager's HPA controller on
// the lag the operator process itself measures and serves (External Metrics API through the real
// aggregator). Messages are produced with no consumer running; the lag drains by committing the
// pool's group. A second pool scales to zero and back (the operator's 0 <-> 1, the HPA above 1).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WORKER_POOL_LABEL, WORKER_POOL_LAG_METRIC } from '../../operator/api/external-metrics.ts';
import { Types } from '../../operator/kube/resources.ts';
import { requireDevEnv } from '../support/devenv.ts';
import { kubeClient, kubectl } from '../support/kube.ts';
import { type AutoscalingWorld, startAutoscalingWorld } from '../support/operator-autoscaling.ts';
import { eventually } from '../support/wait.ts';
import { SMALL_TOPICS, workerPool } from './workerpool-fixtures.ts';

const TARGET = 5;
const SCALE_DOWN_PERIOD_S = 5;
/** scaleToZeroAfter of the sleepy pool: it idles while the ingest pool's tests run. */
const IDLE_S = 20;
const INGEST_PARTITIONS = SMALL_TOPICS['ingest.raw'].partitions;
const EMBED_PARTITIONS = SMALL_TOPICS['ingest.embed'].partitions;

/** Every spec.replicas a Deployment had, with when it was first seen. */
class ReplicaHistory {
  readonly seen: { replicas: number; at: number }[] = [];
  readonly #timer: NodeJS.Timeout;
  constructor(read: () => Promise<number>) {
    this.#timer = setInterval(() => {
      read()
        .then((replicas) => {
          if (replicas >= 0 && this.seen.at(-1)?.replicas !== replicas)
            this.seen.push({ replicas, at: Date.now() });
        })
        .catch(() => undefined);
    }, 200);
  }
  get current(): number | undefined {
    return this.seen.at(-1)?.replicas;
  }
  max(): number {
    return Math.max(...this.seen.map((h) => h.replicas));
  }
  stop(): void {
    clearInterval(this.#timer);
  }
}

describe('WorkerPool lag autoscaling through the operator, the API server aggregator and the real HPA controller', () => {
  const env = requireDevEnv();
  const client = kubeClient(env);
  let world: AutoscalingWorld;
  let ingest: ReplicaHistory;
  let sleepy: ReplicaHistory;
  const metricPath = (pool: string) =>
    `/apis/external.metrics.k8s.io/v1beta1/namespaces/${world.namespace}/${WORKER_POOL_LAG_METRIC}?labelSelector=${encodeURIComponent(`${WORKER_POOL_LABEL}=${pool}`)}`;
  const servedLag = async (pool: string) => {
    const list = JSON.parse(await kubectl(env, 'get', '--raw', metricPath(pool)));
    return list.items[0] === undefined ? undefined : Number(list.items[0].value);
  };

  before(async () => {
    world = await startAutoscalingWorld(env, client, { prefix: 'e2e-wphpa', lagPollInterval: '1s' });
    const scaleDown = {
      stabilizationWindowSeconds: 0,
      maxReplicasPerPeriod: 1,
      periodSeconds: SCALE_DOWN_PERIOD_S,
    };
    const lagPool = (name: string, role: string, autoscaling: Record<string, unknown>) =>
      client.apply(
        Types.WorkerPool,
        workerPool(world.namespace, name, {
          role,
          autoscaling: {
            maxReplicas: 10,
            targetLagPerReplica: TARGET,
            behavior: { scaleDown },
            ...autoscaling,
          },
        }),
      );
    await lagPool('ingest', 'ingest', { minReplicas: 1 });
    await lagPool('sleepy', 'embed', { minReplicas: 0, activationLag: 3, scaleToZeroAfter: `${IDLE_S}s` });
    ingest = new ReplicaHistory(() => world.replicas('ingest'));
    sleepy = new ReplicaHistory(() => world.replicas('sleepy'));
    await world.groupLag('ingest').start(1000);
  });

  after(async () => {
    ingest?.stop();
    sleepy?.stop();
    await world?.close();
    client.close();
  });

  it('the HPA gets maxReplicas capped at the partitions and reads a lag of 0 through the API server', async () => {
    const hpa = await eventually('the ingest HPA', () =>
      client.getOrUndefined(Types.HorizontalPodAutoscaler, world.namespace, 'ingest'),
    );
    assert.equal((hpa.spec as { maxReplicas: number }).maxReplicas, INGEST_PARTITIONS, 'maxReplicas 10 > 4');
    await eventually(
      'the HPA reading a lag of 0',
      async () => {
        const h = await client.get(Types.HorizontalPodAutoscaler, world.namespace, 'ingest');
        const current = (
          h.status as { currentMetrics?: { external?: { current?: { averageValue?: string } } }[] }
        )?.currentMetrics?.[0]?.external?.current?.averageValue;
        return current === '0';
      },
      { timeoutMs: 30_000 },
    );
    assert.equal(ingest.current, 1);
  });

  it('lag produced with no consumer: the metric answers it and the HPA scales up within 30 s, never beyond 4 partitions', async () => {
    const messages = 12 * TARGET; // 12 replicas wanted: maxReplicas 10, partitions 4
    await world.produce('ingest', messages);
    const crossed = Date.now();
    await eventually('the served lag', async () => (await servedLag('ingest')) === messages, {
      timeoutMs: 15_000,
    });
    const scaled = await eventually(
      'the ingest Deployment above 1',
      async () => ingest.seen.find((h) => h.replicas > 1 && h.at >= crossed)?.at,
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    await eventually('the ingest Deployment at the partition count', async () => ingest.current === 4, {
      timeoutMs: 20_000,
    });
    console.log(
      `# lag crossed the target -> pool scaled up: ${((scaled - crossed) / 1000).toFixed(1)} s (HPA sync period 5 s)`,
    );
    assert.ok(scaled - crossed <= 30_000);
    // A few more HPA syncs at a lag wanting 12 replicas must not pass the partitions.
    await new Promise((r) => setTimeout(r, 6_000));
    assert.equal(ingest.max(), INGEST_PARTITIONS, JSON.stringify(ingest.seen));
    const pool = await client.get(Types.WorkerPool, world.namespace, 'ingest');
    const status = pool.status as { lag?: number; maxReplicas?: number };
    assert.equal(status.lag, messages);
    assert.equal(status.maxReplicas, INGEST_PARTITIONS);
  });

  it("after the pool's group commits, the HPA scales down one replica per period (the pool's behaviour) to 1", async () => {
    const from = ingest.seen.length;
    await world.groupLag('ingest').drain();
    await eventually('the served lag at 0', async () => (await servedLag('ingest')) === 0, {
      timeoutMs: 10_000,
    });
    await eventually('the ingest Deployment back at 1', async () => ingest.current === 1, {
      timeoutMs: 45_000,
    });
    const down = ingest.seen.slice(from);
    assert.deepEqual(
      down.map((h) => h.replicas),
      [3, 2, 1],
      `one replica per period: ${JSON.stringify(ingest.seen)}`,
    );
    for (let i = 1; i < down.length; i++)
      assert.ok(down[i]!.at - down[i - 1]!.at >= (SCALE_DOWN_PERIOD_S - 1) * 1000, JSON.stringify(down));
  });

  it('a pool with minReplicas 0 went to 0 when idle, comes back to 1 on the activation lag, and the HPA takes it above 1', async () => {
    await eventually('the sleepy pool at 0', async () => sleepy.current === 0, { timeoutMs: 40_000 });
    assert.ok(
      sleepy.seen.some((h) => h.replicas === 1),
      'it started at 1',
    );
    const from = sleepy.seen.length;
    const messages = 4 * TARGET; // 4 replicas wanted: partitions 2
    await world.produce('embed', messages);
    await eventually('the sleepy pool back at 1 or more', async () => (sleepy.current ?? 0) >= 1, {
      timeoutMs: 15_000,
    });
    await eventually('the sleepy pool at its partitions', async () => sleepy.current === EMBED_PARTITIONS, {
      timeoutMs: 30_000,
    });
    assert.deepEqual(
      sleepy.seen.slice(from).map((h) => h.replicas),
      [1, 2],
      `the operator's 0 -> 1, then the HPA's 1 -> 2: ${JSON.stringify(sleepy.seen)}`,
    );
    const events = await client.list(Types.Event, world.namespace);
    const reasons = events.items.map((e) => (e as unknown as { reason: string }).reason);
    assert.ok(reasons.includes('ScaledToZero') && reasons.includes('Activated'), reasons.join(','));
  });

  it('while the operator cannot read the lag, the metric has no answer (the HPA holds) and an idle pool at 1 is not scaled to zero', async () => {
    const cluster = () => client.get(Types.MemoryCluster, world.namespace, 'demo');
    const brokers = (await cluster()).spec as { kafka: { external: { bootstrapServers: string[] } } };
    const bootstrap = brokers.kafka.external.bootstrapServers;
    const setBrokers = (servers: string[]) =>
      client.mergePatch(Types.MemoryCluster, world.namespace, 'demo', {
        spec: { kafka: { external: { bootstrapServers: servers } } },
      });
    await world.groupLag('embed').drain();
    const idleFrom = Date.now();
    await eventually('the sleepy pool down to 1', async () => sleepy.current === 1, { timeoutMs: 15_000 });
    // Port 1 refuses: the operator's next lag polls fail (the test's own reading stays on the broker).
    await setBrokers(['127.0.0.1:1']);
    try {
      await eventually(
        'no served lag for the sleepy pool',
        async () => (await servedLag('sleepy')) === undefined,
        {
          timeoutMs: 15_000,
        },
      );
      assert.ok(Date.now() - idleFrom < IDLE_S * 1000, 'blind before scaleToZeroAfter ran out');
      await new Promise((r) => setTimeout(r, Math.max(0, idleFrom + (IDLE_S + 3) * 1000 - Date.now())));
      assert.equal(
        sleepy.current,
        1,
        `not scaled to zero on an unreadable lag: ${JSON.stringify(sleepy.seen)}`,
      );
    } finally {
      await setBrokers(bootstrap);
    }
    await eventually(
      'the sleepy pool at 0 once its idle lag is read again',
      async () => sleepy.current === 0,
      {
        timeoutMs: 20_000,
      },
    );
  });
});
