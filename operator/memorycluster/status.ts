/**
 * The one place MemoryCluster status is computed: observations in, status out (pure).
 * Ready is True only when every part is ready for THIS generation; progress is Unknown (not
 * False, which Argo CD reads as Degraded); False means an error a person must look at.
 */
import type { MemoryClusterStatus, TopicStatus } from '../api/memorycluster.ts';
import { CONDITION_TYPES as C } from '../api/wellknown.ts';
import { type ConditionInput, type ConditionStatus, mergeConditions } from '../controller/conditions.ts';
import type { KubeObject } from '../kube/client.ts';

interface PoolState {
  observedGeneration?: number;
  replicas?: number;
  readyReplicas?: number;
  lag?: number;
  conditions?: Array<{
    type: string;
    status: string;
    reason?: string;
    message?: string;
    observedGeneration?: number;
  }>;
}

/**
 * The cluster's worker pools as one part (pure): a pool counts as ready only when its own Ready is
 * True for its current generation; one False pool makes the part False (with its reason), a pool
 * still rolling out (or not yet seen by its controller) makes it Unknown.
 */
export function workersHealth(pools: readonly KubeObject[]): ClusterObservation['workers'] {
  let replicas = 0;
  let readyReplicas = 0;
  let totalLag = 0;
  const failing: string[] = [];
  const pending: string[] = [];
  for (const p of [...pools].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
    const st = (p.status ?? {}) as PoolState;
    replicas += st.replicas ?? 0;
    readyReplicas += st.readyReplicas ?? 0;
    totalLag += st.lag ?? 0;
    const ready = st.conditions?.find((c) => c.type === 'Ready');
    const current = ready !== undefined && ready.observedGeneration === (p.metadata.generation ?? 0);
    if (current && ready.status === 'False')
      failing.push(`${p.metadata.name}: ${ready.message ?? ready.reason}`);
    else if (!current || ready.status !== 'True') pending.push(p.metadata.name);
  }
  const counts = { pools: pools.length, replicas, readyReplicas, totalLag };
  if (!pools.length)
    return {
      status: 'True',
      reason: 'NoWorkerPools',
      message: 'no WorkerPool references this cluster yet',
      ...counts,
    };
  if (failing.length)
    return {
      status: 'False',
      reason: 'WorkerPoolFailing',
      message: `worker pools failing: ${failing.join('; ')}`,
      ...counts,
    };
  if (pending.length)
    return {
      status: 'Unknown',
      reason: 'WorkersNotReady',
      message: `worker pools not ready yet: ${pending.join(', ')}`,
      ...counts,
    };
  return {
    status: 'True',
    reason: 'WorkersReady',
    message: `${pools.length} worker pool(s) ready`,
    ...counts,
  };
}

export interface PartHealth {
  status: ConditionStatus;
  reason: string;
  message: string;
  /** True when only a change of spec (not time) can fix it: NotSupported, conflicts. */
  stalled?: boolean;
}

export interface ClusterObservation {
  generation: number;
  topicPrefix: string;
  kafkaClusterId?: string;
  /** The brokers: managed Redpanda's rollout, or the connection to external Kafka. */
  kafka: PartHealth;
  topics: PartHealth & { list: TopicStatus[] };
  graphStore: PartHealth;
  cache: PartHealth;
  workers: PartHealth & {
    pools: number;
    replicas: number;
    readyReplicas: number;
    totalLag: number | undefined;
  };
  tenants: number;
  endpoints: NonNullable<MemoryClusterStatus['endpoints']>;
  credentials: NonNullable<MemoryClusterStatus['credentials']>;
}

