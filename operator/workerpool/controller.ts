/** Wires the WorkerPool reconciler and the lag monitor to the caches and events they react to. */
import type { MemoryClusterStatus } from '../api/memorycluster.ts';
import { LABEL_VALUES, LABELS } from '../api/wellknown.ts';
import { Applier } from '../controller/apply.ts';
import type { Logger } from '../controller/logger.ts';
import { CLUSTER_REF_INDEX, clusterRefOf, type Manager, toControllingOwner } from '../controller/manager.ts';
import type { OperatorMetrics } from '../controller/metrics.ts';
import { SecretReader } from '../controller/secrets.ts';
import { StatusWriter } from '../controller/status-writer.ts';
import type { TopicAdminPool } from '../kafka/topic-admin.ts';
import type { KubeObject } from '../kube/client.ts';
import type { EventRecorder } from '../kube/events.ts';
import { Types } from '../kube/resources.ts';
import { CHILD_EVENT_DELAY_MS, specChanged } from '../memorycluster/controller.ts';
import { kafkaConnection } from '../memorycluster/topics.ts';
import { LagMonitor } from './lag.ts';
import { WorkerPoolReconciler } from './reconciler.ts';

export interface WorkerPoolControllerDeps {
  kafka: TopicAdminPool;
  events: EventRecorder;
  log: Logger;
  metrics: OperatorMetrics;
  /** How often every pool's consumer-group lag is measured. */
  lagPollIntervalMs: number;
  managedKafkaAddressOverride?: string;
}

const keyOf = (o: KubeObject) => `${o.metadata.namespace}/${o.metadata.name}`;

/** Partitions of a cluster's topics: a change re-caps its pools' HPAs. */
const topicShape = (mc: KubeObject) =>
  JSON.stringify(
    ((mc.status as MemoryClusterStatus | undefined)?.topics ?? []).map((t) => [t.name, t.partitions]),
  );

/** Registers the controller; start the returned monitor once the caches synced (manager.start()). */
export function registerWorkerPoolController(
  manager: Manager,
  deps: WorkerPoolControllerDeps,
): { reconciler: WorkerPoolReconciler; lag: LagMonitor } {
  const owned = { labelSelector: `${LABELS.managedBy}=${LABEL_VALUES.managedBy}` };
  const caches = {
    pools: manager.cache(Types.WorkerPool).addIndex(CLUSTER_REF_INDEX, clusterRefOf),
    clusters: manager.cache(Types.MemoryCluster),
    deployments: manager.cache(Types.Deployment, owned),
    hpas: manager.cache(Types.HorizontalPodAutoscaler, owned),
  };
  const client = manager.client;
  const secrets = new SecretReader(client);
  let enqueue: (key: string, delayMs?: number) => void = () => undefined;
  const lag = new LagMonitor({
    pools: caches.pools,
    clusters: caches.clusters,
    kafka: deps.kafka,
    connection: (cluster) => kafkaConnection(cluster, secrets, deps.managedKafkaAddressOverride),
    registry: deps.metrics.registry,
    intervalMs: deps.lagPollIntervalMs,
    log: deps.log,
    onChange: (key) => enqueue(key),
  });
  const reconciler = new WorkerPoolReconciler({
    client,
    events: deps.events,
    caches,
    applier: new Applier(client, [caches.deployments, caches.hpas]),
    status: new StatusWriter(client, deps.events, Types.WorkerPool),
    lag,
    log: deps.log,
  });
  enqueue = manager.register(reconciler);

  caches.pools.on({
    add: (o) => enqueue(keyOf(o)),
    update: (a, b) => specChanged(a, b) && enqueue(keyOf(b)),
    delete: (o) => enqueue(keyOf(o)),
  });
  const toOwner = toControllingOwner('WorkerPool', enqueue, CHILD_EVENT_DELAY_MS);
  caches.deployments.on(toOwner);
  caches.hpas.on(toOwner);
  // A cluster appearing, changing or going, or its topics growing, reaches its pools.
  const toPools = (mc: KubeObject) => {
    for (const p of caches.pools.byIndex(CLUSTER_REF_INDEX, keyOf(mc))) enqueue(keyOf(p));
  };
  caches.clusters.on({
    add: toPools,
    update: (a, b) => (specChanged(a, b) || topicShape(a) !== topicShape(b)) && toPools(b),
    delete: toPools,
  });
  return { reconciler, lag };
}
