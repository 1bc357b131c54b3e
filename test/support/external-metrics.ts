/**
 * Routing the API server's aggregator to an External Metrics API served by the test, and a
 * lag reading straight from Kafka (the test's stand-in for the WorkerPool lag monitor).
 *
 * kube-apiserver refuses loopback endpoint addresses, so the server listens on a non-loopback
 * address the test adds to `lo` (10.254.x.y from the port offset: one per environment) and
 * removes after; a network namespace would cut the in-process server off the loopback broker.
 */
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { parseAllDocuments } from 'yaml';
import { WORKER_POOL_LABEL, WORKER_POOL_LAG_METRIC } from '../../operator/api/external-metrics.ts';
import { createLogger } from '../../operator/controller/logger.ts';
import { isConflict, type KubeClient, type KubeObject } from '../../operator/kube/client.ts';
import { type ResourceType, Types } from '../../operator/kube/resources.ts';
import type { ExternalMetricsApi } from '../../operator/metrics-api/api.ts';
import { type PoolLagReading, workerPoolLagSource } from '../../operator/metrics-api/lag-source.ts';
import { startExternalMetricsApi } from '../../operator/metrics-api/start.ts';
import { type DevEnv, repoRoot } from './devenv.ts';
import { eventually, uniqueName } from './wait.ts';

const exec = promisify(execFile);

export const METRICS_SERVICE = { namespace: 'engram-system', name: 'engram-operator-external-metrics' };

/** This environment's address for the metrics server: 10.254.x.y, unique per port offset. */
export function metricsAddress(env: DevEnv): string {
  let offset = 0;
  try {
    offset = Number(
      readFileSync(join(env.ENGRAM_DEVENV_STATE ?? join(repoRoot, '.devenv'), 'port-offset'), 'utf8'),
    );
  } catch {}
  const n = offset + 1;
  return `10.254.${(n >> 8) & 255}.${n & 255}`;
}

async function ip(...args: string[]): Promise<string> {
  try {
    return (await exec('ip', args)).stdout;
  } catch (err) {
    throw new Error(
      `\`ip ${args.join(' ')}\` failed (${(err as Error).message.trim()}): the External Metrics API test adds an address to lo and needs root (CAP_NET_ADMIN)`,
    );
  }
}

export async function addLocalAddress(address: string): Promise<void> {
  if ((await ip('-o', 'addr', 'show', 'dev', 'lo')).includes(` ${address}/32 `)) return;
  await ip('addr', 'add', `${address}/32`, 'dev', 'lo');
}

export async function removeLocalAddress(address: string): Promise<void> {
  await ip('addr', 'del', `${address}/32`, 'dev', 'lo').catch(() => undefined);
}

const EndpointSlice: ResourceType = {
  group: 'discovery.k8s.io',
  version: 'v1',
  kind: 'EndpointSlice',
  plural: 'endpointslices',
  namespaced: true,
};

async function deleteSlices(client: KubeClient): Promise<void> {
  const { namespace, name } = METRICS_SERVICE;
  const slices = await client.list(EndpointSlice, namespace, {
    labelSelector: `kubernetes.io/service-name=${name}`,
  });
  for (const s of slices.items) await client.delete(EndpointSlice, namespace, s.metadata.name);
}

/** The shipped APIService (config/external-metrics/), as the installer applies it. */
export function shippedApiService(): KubeObject {
  const text = readFileSync(join(repoRoot, 'config/external-metrics/apiservice.yaml'), 'utf8');
  const docs = parseAllDocuments(text).map((d) => d.toJS() as KubeObject);
  return docs.find((d) => d.kind === 'APIService')!;
}

/**
 * The metrics Service without a selector and EndpointSlices pointing at `address:<each port>`
 * (the servers are processes of this test, not pods).
 */
export async function routeServiceTo(client: KubeClient, address: string, ...ports: number[]): Promise<void> {
  const { namespace, name } = METRICS_SERVICE;
  await ensureMetricsNamespace(client);
  await client.delete(Types.Service, namespace, name);
  await deleteSlices(client);
  await client.apply(Types.Service, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace },
    spec: { ports: [{ name: 'https', port: 443, targetPort: ports[0] }] },
  } as KubeObject);
  // EndpointSlices written directly (what the aggregator reads): mirrored Endpoints with two
  // ports of one name fail to mirror (duplicate port name), and no pod exists to select.
  for (const port of ports)
    await client.apply(EndpointSlice, {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: `${name}-${port}`,
        namespace,
        labels: {
          'kubernetes.io/service-name': name,
          'endpointslice.kubernetes.io/managed-by': 'engram-e2e',
        },
      },
      addressType: 'IPv4',
      endpoints: [{ addresses: [address], conditions: { ready: true } }],
      ports: [{ name: 'https', port, protocol: 'TCP' }],
    } as KubeObject);
}