export function computeClusterStatus(
  previous: MemoryClusterStatus | undefined,
  o: ClusterObservation,
  now: Date,
): MemoryClusterStatus {
  const parts: Array<[string, PartHealth]> = [
    [C.kafkaReady, o.kafka],
    [C.topicsReady, o.topics],
    [C.graphStoreReady, o.graphStore],
    [C.cacheReady, o.cache],
    [C.workersReady, o.workers],
  ];
  const failing = parts.find(([, p]) => p.status === 'False');
  const pending = parts.find(([, p]) => p.status === 'Unknown');
  const stalled = parts.find(([, p]) => p.stalled);

  let ready: ConditionInput;
  if (failing) {
    ready = {
      type: C.ready,
      status: 'False',
      reason: failing[1].reason,
      message: `${failing[0]}: ${failing[1].message}`,
    };
  } else if (pending) {
    ready = {
      type: C.ready,
      status: 'Unknown',
      reason: 'Progressing',
      message: `${pending[0]}: ${pending[1].message}`,
    };
  } else {
    ready = {
      type: C.ready,
      status: 'True',
      reason: 'Reconciled',
      message: `${o.topics.list.length} topics, graph store, cache and ${o.workers.pools} worker pool(s) are ready`,
    };
  }
  const inputs: ConditionInput[] = [
    ready,
    ...parts.map(([type, p]) => ({ type, status: p.status, reason: p.reason, message: p.message })),
    {
      type: C.reconciling,
      status: ready.status !== 'True' && !stalled ? 'True' : 'False',
      reason: ready.status === 'True' ? 'Reconciled' : stalled ? 'Stalled' : ready.reason,
      message: ready.status === 'True' ? 'generation fully reconciled' : ready.message,
    },
    {
      type: C.stalled,
      status: stalled ? 'True' : 'False',
      reason: stalled ? stalled[1].reason : 'NotStalled',
      message: stalled ? `${stalled[0]}: ${stalled[1].message}` : '',
    },
    { type: C.paused, status: 'False', reason: 'NotPaused', message: '' },
  ];
  return {
    observedGeneration: o.generation,
    conditions: mergeConditions(previous?.conditions, inputs, o.generation, now),
    topicPrefix: o.topicPrefix,
    ...(o.kafkaClusterId ? { kafkaClusterId: o.kafkaClusterId } : {}),
    topics: o.topics.list,
    endpoints: o.endpoints,
    credentials: o.credentials,
    tenants: o.tenants,
    workers: {
      pools: o.workers.pools,
      replicas: o.workers.replicas,
      readyReplicas: o.workers.readyReplicas,
      summary: `${o.workers.readyReplicas}/${o.workers.replicas}`,
    },
    // The LAG column: total lag of the pools (0 with none); unknown pool lag counts as 0.
    totalLag: o.workers.totalLag ?? 0,
  };
}

/**
 * Status while paused (pure): Ready and Paused speak for the current generation; every other
 * condition keeps the generation it was computed for, so nothing claims to have checked a spec
 * the operator has not acted on.
 */
export function computePausedStatus(
  previous: MemoryClusterStatus | undefined,
  generation: number,
  now: Date,
): MemoryClusterStatus {
  const message =
    'reconciliation is paused (spec.paused or annotation engram.dev/paused); the operator makes no changes';
  const inputs: ConditionInput[] = [
    { type: C.ready, status: 'Unknown', reason: 'Paused', message },
    { type: C.reconciling, status: 'False', reason: 'Paused', message: 'paused' },
    {
      type: C.paused,
      status: 'True',
      reason: 'Paused',
      message: 'remove spec.paused / the engram.dev/paused annotation to resume',
    },
  ];
  const touched = new Set(inputs.map((i) => i.type));
  const kept = (previous?.conditions ?? []).filter((c) => !touched.has(c.type));
  return {
    ...previous,
    observedGeneration: generation,
    conditions: [
      ...mergeConditions(
        previous?.conditions?.filter((c) => touched.has(c.type)),
        inputs,
        generation,
        now,
      ),
      ...kept,
    ],
  };
}

/** A StatefulSet's rollout as a part's health: ready only when the current spec is fully rolled out. */
export function statefulSetHealth(sts: KubeObject | undefined, what: string): PartHealth {
  if (!sts) return { status: 'Unknown', reason: 'Creating', message: `${what} StatefulSet is being created` };
  const spec = sts.spec as { replicas?: number };
  const st = (sts.status ?? {}) as {
    observedGeneration?: number;
    readyReplicas?: number;
    updatedReplicas?: number;
    currentRevision?: string;
    updateRevision?: string;
  };
  const want = spec.replicas ?? 1;
  const ready = st.readyReplicas ?? 0;
  if ((st.observedGeneration ?? 0) < (sts.metadata.generation ?? 0)) {
    return {
      status: 'Unknown',
      reason: 'RollingOut',
      message: `${what}: the StatefulSet controller has not seen the new spec yet`,
    };
  }
  if (
    (st.updatedReplicas ?? 0) < want ||
    (st.updateRevision && st.currentRevision !== st.updateRevision && ready < want)
  ) {
    return {
      status: 'Unknown',
      reason: 'RollingOut',
      message: `${what}: ${st.updatedReplicas ?? 0}/${want} pods updated to the current spec`,
    };
  }
  if (ready < want) {
    return { status: 'Unknown', reason: 'PodsNotReady', message: `${what}: ${ready}/${want} pods ready` };
  }
  return { status: 'True', reason: 'Ready', message: `${what}: ${ready}/${want} pods ready` };
}
