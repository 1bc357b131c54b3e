/**
 * TenantMemory reconciliation: observe (caches, the cluster, the stores) -> build the tenant's
 * Redis user and graph schema (pure, desired/) -> apply only what drifted (credentials Secret,
 * ACL SETUSER, missing indexes) -> compute status (pure, status.ts) -> write it if it changed.
 * Deletion under deletionPolicy Delete purges the tenant's data through a finalizer with a timeout.
 */

import { tenantRedisPrefix, tenantRedisUser } from '../../runtime/contract/stores.ts';
import { DEFAULT_EMBEDDING, DEFAULT_MANAGED_NEO4J } from '../api/defaults.ts';
import { type MemoryCluster, memoryClusterSchema } from '../api/memorycluster.ts';
import { type TenantMemory, type TenantMemoryStatus, tenantMemorySchema } from '../api/tenantmemory.ts';
import { ANNOTATIONS, annotationEnabled, CONDITION_TYPES, FINALIZERS } from '../api/wellknown.ts';
import { findCondition } from '../controller/conditions.ts';
import { UserError } from '../controller/errors.ts';
import { runFinalizer, setFinalizer } from '../controller/finalizer.ts';
import type { Logger } from '../controller/logger.ts';
import type { Cache, Controller, ReconcileResult } from '../controller/manager.ts';
import type { SecretReader } from '../controller/secrets.ts';
import type { StatusWriter } from '../controller/status-writer.ts';
import type { TopicAdminPool } from '../kafka/topic-admin.ts';
import type { KubeClient, KubeObject } from '../kube/client.ts';
import type { EventRecorder } from '../kube/events.ts';
import { splitKey, Types } from '../kube/resources.ts';
import { specChanged } from '../memorycluster/controller.ts';
import { kafkaConnection } from '../memorycluster/topics.ts';
import { type StoreAccess, type StoreComponent, storeAccess } from '../stores/access.ts';
import type { StoreSessions } from '../stores/sessions.ts';
import type { TenantCredentials, TenantSecretHashes } from './credentials.ts';
import { credentialsSecretName } from './desired/credentials.ts';
import { tenantIdOwners } from './desired/gateway.ts';
import { desiredAclUser } from './desired/redis.ts';
import { tenantTopics } from './desired/topics.ts';
import {
  ensureTenantGraph,
  type Isolation,
  purgeTenantGraph,
  tenantGraphDatabase,
  tenantUsage,
} from './graph.ts';
import { ensureTenantUser, purgeTenantRedis } from './redis-acl.ts';
import {
  computeInvalidTenantStatus,
  computePausedTenantStatus,
  computeTenantStatus,
  nextUsage,
  type PartHealth,
  type TenantObservation,
} from './status.ts';

export interface TenantMemoryReconcilerOptions {
  client: KubeClient;
  events: EventRecorder;
  log: Logger;
  tenants: Cache;
  clusters: Cache;
  secrets: SecretReader;
  credentials: TenantCredentials;
  status: StatusWriter;
  kafka: TopicAdminPool;
  /** Shared, bounded connections to the clusters' Neo4j and Redis. */
  sessions: StoreSessions;
  /** Address of managed Kafka for an operator outside the cluster (local environments). */
  managedKafkaAddressOverride?: string;
  /** host:port of a managed store as the operator reaches it, undefined when it cannot. */
  managedAddress(cluster: MemoryCluster, component: StoreComponent): string | undefined;
  /** Usage is counted at most this often; a tenant not ready yet is retried at most this late. */
  pollIntervalMs: number;
}

const ok = (reason: string, message: string): PartHealth => ({ status: 'True', reason, message });
const failed = (err: unknown, reason: string): PartHealth => ({
  status: 'False',
  reason: err instanceof UserError ? err.reason : reason,
  message: (err as Error).message,
  ...(err instanceof UserError ? { stalled: false } : {}),
});

/** One reconcile's inputs and the observation it fills. */
interface TenantStep {
  key: string;
  tm: TenantMemory;
  cluster: MemoryCluster;
  raw: KubeObject;
  o: TenantObservation;
  previous: TenantMemoryStatus | undefined;
}