export async function removeRoute(client: KubeClient): Promise<void> {
  const { namespace, name } = METRICS_SERVICE;
  await client.delete(Types.APIService, undefined, 'v1beta1.external.metrics.k8s.io');
  await client.delete(Types.Service, namespace, name);
  await deleteSlices(client);
  await client.delete(Types.Secret, namespace, `${name}-tls`);
}

/**
 * Consumer-group lag of one group on one topic read from the broker every `intervalMs`: log-end
 * minus committed offset per partition, and log-end minus log-start where nothing is committed.
 */
export class KafkaGroupLag {
  private readonly admin;
  private timer: NodeJS.Timeout | undefined;
  private last: PoolLagReading | undefined;
  private readonly topic: string;
  private readonly groupId: string;

  constructor(env: DevEnv, topic: string, groupId: string) {
    this.topic = topic;
    this.groupId = groupId;
    this.admin = new Kafka({ brokers: env.KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING }).admin();
  }

  async start(intervalMs = 500): Promise<void> {
    await this.admin.connect();
    // A fresh broker answers NOT_COORDINATOR until its offsets topic has a leader.
    await eventually('the group coordinator answering', () => this.poll(), { timeoutMs: 30_000 });
    this.timer = setInterval(() => void this.poll().catch(() => undefined), intervalMs);
  }

  read(): PoolLagReading | undefined {
    return this.last;
  }

  async poll(): Promise<PoolLagReading> {
    const [ends, [committed]] = await Promise.all([
      this.admin.fetchTopicOffsets(this.topic),
      this.admin.fetchOffsets({ groupId: this.groupId, topics: [this.topic] }),
    ]);
    let total = 0;
    for (const p of ends) {
      const c = committed?.partitions.find((x) => x.partition === p.partition)?.offset;
      const from = c === undefined || c === '-1' ? Number(p.low) : Number(c);
      total += Math.max(0, Number(p.high) - from);
    }
    this.last = { total, partitions: ends.length, observedAt: new Date() };
    return this.last;
  }

  /** Commits the log end of every partition for the group (a consumer that caught up). */
  async drain(): Promise<void> {
    const ends = await this.admin.fetchTopicOffsets(this.topic);
    await this.admin.setOffsets({
      groupId: this.groupId,
      topic: this.topic,
      partitions: ends.map((p) => ({ partition: p.partition, offset: p.high })),
    });
    await this.poll();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.admin.disconnect();
  }
}

/** The shipped APIService applied the way an installer does (kubectl, its own field manager). */
export async function applyShippedApiService(env: DevEnv): Promise<void> {
  const file = join(tmpdir(), `engram-apiservice-${process.pid}.json`);
  writeFileSync(file, JSON.stringify(shippedApiService()));
  try {
    await exec(env.KUBECTL, ['--kubeconfig', env.KUBECONFIG, 'apply', '--server-side', '-f', file]);
  } finally {
    rmSync(file, { force: true });
  }
}

export async function apiServiceAvailable(client: KubeClient): Promise<void> {
  await eventually(
    'APIService v1beta1.external.metrics.k8s.io Available',
    async () => {
      const s = await client.get(Types.APIService, undefined, 'v1beta1.external.metrics.k8s.io');
      const c = (s.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions;
      return c?.some((x) => x.type === 'Available' && x.status === 'True');
    },
    { timeoutMs: 60_000 },
  );
}

/** The namespace of the metrics Service (left in place: other tests share it). */
export async function ensureMetricsNamespace(client: KubeClient): Promise<void> {
  if (await client.getOrUndefined(Types.Namespace, undefined, METRICS_SERVICE.namespace)) return;
  const ns = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: METRICS_SERVICE.namespace } };
  await client.create(Types.Namespace, ns).catch((err) => {
    if (!isConflict(err)) throw err;
  });
}

export interface RoutedMetricsApi {
  address: string;
  port: number;
  close(): Promise<void>;
}

/**
 * The operator's External Metrics API started in this process on this environment's
 * non-loopback address, registered with the API server, and Available there.
 */
export async function startRoutedMetricsApi(
  env: DevEnv,
  client: KubeClient,
  api: ExternalMetricsApi,
): Promise<RoutedMetricsApi> {
  const address = metricsAddress(env);
  await addLocalAddress(address);
  const { namespace, name } = METRICS_SERVICE;
  await ensureMetricsNamespace(client);
  await applyShippedApiService(env);
  const server = await startExternalMetricsApi({
    client,
    log: createLogger('warn', { component: 'external-metrics-test' }),
    address: `${address}:0`,
    service: { namespace, name },
    api,
  });
  await routeServiceTo(client, address, server.port);
  await apiServiceAvailable(client);
  return {
    address,
    port: server.port,
    close: async () => {
      await removeRoute(client);
      await server.close();
      await removeLocalAddress(address);
    },
  };
}

