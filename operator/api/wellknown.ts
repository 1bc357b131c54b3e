/**
 * Names the API publishes beyond its schemas: group/version, labels, annotations, finalizers and
 * condition types. The operator, the docs and the tests import these; nobody spells them twice.
 */

export const GROUP = 'engram.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** The one field manager for every server-side apply the operator makes. */
export const FIELD_MANAGER = 'engram-operator';

/** Labels the operator puts on every child it creates (and selects them by). */
export const LABELS = {
  name: 'app.kubernetes.io/name',
  instance: 'app.kubernetes.io/instance',
  component: 'app.kubernetes.io/component',
  partOf: 'app.kubernetes.io/part-of',
  managedBy: 'app.kubernetes.io/managed-by',
  /** Name of the MemoryCluster a child belongs to. */
  cluster: 'engram.dev/cluster',
  /** tenantId of the TenantMemory a child belongs to. */
  tenant: 'engram.dev/tenant',
  /** Name of the WorkerPool a pod belongs to. */
  workerPool: 'engram.dev/worker-pool',
  /** Runtime role of a worker pod (gateway, ingest, embed, ...). */
  role: 'engram.dev/role',
} as const;

export const LABEL_VALUES = {
  partOf: 'engram',
  managedBy: FIELD_MANAGER,
} as const;

/** Annotations users set on the custom resources to steer the operator. */
export const ANNOTATIONS = {
  /** `"true"` stops all reconciliation of the object (same as `spec.paused: true`). */
  paused: 'engram.dev/paused',
  /** `"true"` on a MemoryCluster: its finalizer removes itself without deleting Kafka topics. */
  skipTopicDeletion: 'engram.dev/skip-topic-deletion',
  /** `"true"` on a TenantMemory: its finalizer removes itself without purging the tenant's data. */
  skipTenantPurge: 'engram.dev/skip-tenant-purge',
  /**
   * A Go-style duration (`"10m"`): how long a finalizer keeps retrying an unreachable store before
   * it gives up, emits an Event and lets the object go. Default: FINALIZER_TIMEOUT_SECONDS.
   */
  finalizerTimeout: 'engram.dev/finalizer-timeout',
  /**
   * `"true"` on a MemoryCluster: topics of its names that already exist on the broker and belong
   * to no other MemoryCluster are taken over (Adopted) instead of reported as TopicConflict.
   * Adopted topics are managed but never deleted with the cluster.
   */
  adoptTopics: 'engram.dev/adopt-topics',
} as const;

/** Finalizers, each only where external state must be cleaned and each with an escape hatch above. */
export const FINALIZERS = {
  /** On a MemoryCluster with `topicDeletionPolicy: Delete`: deletes the cluster's Kafka topics. */
  topics: 'engram.dev/topics',
  /** On a TenantMemory with `deletionPolicy: Delete`: purges the tenant's graph, cache keys, credentials. */
  tenantData: 'engram.dev/tenant-data',
  /**
   * On a Secret a Delete-policy MemoryCluster needs to reach Kafka (SASL, TLS): kept until the
   * cluster's topics are deleted, so deleting the namespace cannot remove the credentials first.
   */
  kafkaCredentials: 'engram.dev/kafka-credentials',
} as const;

/** How long a finalizer retries before giving up when no `engram.dev/finalizer-timeout` is set. */
export const FINALIZER_TIMEOUT_SECONDS = 300;

/** `"true"` (exactly) enables an annotation switch; anything else leaves it off. */
export function annotationEnabled(
  annotations: Readonly<Record<string, string>> | undefined,
  name: string,
): boolean {
  return annotations?.[name] === 'true';
}

/**
 * Condition types. `Ready` is the summary and is True only for the generation in its
 * `observedGeneration`; `Reconciling`/`Stalled` follow kstatus so generic tooling understands them.
 */
export const CONDITION_TYPES = {
  ready: 'Ready',
  reconciling: 'Reconciling',
  stalled: 'Stalled',
  paused: 'Paused',
  kafkaReady: 'KafkaReady',
  topicsReady: 'TopicsReady',
  graphStoreReady: 'GraphStoreReady',
  cacheReady: 'CacheReady',
  workersReady: 'WorkersReady',
  credentialsReady: 'CredentialsReady',
  autoscalingReady: 'AutoscalingReady',
} as const;

/** Conditions each kind reports (set on first sight, Unknown until known). */
export const MEMORY_CLUSTER_CONDITIONS = [
  CONDITION_TYPES.ready,
  CONDITION_TYPES.kafkaReady,
  CONDITION_TYPES.topicsReady,
  CONDITION_TYPES.graphStoreReady,
  CONDITION_TYPES.cacheReady,
  CONDITION_TYPES.workersReady,
  CONDITION_TYPES.reconciling,
  CONDITION_TYPES.stalled,
] as const;

export const TENANT_MEMORY_CONDITIONS = [
  CONDITION_TYPES.ready,
  CONDITION_TYPES.credentialsReady,
  CONDITION_TYPES.cacheReady,
  CONDITION_TYPES.graphStoreReady,
  CONDITION_TYPES.topicsReady,
  CONDITION_TYPES.reconciling,
  CONDITION_TYPES.stalled,
] as const;

export const WORKER_POOL_CONDITIONS = [
  CONDITION_TYPES.ready,
  CONDITION_TYPES.autoscalingReady,
  CONDITION_TYPES.reconciling,
  CONDITION_TYPES.stalled,
] as const;
