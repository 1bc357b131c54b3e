/** Wires the MemoryCluster reconciler to the caches and events it reacts to. */
import { LABEL_VALUES, LABELS } from '../api/wellknown.ts';
import type { Logger } from '../controller/logger.ts';
import type { Cache, Manager } from '../controller/manager.ts';
import type { TopicAdminPool } from '../kafka/topic-admin.ts';
import type { KubeObject } from '../kube/client.ts';
import type { EventRecorder } from '../kube/events.ts';
import { Types } from '../kube/resources.ts';
import { MemoryClusterReconciler } from './reconciler.ts';

/** The kinds of object a MemoryCluster owns (its credentials Secrets among them). */
export const CHILD_TYPES = [
  Types.StatefulSet,
  Types.Service,
  Types.ConfigMap,
  Types.Secret,
  Types.PodDisruptionBudget,
  Types.NetworkPolicy,
] as const;

/** How long child events wait to be folded together before they reconcile their owner. */
export const CHILD_EVENT_DELAY_MS = 250;

const keyOf = (o: KubeObject) => `${o.metadata.namespace}/${o.metadata.name}`;

/**
 * Our own status writes come back as update events: only a new generation, or a change of
 * annotations, finalizers or deletion, is a reason to reconcile the cluster itself.
 */
export function specChanged(oldObj: KubeObject, newObj: KubeObject): boolean {
  const a = oldObj.metadata;
  const b = newObj.metadata;
  return (
    a.generation !== b.generation ||
    a.deletionTimestamp !== b.deletionTimestamp ||
    JSON.stringify(a.annotations ?? {}) !== JSON.stringify(b.annotations ?? {}) ||
    JSON.stringify(a.finalizers ?? []) !== JSON.stringify(b.finalizers ?? [])
  );
}

export function registerMemoryClusterController(
  manager: Manager,
  deps: {
    kafka: TopicAdminPool;
    events: EventRecorder;
    log: Logger;
    pollIntervalMs: number;
    managedKafkaAddressOverride?: string;
  },
): MemoryClusterReconciler {
  const owned = `${LABELS.managedBy}=${LABEL_VALUES.managedBy}`;
  const caches = {
    clusters: manager.cache(Types.MemoryCluster),
    statefulSets: manager.cache(Types.StatefulSet, owned),
    services: manager.cache(Types.Service, owned),
    configMaps: manager.cache(Types.ConfigMap, owned),
    secrets: manager.cache(Types.Secret, owned),
    pdbs: manager.cache(Types.PodDisruptionBudget, owned),
    networkPolicies: manager.cache(Types.NetworkPolicy, owned),
    workerPools: manager.cache(Types.WorkerPool),
    tenants: manager.cache(Types.TenantMemory),
  };
  const reconciler = new MemoryClusterReconciler({ client: manager.client, caches, ...deps });
  const enqueue = manager.register(reconciler);

  caches.clusters.on({
    add: (o) => enqueue(keyOf(o)),
    update: (a, b) => specChanged(a, b) && enqueue(keyOf(b)),
    delete: (o) => enqueue(keyOf(o)),
  });
  // A change to any child re-reconciles its owner: deleted or edited children come back. The
  // events our own applies cause arrive in bursts; a short delay folds each burst into one reconcile.
  const toOwner = (o: KubeObject) => {
    const owner = o.metadata.ownerReferences?.find((r) => r.kind === 'MemoryCluster' && r.controller);
    if (owner) enqueue(`${o.metadata.namespace}/${owner.name}`, CHILD_EVENT_DELAY_MS);
  };
  for (const cache of [
    caches.statefulSets,
    caches.services,
    caches.configMaps,
    caches.secrets,
    caches.pdbs,
    caches.networkPolicies,
  ]) {
    cache.on({ add: toOwner, update: (_a, b) => toOwner(b), delete: toOwner });
  }
  // Worker pools and tenants feed the cluster's summary columns.
  const toCluster = (o: KubeObject) => {
    const ref = (o.spec as { clusterRef?: { name?: string } } | undefined)?.clusterRef?.name;
    if (ref) enqueue(`${o.metadata.namespace}/${ref}`);
  };
  for (const cache of [caches.workerPools, caches.tenants] as Cache[]) {
    cache.on({ add: toCluster, update: (_a, b) => toCluster(b), delete: toCluster });
  }
  return reconciler;
}
