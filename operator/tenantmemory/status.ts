/**
 * TenantMemory status from what one reconcile observed (pure): the conditions (Ready is the
 * summary of the cluster, credentials, cache and graph parts), where the tenant lives, its usage.
 * Unchanged inputs give a byte-equal status, so a resync of an unchanged tenant writes nothing.
 */
import type { TenantMemoryStatus } from '../api/tenantmemory.ts';
import { CONDITION_TYPES as C } from '../api/wellknown.ts';
import { type ConditionInput, mergeConditions } from '../controller/conditions.ts';
import type { PartHealth } from '../memorycluster/status.ts';

export type { PartHealth };

export interface TenantObservation {
  generation: number;
  tenantId: string;
  /** The referenced MemoryCluster: exists, owns this tenant id, its stores ready. */
  cluster: PartHealth;
  credentials: PartHealth;
  cache: PartHealth;
  graph: PartHealth;
  credentialsSecretName?: string;
  redisUser?: string;
  redisKeyPrefix?: string;
  neo4jDatabase?: string;
  /** The tenant's own topics (claimed in status), and their health when it has or had some. */
  topics?: string[];
  topicsHealth?: PartHealth;
  usage?: TenantMemoryStatus['usage'];
  /** What the tenant asked for and does not get yet (said in Ready's message, not a failure). */
  notes: string[];
}

const NOT_CHECKED: PartHealth = {
  status: 'Unknown',
  reason: 'WaitingForCluster',
  message: 'not checked until the cluster is ready',
};

const rank = { False: 0, Unknown: 1, True: 2 } as const;

export function computeTenantStatus(
  previous: TenantMemoryStatus | undefined,
  o: TenantObservation,
  now: Date,
): TenantMemoryStatus {
  const parts: Array<[string, PartHealth]> = [
    ['Cluster', o.cluster],
    [C.credentialsReady, o.credentials],
    [C.cacheReady, o.cluster.status === 'True' ? o.cache : NOT_CHECKED],
    [C.graphStoreReady, o.cluster.status === 'True' ? o.graph : NOT_CHECKED],
    ...(o.topicsHealth ? ([[C.topicsReady, o.topicsHealth]] as Array<[string, PartHealth]>) : []),
  ];
  const worst = parts.reduce((a, b) => (rank[b[1].status] < rank[a[1].status] ? b : a));
  const stalled = parts.find(([, p]) => p.stalled);
  const ready: ConditionInput =
    worst[1].status === 'True'
      ? {
          type: C.ready,
          status: 'True',
          reason: 'Ready',
          message: [`tenant ${o.tenantId} is ready`, ...o.notes].join('; '),
        }
      : {
          type: C.ready,
          status: worst[1].status,
          reason: worst[1].reason,
          message: worst[0] === 'Cluster' ? worst[1].message : `${worst[0]}: ${worst[1].message}`,
        };
  const inputs: ConditionInput[] = [
    ready,
    ...parts
      .filter(([type]) => type !== 'Cluster')
      .map(([type, p]) => ({ type, status: p.status, reason: p.reason, message: p.message })),
    stalled
      ? { type: C.stalled, status: 'True', reason: stalled[1].reason, message: stalled[1].message }
      : { type: C.stalled, status: 'False', reason: 'NotStalled', message: 'making progress or done' },
    ready.status === 'Unknown' && !stalled
      ? { type: C.reconciling, status: 'True', reason: ready.reason, message: ready.message }
      : {
          type: C.reconciling,
          status: 'False',
          reason: ready.status === 'True' ? 'Ready' : 'Failed',
          message: ready.status === 'True' ? 'nothing left to do' : ready.message,
        },
  ];
  return {
    observedGeneration: o.generation,
    conditions: mergeConditions(
      previous?.conditions,
      [...inputs, { type: C.paused, status: 'False', reason: 'NotPaused', message: 'reconciling' }],
      o.generation,
      now,
    ),
    ...(o.credentialsSecretName ? { credentialsSecretName: o.credentialsSecretName } : {}),
    ...(o.redisUser ? { redisUser: o.redisUser } : {}),
    ...(o.redisKeyPrefix ? { redisKeyPrefix: o.redisKeyPrefix } : {}),
    ...(o.neo4jDatabase ? { neo4jDatabase: o.neo4jDatabase } : {}),
    ...(o.topics?.length ? { topics: o.topics } : {}),
    ...(o.usage ? { usage: o.usage } : {}),
  };
}

/**
 * The usage to report: the new counts, or the previous block unchanged (observedAt included) when
 * the counts did not move, so an idle tenant costs no status write.
 */
export function nextUsage(
  previous: TenantMemoryStatus['usage'],
  counted: { documents: number; nodes: number; relationships: number } | undefined,
  now: Date,
): TenantMemoryStatus['usage'] {
  if (!counted) return previous;
  if (
    previous &&
    previous.documents === counted.documents &&
    previous.nodes === counted.nodes &&
    previous.relationships === counted.relationships
  )
    return previous;
  return { ...counted, observedAt: now.toISOString().replace(/\.\d{3}Z$/, 'Z') };
}

/** Status of a tenant the operator does not touch (the engram.dev/paused annotation). */
export function computePausedTenantStatus(
  previous: TenantMemoryStatus | undefined,
  generation: number,
  now: Date,
): TenantMemoryStatus {
  const message = 'reconciliation is paused (annotation engram.dev/paused); the operator makes no changes';
  return {
    ...previous,
    observedGeneration: generation,
    conditions: mergeConditions(
      previous?.conditions,
      [
        { type: C.ready, status: 'Unknown', reason: 'Paused', message },
        { type: C.reconciling, status: 'False', reason: 'Paused', message: 'paused' },
        {
          type: C.paused,
          status: 'True',
          reason: 'Paused',
          message: 'remove the engram.dev/paused annotation to resume',
        },
      ],
      generation,
      now,
    ),
  };
}

/** A spec the operator cannot act on (admission should have refused it). */
export function computeInvalidTenantStatus(
  previous: TenantMemoryStatus | undefined,
  generation: number,
  why: string,
  now: Date,
): TenantMemoryStatus {
  const message = `the operator cannot act on this spec: ${why}; fix the spec`;
  return {
    ...previous,
    observedGeneration: generation,
    conditions: mergeConditions(
      previous?.conditions,
      [
        { type: C.ready, status: 'False', reason: 'InvalidSpec', message },
        { type: C.stalled, status: 'True', reason: 'InvalidSpec', message },
        { type: C.reconciling, status: 'False', reason: 'Stalled', message },
      ],
      generation,
      now,
    ),
  };
}