export class TenantMemoryReconciler implements Controller {
  readonly name = 'tenantmemory';
  readonly primary: Cache;
  readonly #o: TenantMemoryReconcilerOptions;
  /** When each tenant's usage was last counted (ms since epoch). */
  readonly #countedAt = new Map<string, number>();
  /** Topics claimed by this process, by tenant key. */
  readonly #claims = new Map<string, Set<string>>();

  constructor(o: TenantMemoryReconcilerOptions) {
    this.#o = o;
    this.primary = o.tenants;
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const { namespace, name } = splitKey(key);
    const cached = this.#o.tenants.get(namespace, name);
    if (!cached) {
      this.#countedAt.delete(key);
      this.#claims.delete(key);
      this.#o.credentials.forget(namespace ?? 'default', name);
      return {};
    }
    const raw = this.#o.status.view(cached);
    const parsed = tenantMemorySchema.safeParse(raw);
    const generation = raw.metadata.generation ?? 0;
    const previous = raw.status as TenantMemoryStatus | undefined;
    if (!parsed.success) {
      await this.#o.status.write(
        raw,
        computeInvalidTenantStatus(previous, generation, parsed.error.message, new Date()),
      );
      return {};
    }
    const tm = parsed.data;
    const cluster = this.cluster(tm);
    if (tm.metadata.deletionTimestamp) return this.finalize(tm, raw, cluster);
    if (annotationEnabled(tm.metadata.annotations, ANNOTATIONS.paused)) {
      await this.#o.status.write(raw, computePausedTenantStatus(previous, generation, new Date()));
      return {};
    }
    await setFinalizer(
      this.#o.client,
      Types.TenantMemory,
      raw,
      FINALIZERS.tenantData,
      tm.spec.deletionPolicy === 'Delete',
    );

