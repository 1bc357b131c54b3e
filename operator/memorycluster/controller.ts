/** Wires the MemoryCluster reconciler to the caches and events it reacts to. */
import type { MemoryCluster } from '../api/memorycluster.ts';
import { LABEL_VALUES, LABELS } from '../api/wellknown.ts';
import { Applier } from '../controller/apply.ts';
import type { Logger } from '../controller/logger.ts';
import { CLUSTER_REF_INDEX, clusterRefOf, type Manager, toControllingOwner } from '../controller/manager.ts';
import { SecretReader } from '../controller/secrets.ts';
import { StatusWriter } from '../controller/status-writer.ts';
import type { TopicAdminPool } from '../kafka/topic-admin.ts';
import type { KubeObject } from '../kube/client.ts';
import type { EventRecorder } from '../kube/events.ts';
import { Types } from '../kube/resources.ts';
import { GeneratedCredentials } from './credentials.ts';
import { MemoryClusterReconciler } from './reconciler.ts';
import { VolumeExpansion } from './storage.ts';
import { managedServiceAddress, type StoreComponent, StoreHealth } from './stores.ts';
import { ClusterTopics } from './topics.ts';

/** How long child events wait to be folded together before they reconcile their owner. */
export const CHILD_EVENT_DELAY_MS = 250;

/** How long at most a look at the broker that found the topics ready answers event-driven reconciles. */
export const TOPICS_REUSE_MS = 5_000;

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

/** Every Secret a cluster reads: credentials of its stores, Kafka SASL and TLS, the LLM key. */
export function referencedSecrets(mc: KubeObject): string[] {
  const spec = (mc.spec ?? {}) as Partial<MemoryCluster['spec']>;
  return [
    spec.neo4j?.managed?.credentialsSecretRef?.name,
    spec.neo4j?.external?.credentialsSecretRef?.name,
    spec.neo4j?.external?.caSecretRef?.name,
    spec.redis?.managed?.credentialsSecretRef?.name,
    spec.redis?.external?.credentialsSecretRef?.name,
    spec.redis?.external?.caSecretRef?.name,
    spec.kafka?.external?.sasl?.credentialsSecretRef?.name,
    spec.kafka?.external?.tls?.caSecretRef?.name,
    spec.kafka?.external?.tls?.clientCertSecretRef?.name,
    spec.extraction?.apiKeySecretRef?.name,
  ].filter((n): n is string => !!n);
}

export interface MemoryClusterControllerDeps {
  kafka: TopicAdminPool;
  events: EventRecorder;
  log: Logger;
  pollIntervalMs: number;
  operatorNamespace: string;
  /** Whether the operator runs in the cluster (it then reaches managed stores through their Services). */
  inCluster: boolean;
  managedKafkaAddressOverride?: string;
  managedStoreAddresses?: Partial<Record<StoreComponent, string>>;
}

export function registerMemoryClusterController(
  manager: Manager,
  deps: MemoryClusterControllerDeps,
): MemoryClusterReconciler {
  const owned = { labelSelector: `${LABELS.managedBy}=${LABEL_VALUES.managedBy}` };
  const caches = {
    clusters: manager.cache(Types.MemoryCluster),
    statefulSets: manager.cache(Types.StatefulSet, owned),
    services: manager.cache(Types.Service, owned),
    configMaps: manager.cache(Types.ConfigMap, owned),
    // Metadata only, of every Secret: a user's credentials Secret changing must reconcile at once,
    // and no Secret data sits in the operator's memory.
    secretsMeta: manager.cache(Types.Secret, { metadataOnly: true }),
    pdbs: manager.cache(Types.PodDisruptionBudget, owned),
    networkPolicies: manager.cache(Types.NetworkPolicy, owned),
    workerPools: manager.cache(Types.WorkerPool).addIndex(CLUSTER_REF_INDEX, clusterRefOf),
    tenants: manager.cache(Types.TenantMemory).addIndex(CLUSTER_REF_INDEX, clusterRefOf),
  };
  const client = manager.client;
  const secrets = new SecretReader(client);
  const topics = new ClusterTopics({
    client,
    kafka: deps.kafka,
    secrets,
    events: deps.events,
    clusters: caches.clusters,
    statefulSets: caches.statefulSets,
    secretsMeta: caches.secretsMeta,
    reuseReadyMs: Math.min(TOPICS_REUSE_MS, deps.pollIntervalMs / 2),
    ...(deps.managedKafkaAddressOverride
      ? { managedKafkaAddressOverride: deps.managedKafkaAddressOverride }
      : {}),
  });
  const stores = new StoreHealth({
    client,
    secrets,
    statefulSets: caches.statefulSets,
    secretsMeta: caches.secretsMeta,
    managedAddress: (cluster, component) =>
      deps.managedStoreAddresses?.[component] ??
      (deps.inCluster ? managedServiceAddress(cluster, component) : undefined),
  });
  const reconciler = new MemoryClusterReconciler({
    client,
    events: deps.events,
    caches,
    applier: new Applier(client, [
      caches.configMaps,
      caches.services,
      caches.statefulSets,
      caches.pdbs,
      caches.networkPolicies,
    ]),
    status: new StatusWriter(client, deps.events, Types.MemoryCluster),
    topics,
    stores,
    volumes: new VolumeExpansion(client),
    credentials: new GeneratedCredentials({
      client,
      secretsMeta: caches.secretsMeta,
      events: deps.events,
    }),
    log: deps.log,
    build: { operatorNamespace: deps.operatorNamespace },
    pollIntervalMs: deps.pollIntervalMs,
  });
  const enqueue = manager.register(reconciler);

  caches.clusters.on({
    add: (o) => enqueue(keyOf(o)),
    update: (a, b) => specChanged(a, b) && enqueue(keyOf(b)),
    delete: (o) => enqueue(keyOf(o)),
  });
  // A change to any child re-reconciles its owner: deleted or edited children come back. The
  // events our own applies cause arrive in bursts; a short delay folds each burst into one reconcile.
  const toOwner = toControllingOwner('MemoryCluster', enqueue, CHILD_EVENT_DELAY_MS);
  for (const cache of [
    caches.statefulSets,
    caches.services,
    caches.configMaps,
    caches.pdbs,
    caches.networkPolicies,
  ]) {
    cache.on(toOwner);
  }
  // A Secret a cluster references (or owns) changed: reconcile that cluster now, not at the next poll.
  const secretChanged = (s: KubeObject) => {
    toOwner.add?.(s);
    for (const mc of caches.clusters.list(s.metadata.namespace))
      if (referencedSecrets(mc).includes(s.metadata.name)) enqueue(keyOf(mc));
  };
  caches.secretsMeta.on({
    add: secretChanged,
    update: (a, b) => a.metadata.resourceVersion !== b.metadata.resourceVersion && secretChanged(b),
    delete: secretChanged,
  });
  // Worker pools and tenants feed the cluster's summary columns. A lag poll updates every pool
  // at once: the delay folds those status writes into one write of the cluster.
  const toCluster = (o: KubeObject) => {
    for (const key of clusterRefOf(o)) enqueue(key, CHILD_EVENT_DELAY_MS);
  };
  for (const cache of [caches.workerPools, caches.tenants]) {
    cache.on({ add: toCluster, update: (_a, b) => toCluster(b), delete: toCluster });
  }
  return reconciler;
}