/** A Deployment of one pause-like container (kwok runs it), the HPA's target. */
export function workDeployment(namespace: string, name: string): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          nodeSelector: { type: 'kwok' },
          containers: [{ name: 'worker', image: 'registry.k8s.io/pause:3.10' }],
        },
      },
    },
  } as KubeObject;
}

/** An autoscaling/v2 HPA on the pool's lag: `target` messages per replica, at most `max`. */
export function lagHpa(
  namespace: string,
  name: string,
  pool: string,
  opts: { target: number; max: number; scaleDownPodsPerPeriod: number; scaleDownPeriodSeconds: number },
): KubeObject {
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name, namespace },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      minReplicas: 1,
      maxReplicas: opts.max,
      metrics: [
        {
          type: 'External',
          external: {
            metric: {
              name: WORKER_POOL_LAG_METRIC,
              selector: { matchLabels: { [WORKER_POOL_LABEL]: pool } },
            },
            target: { type: 'AverageValue', averageValue: String(opts.target) },
          },
        },
      ],
      behavior: {
        scaleUp: {
          stabilizationWindowSeconds: 0,
          policies: [{ type: 'Pods', value: opts.max, periodSeconds: 1 }],
        },
        scaleDown: {
          stabilizationWindowSeconds: 0,
          policies: [
            { type: 'Pods', value: opts.scaleDownPodsPerPeriod, periodSeconds: opts.scaleDownPeriodSeconds },
          ],
        },
      },
    },
  } as KubeObject;
}

/** Produces `count` small messages spread over the topic's partitions. */
export async function produceMessages(env: DevEnv, topic: string, count: number): Promise<void> {
  const producer = new Kafka({
    brokers: env.KAFKA_BROKERS.split(','),
    logLevel: logLevel.NOTHING,
  }).producer();
  await producer.connect();
  try {
    await producer.send({
      topic,
      messages: Array.from({ length: count }, (_, i) => ({ key: `k${i}`, value: `lag ${i}` })),
    });
  } finally {
    await producer.disconnect();
  }
}

export interface LagScenario {
  namespace: string;
  pool: string;
  topic: string;
  partitions: number;
  lag: KafkaGroupLag;
  api: RoutedMetricsApi;
  /** The pool's Deployment (1 replica) and its lag HPA, as a WorkerPool's would be. */
  scalePool(opts: {
    target: number;
    scaleDownPodsPerPeriod: number;
    scaleDownPeriodSeconds: number;
  }): Promise<void>;
  replicas(): Promise<number>;
  close(): Promise<void>;
}

/**
 * One pool's world: a namespace, a topic with `partitions`, its group's lag read from Kafka, and
 * the External Metrics API answering it through the API server. `onRead` sees every metric read.
 */
export async function startLagScenario(
  env: DevEnv,
  client: KubeClient,
  opts: {
    prefix: string;
    partitions: number;
    pollMs: number;
    onRead?: (namespace: string, value: number) => void;
  },
): Promise<LagScenario> {
  const namespace = uniqueName(opts.prefix);
  const pool = 'embed';
  const topic = `engram.${namespace}.chunks`;
  const admin = new Kafka({ brokers: env.KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await client.create(Types.Namespace, {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: namespace },
  });
  await admin.createTopics({ topics: [{ topic, numPartitions: opts.partitions }], waitForLeaders: true });
  const lag = new KafkaGroupLag(env, topic, `engram.${namespace}.${pool}`);
  await lag.start(opts.pollMs);
  const read = workerPoolLagSource((ns, name) =>
    ns === namespace && name === pool ? lag.read() : undefined,
  );
  const api = await startRoutedMetricsApi(env, client, {
    metricNames: [WORKER_POOL_LAG_METRIC],
    source: async (ns, metric, selector) => {
      const items = await read(ns, metric, selector);
      opts.onRead?.(ns, Number(items[0]?.value ?? Number.NaN));
      return items;
    },
  });
  return {
    namespace,
    pool,
    topic,
    partitions: opts.partitions,
    lag,
    api,
    async scalePool(hpa) {
      await client.create(Types.Deployment, workDeployment(namespace, pool));
      await client.create(
        Types.HorizontalPodAutoscaler,
        lagHpa(namespace, pool, pool, { ...hpa, max: opts.partitions }),
      );
    },
    replicas: async () =>
      ((await client.get(Types.Deployment, namespace, pool)).spec as { replicas: number }).replicas,
    async close() {
      await api.close();
      await lag.stop().catch(() => undefined);
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
      await client.delete(Types.Namespace, undefined, namespace);
    },
  };
}