    const observation: TenantObservation = {
      generation,
      tenantId: tm.spec.tenantId,
      cluster: this.clusterHealth(tm, cluster),
      credentials: {
        status: 'Unknown',
        reason: 'WaitingForCluster',
        message: 'created once the cluster is ready',
      },
      cache: { status: 'Unknown', reason: 'WaitingForCluster', message: 'not checked' },
      graph: { status: 'Unknown', reason: 'WaitingForCluster', message: 'not checked' },
      ...(previous?.usage ? { usage: previous.usage } : {}),
      ...(previous?.topics ? { topics: previous.topics } : {}),
      notes: [],
    };
    if (cluster && observation.cluster.status === 'True')
      await this.provision({ key, tm, cluster, raw, o: observation, previous });
    const status = computeTenantStatus(previous, observation, new Date());
    await this.#o.status.write(raw, status);
    const ready = findCondition(status.conditions, CONDITION_TYPES.ready)?.status === 'True';
    // A ready tenant is checked again at the resync period (every check reads Secrets and opens store
    // connections: at a thousand tenants, polling would flood the API server); others retry soon.
    return ready ? {} : { requeueAfterMs: Math.min(this.#o.pollIntervalMs, 10_000) };
  }

  private cluster(tm: TenantMemory): MemoryCluster | undefined {
    const raw = this.#o.clusters.get(tm.metadata.namespace, tm.spec.clusterRef.name);
    const parsed = raw ? memoryClusterSchema.safeParse(raw) : undefined;
    return parsed?.success ? parsed.data : undefined;
  }

  /** The cluster exists, this TenantMemory owns the tenant id in it, and its stores are ready. */
  private clusterHealth(tm: TenantMemory, cluster: MemoryCluster | undefined): PartHealth {
    const ref = tm.spec.clusterRef.name;
    const ns = tm.metadata.namespace ?? 'default';
    if (!cluster)
      return {
        status: 'False',
        reason: 'ClusterNotFound',
        message: `MemoryCluster ${ref} not found in namespace ${ns}: create it or fix spec.clusterRef.name`,
      };
    const owner = this.owner(ns, ref, tm.spec.tenantId);
    if (owner && owner !== tm.metadata.name)
      return {
        status: 'False',
        reason: 'TenantIdConflict',
        message: `TenantMemory ${owner} already holds tenantId ${tm.spec.tenantId} in MemoryCluster ${ref}: choose another tenantId`,
        stalled: true,
      };
    if (cluster.metadata.deletionTimestamp)
      return { status: 'False', reason: 'ClusterDeleting', message: `MemoryCluster ${ref} is being deleted` };
    const notReady = TENANT_STORE_CONDITIONS.map((type) => ({
      type,
      c: findCondition(cluster.status?.conditions, type),
    })).find(({ c }) => c?.status !== 'True');
    if (notReady)
      return {
        status: notReady.c?.status === 'False' ? 'False' : 'Unknown',
        reason: 'ClusterNotReady',
        message: `MemoryCluster ${ref} is not ready: ${notReady.type} is ${notReady.c?.status ?? 'not reported yet'}${notReady.c?.message ? ` (${notReady.c.message})` : ''}`,
      };
    return ok('ClusterReady', `MemoryCluster ${ref} is ready`);
  }

  /** Who owns `tenantId` in the cluster: only the TenantMemories naming that id are read. */
  private owner(ns: string, cluster: string, tenantId: string): string | undefined {
    const tms = this.#o.tenants
      .byIndex(TENANT_ID_INDEX, `${ns}/${cluster}/${tenantId}`)
      .map((o) => tenantMemorySchema.safeParse(o))
      .flatMap((p) => (p.success ? [p.data] : []));
    return tenantIdOwners(tms).get(tenantId);
  }

  /** Credentials, the Redis user and the graph schema; fills the observation. */
  private async provision(step: TenantStep): Promise<void> {
    const { key, tm, cluster, raw, o, previous } = step;
    const clusterName = cluster.metadata.name;
    const tenantId = tm.spec.tenantId;
    let secrets: TenantSecretHashes;
    try {
      secrets = await this.#o.credentials.ensure(tm, cluster, raw);
      o.credentials = ok(
        'Created',
        `the tenant's gateway API key is in Secret ${credentialsSecretName(tm)} (key api-key)`,
      );
      o.credentialsSecretName = credentialsSecretName(tm);
    } catch (err) {
      o.credentials = failed(err, 'CredentialsFailed');
      return;
    }
    const isolation = (cluster.spec.neo4j.tenantIsolation ??
      DEFAULT_MANAGED_NEO4J.tenantIsolation) as Isolation;
    const dimensions = cluster.spec.embedding?.dimensions ?? DEFAULT_EMBEDDING.dimensions;
    const user = tenantRedisUser(clusterName, tenantId);
    const prefix = tenantRedisPrefix(clusterName, tenantId);
    const countDue = Date.now() - (this.#countedAt.get(key) ?? 0) >= this.#o.pollIntervalMs;
    await Promise.all([
      this.access(cluster, 'redis')
        .then((access) =>
          ensureTenantUser(
            this.#o.sessions.redis(access),
            user,
            desiredAclUser(clusterName, tenantId, secrets.redisPasswordHash),
          ),
        )
        .then((drift) => {
          if (drift) this.#o.log.info('tenant Redis user written', { tenantmemory: key, drift });
          o.cache = ok('UserReady', `Redis ACL user ${user} may use keys ${prefix}* only`);
          o.redisUser = user;
          o.redisKeyPrefix = prefix;
        })
        .catch((err) => {
          o.cache = failed(err, 'Unreachable');
        }),
      this.access(cluster, 'neo4j')
        .then(async (access) => {
          const graph = this.#o.sessions.neo4j(access);
          const created = await ensureTenantGraph(
            graph,
            isolation,
            tenantId,
            dimensions,
            this.#o.pollIntervalMs,
          );
          if (created.length) this.#o.log.info('tenant graph schema created', { tenantmemory: key, created });
          const database = tenantGraphDatabase(graph, isolation, tenantId);
          o.graph = ok(
            'SchemaReady',
            `the tenant's indexes exist in database ${database} (isolation ${isolation})`,
          );
          o.neo4jDatabase = database;
          if (countDue) {
            o.usage = nextUsage(previous?.usage, await tenantUsage(graph, isolation, tenantId), new Date());
            this.#countedAt.set(key, Date.now());
          }
        })
        .catch((err) => {
          o.graph = failed(err, 'Unreachable');
        }),
      tm.spec.dedicatedTopics || previous?.topics?.length ? this.topics(step) : Promise.resolve(),
    ]);
  }

  /**
   * The tenant's own topics: claimed in status BEFORE they are created, so a topic that exists
   * without a claim is someone else's (reported, never taken) and deletion removes only ours.
   */
  private async topics(step: TenantStep): Promise<void> {
    const { key, tm, cluster, raw, o, previous } = step;
    // Claims of this process count too: the cache can lag behind our own status writes.
    const claimed = new Set([...(previous?.topics ?? []), ...(this.#claims.get(key) ?? [])]);
    o.topics = [...claimed];
    if (!tm.spec.dedicatedTopics) {
      o.topicsHealth = ok(
        'Kept',
        `dedicatedTopics is off: the tenant's topics ${o.topics.join(', ')} are kept (deleted with the tenant under deletionPolicy Delete)`,
      );
      return;
    }
    try {
      const shapes = tenantTopics(cluster, tm.spec.tenantId);
      const admin = this.#o.kafka.forCluster(
        `tenant:${key}`,
        await kafkaConnection(cluster, this.#o.secrets, this.#o.managedKafkaAddressOverride),
      );
      const existing = await admin.describe(
        shapes.map((t) => t.name),
        new Map(),
      );
      const foreign = shapes.filter((t) => existing.has(t.name) && !claimed.has(t.name)).map((t) => t.name);
      if (foreign.length) {
        o.topicsHealth = {
          status: 'False',
          reason: 'TopicConflict',
          message: `topics ${foreign.join(', ')} exist and were not created for this tenant: delete them or turn dedicatedTopics off`,
          stalled: true,
        };
        return;
      }
      const missing = shapes.filter((t) => !existing.has(t.name));
      if (missing.length) {
        if (shapes.some((t) => !claimed.has(t.name))) {
          for (const t of shapes) claimed.add(t.name);
          this.#claims.set(key, new Set(claimed));
          const claim: TenantMemoryStatus = { ...previous, topics: [...claimed] };
          await this.#o.status.write(raw, claim);
        }
        // From here on the claim stands, even if the create fails (it may have created some).
        o.topics = [...claimed];
        await admin.create(missing);
        this.#o.log.info('tenant topics created', { tenantmemory: key, topics: missing.map((t) => t.name) });
      }
      o.topicsHealth = ok('TopicsReady', `the tenant has its own ${shapes.length} topics`);
    } catch (err) {
      o.topicsHealth = failed(err, 'KafkaUnreachable');
    }
  }

  private access(cluster: MemoryCluster, component: StoreComponent): Promise<StoreAccess> {
    return storeAccess(cluster, component, this.#o.secrets, this.#o.managedAddress(cluster, component));
  }

  /** Deletion: Delete purges graph, keys, ACL user and Secret; Retain keeps all; bounded by a timeout. */
  private async finalize(
    tm: TenantMemory,
    raw: KubeObject,
    cluster: MemoryCluster | undefined,
  ): Promise<ReconcileResult> {
    const ns = tm.metadata.namespace ?? 'default';
    const owner = cluster ? this.owner(ns, cluster.metadata.name, tm.spec.tenantId) : undefined;
    const skip = purgeSkip(tm, cluster, owner);
    return runFinalizer({
      client: this.#o.client,
      events: this.#o.events,
      type: Types.TenantMemory,
      raw,
      finalizer: FINALIZERS.tenantData,
      skip,
      clean: () => this.purge(tm, cluster!),
      leftBehind: `the tenant's keys, graph and Redis user may remain (tenant ${tm.spec.tenantId})`,
      reasons: { failed: 'TenantPurgeFailed', abandoned: 'TenantPurgeAbandoned' },
    });
  }

  private async purge(tm: TenantMemory, cluster: MemoryCluster): Promise<{ reason: string; note: string }> {
    const tenantId = tm.spec.tenantId;
    const clusterName = cluster.metadata.name;
    const isolation = (cluster.spec.neo4j.tenantIsolation ??
      DEFAULT_MANAGED_NEO4J.tenantIsolation) as Isolation;
    const key = `${tm.metadata.namespace}/${tm.metadata.name}`;
    const topics = [...new Set([...(tm.status?.topics ?? []), ...(this.#claims.get(key) ?? [])])];
    const owner = `tenant:${key}`;
    const [keys, nodes, dropped] = await Promise.allSettled([
      this.access(cluster, 'redis').then((a) =>
        purgeTenantRedis(
          this.#o.sessions.redis(a),
          clusterName,
          tenantId,
          tenantRedisUser(clusterName, tenantId),
        ),
      ),
      this.access(cluster, 'neo4j').then((a) =>
        purgeTenantGraph(this.#o.sessions.neo4j(a), isolation, tenantId),
      ),
      topics.length
        ? kafkaConnection(cluster, this.#o.secrets, this.#o.managedKafkaAddressOverride).then((conn) =>
            this.#o.kafka
              .forCluster(owner, conn)
              .delete(topics)
              .finally(() => this.#o.kafka.release(owner)),
          )
        : Promise.resolve(),
    ]);
    const errors = [keys, nodes, dropped].flatMap((r) =>
      r.status === 'rejected' ? [(r.reason as Error).message] : [],
    );
    if (errors.length) throw new Error(errors.join('; '));
    await this.#o.client.delete(Types.Secret, tm.metadata.namespace ?? 'default', credentialsSecretName(tm));
    const count = (r: PromiseSettledResult<number>) => (r.status === 'fulfilled' ? r.value : 0);
    return {
      reason: 'TenantPurged',
      note: `purged tenant ${tenantId}: ${count(keys)} Redis keys, ${count(nodes)} graph nodes, ${topics.length} topics, its Redis user and Secret ${credentialsSecretName(tm)}`,
    };
  }
}

/** The index of TenantMemories by `namespace/cluster/tenantId`: who else claims a tenant's id. */
export const TENANT_ID_INDEX = 'tenantId';
export const tenantIdOf = (o: KubeObject): string[] => {
  const spec = o.spec as { clusterRef?: { name?: string }; tenantId?: string } | undefined;
  return spec?.clusterRef?.name && spec.tenantId
    ? [`${o.metadata.namespace}/${spec.clusterRef.name}/${spec.tenantId}`]
    : [];
};

/** The cluster's stores a tenant waits for. */
const TENANT_STORE_CONDITIONS = [CONDITION_TYPES.cacheReady, CONDITION_TYPES.graphStoreReady];

/**
 * Whether a cluster update changes what its tenants read (pure): its spec, deletion, annotations,
 * or its stores' readiness. Its summary columns (ready tenants, pools, lag) do not count.
 */
export function clusterChangedForTenants(oldObj: KubeObject, newObj: KubeObject): boolean {
  if (specChanged(oldObj, newObj)) return true;
  type Conditions = Parameters<typeof findCondition>[0];
  const conditions = (o: KubeObject) => (o.status as { conditions?: Conditions } | undefined)?.conditions;
  return TENANT_STORE_CONDITIONS.some((type) => {
    const a = findCondition(conditions(oldObj), type);
    const b = findCondition(conditions(newObj), type);
    return a?.status !== b?.status || a?.message !== b?.message;
  });
}

/** Why a tenant's purge is skipped (kept on purpose, or moot), or undefined to purge (pure). */
export function purgeSkip(
  tm: TenantMemory,
  cluster: MemoryCluster | undefined,
  tenantIdOwner: string | undefined,
): { reason: string; note: string } | undefined {
  const skipped = (note: string) => ({ reason: 'TenantPurgeSkipped', note });
  if (annotationEnabled(tm.metadata.annotations, ANNOTATIONS.skipTenantPurge))
    return skipped(`${ANNOTATIONS.skipTenantPurge} is "true": the tenant data is kept`);
  if (tm.spec.deletionPolicy !== 'Delete')
    return { reason: 'TenantDataRetained', note: 'deletionPolicy is Retain: the tenant data is kept' };
  if (!cluster)
    return skipped(
      `MemoryCluster ${tm.spec.clusterRef.name} is gone, so its stores are unknown: the tenant data may remain in them`,
    );
  if (cluster.metadata.deletionTimestamp && cluster.spec.redis.managed && cluster.spec.neo4j.managed)
    return skipped(
      `MemoryCluster ${cluster.metadata.name} is being deleted with its managed stores and their volumes: nothing to purge`,
    );
  if (tenantIdOwner !== tm.metadata.name)
    return skipped(
      `tenantId ${tm.spec.tenantId} belongs to TenantMemory ${tenantIdOwner}: its data is not purged`,
    );
  return undefined;
}
