/**
 * MemoryCluster reconciliation: observe (caches) -> build desired (pure) -> apply what differs
 * (SSA) -> reconcile topics (diff before alter) -> compute status (pure) -> write it if changed.
 */
import { randomBytes } from 'node:crypto';
import { durationToMilliseconds, effectiveTopicPrefix, effectiveTopics } from '../api/defaults.ts';
import {
  type MemoryCluster,
  type MemoryClusterStatus,
  memoryClusterSchema,
  type TopicStatus,
} from '../api/memorycluster.ts';
import {
  ANNOTATIONS,
  annotationEnabled,
  CONDITION_TYPES,
  FINALIZER_TIMEOUT_SECONDS,
  FINALIZERS,
  LABELS,
} from '../api/wellknown.ts';
import { findCondition } from '../controller/conditions.ts';
import type { Logger } from '../controller/logger.ts';
import type { Cache, Controller, ReconcileResult } from '../controller/manager.ts';
import type { KafkaConnection, TopicAdmin, TopicAdminPool } from '../kafka/topic-admin.ts';
import { isConflict, KubeApiError, type KubeClient, type KubeObject } from '../kube/client.ts';
import { firstDrift } from '../kube/drift.ts';
import type { EventRecorder } from '../kube/events.ts';
import { splitKey, Types } from '../kube/resources.ts';
import { checkNeo4j, checkRedis, type StoreCredentials } from '../stores/connectivity.ts';
import { childName } from './desired/meta.ts';
import { buildNeo4jChildren, NEO4J_BOLT_PORT } from './desired/neo4j.ts';
import { buildRedisChildren, REDIS_PORT } from './desired/redis.ts';
import { buildRedpandaChildren, managedKafkaBootstrap } from './desired/redpanda.ts';
import { buildGeneratedCredentials, type CredentialsRef, managedCredentials } from './desired/store.ts';
import {
  type ClusterObservation,
  computeClusterStatus,
  type PartHealth,
  statefulSetHealth,
} from './status.ts';
import { isEmptyPlan, type TopicShape, topicPlan } from './topic-plan.ts';

export interface MemoryClusterCaches {
  clusters: Cache;
  statefulSets: Cache;
  services: Cache;
  configMaps: Cache;
  secrets: Cache;
  pdbs: Cache;
  networkPolicies: Cache;
  workerPools: Cache;
  tenants: Cache;
}

export interface MemoryClusterReconcilerOptions {
  client: KubeClient;
  caches: MemoryClusterCaches;
  kafka: TopicAdminPool;
  events: EventRecorder;
  log: Logger;
  /** Poll period of external state (brokers, external stores) while everything is ready. */
  pollIntervalMs: number;
  /**
   * Address the operator uses for managed Kafka instead of the in-cluster Service, for an
   * operator running outside the cluster (local environments).
   */
  managedKafkaAddressOverride?: string;
}

export class MemoryClusterReconciler implements Controller {
  readonly name = 'memorycluster';
  readonly primary: Cache;
  private readonly o: MemoryClusterReconcilerOptions;
  private readonly externalChecks = new Map<string, { at: number; health: PartHealth }>();
  /**
   * Topic names this process claimed per cluster uid. The informer cache can lag our own status
   * writes; without this a reconcile right after a claim would see our topics as foreign.
   */
  private readonly claimed = new Map<string, Set<string>>();

  /** The cache of each kind of child, by kind (its ResourceType comes with it). */
  private readonly children: ReadonlyMap<string, Cache>;

  constructor(o: MemoryClusterReconcilerOptions) {
    this.o = o;
    this.primary = o.caches.clusters;
    const c = o.caches;
    this.children = new Map(
      [c.configMaps, c.services, c.statefulSets, c.pdbs, c.networkPolicies, c.secrets].map((cache) => [
        cache.type.kind,
        cache,
      ]),
    );
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const { namespace, name } = splitKey(key);
    const cached = this.o.caches.clusters.get(namespace, name);
    if (!cached) {
      for (const uid of this.claimed.keys())
        if (!this.o.caches.clusters.list().some((c) => c.metadata.uid === uid)) this.claimed.delete(uid);
      await this.o.kafka.release(key);
      this.externalChecks.delete(key);
      return {};
    }
    // A copy: status writes below move it forward without touching the informer's cache.
    const raw = structuredClone(cached);
    const parsed = memoryClusterSchema.safeParse(raw);
    if (!parsed.success) {
      // The CRD's schema should make this impossible; say so rather than guess.
      this.o.log.error('MemoryCluster does not match the operator schema', {
        key,
        issues: parsed.error.message,
      });
      return {};
    }
    const cluster = parsed.data;
    const log = this.o.log.child({ memorycluster: key, generation: cluster.metadata.generation });

    if (cluster.metadata.deletionTimestamp) return this.finalize(key, cluster, raw);

    const paused =
      cluster.spec.paused === true || annotationEnabled(cluster.metadata.annotations, ANNOTATIONS.paused);
    if (paused) {
      await this.writeStatus(raw, this.pausedObservation(cluster));
      return {};
    }
    await this.syncFinalizer(cluster, raw);

    const applyErrors = new Map<string, string>();
    const desired: KubeObject[] = [];
    const { neo4j, redis, kafka } = cluster.spec;
    if (neo4j.managed) desired.push(...buildNeo4jChildren(cluster, neo4j.managed));
    if (redis.managed) desired.push(...buildRedisChildren(cluster, redis.managed));
    if (kafka.managed) desired.push(...buildRedpandaChildren(cluster, kafka.managed));
    // Children are independent objects: apply them concurrently; the topics run meanwhile.
    const applied = Promise.all(
      desired.map(async (obj) => {
        try {
          await this.applyIfDrifted(obj);
        } catch (err) {
          const component = obj.metadata.labels?.[LABELS.name] ?? 'unknown';
          applyErrors.set(
            component,
            `cannot apply ${obj.kind} ${obj.metadata.name}: ${(err as Error).message}`,
          );
          log.warn('apply failed', { kind: obj.kind, name: obj.metadata.name, err });
        }
      }),
    );
    const credentials = Promise.all(
      (['neo4j', 'redis'] as const)
        .filter((component) => cluster.spec[component].managed)
        .map((component) =>
          this.ensureGeneratedCredentials(cluster, component).catch((err) =>
            applyErrors.set(component, `cannot create credentials: ${(err as Error).message}`),
          ),
        ),
    );
    const [topics] = await Promise.all([this.reconcileTopics(key, cluster, raw), applied, credentials]);
    const observation: ClusterObservation = {
      generation: cluster.metadata.generation ?? 0,
      paused: false,
      topicPrefix: effectiveTopicPrefix(cluster.spec, namespace ?? 'default', name),
      topics,
      graphStore: await this.storeHealth(key, cluster, 'neo4j', applyErrors.get('neo4j')),
      cache: await this.storeHealth(key, cluster, 'redis', applyErrors.get('redis')),
      workers: this.workersHealth(cluster),
      tenants: this.o.caches.tenants
        .list(namespace)
        .filter((t) => (t.spec as { clusterRef?: { name?: string } }).clusterRef?.name === name).length,
      endpoints: this.endpoints(cluster),
      credentials: {
        ...(neo4j.managed ? { neo4jSecretName: managedCredentials(cluster, 'neo4j').name } : {}),
        ...(neo4j.external ? { neo4jSecretName: neo4j.external.credentialsSecretRef.name } : {}),
        ...(redis.managed ? { redisSecretName: managedCredentials(cluster, 'redis').name } : {}),
        ...(redis.external?.credentialsSecretRef
          ? { redisSecretName: redis.external.credentialsSecretRef.name }
          : {}),
      },
    };
    if (applyErrors.has('kafka')) {
      observation.topics = {
        ...observation.topics,
        status: 'False',
        reason: 'ApplyFailed',
        message: applyErrors.get('kafka')!,
      };
    }
    const status = await this.writeStatus(raw, observation);
    const ready = findCondition(status.conditions, CONDITION_TYPES.ready)?.status === 'True';
    return { requeueAfterMs: ready ? this.o.pollIntervalMs : Math.min(this.o.pollIntervalMs, 10_000) };
  }

  /** Generated credentials are created once and never applied again: the password never changes. */
  private async ensureGeneratedCredentials(
    cluster: MemoryCluster,
    component: 'neo4j' | 'redis',
  ): Promise<void> {
    const ref = managedCredentials(cluster, component);
    if (!ref.generated) return;
    if (this.o.caches.secrets.get(cluster.metadata.namespace, ref.name)) return;
    // A cache miss may just be lag after our own create: a 409 means it exists, which is fine.
    const password = randomBytes(24).toString('base64url');
    try {
      await this.o.client.create(Types.Secret, buildGeneratedCredentials(cluster, component, password));
      this.o.events.emit(
        cluster as unknown as KubeObject,
        'Normal',
        'CredentialsGenerated',
        `generated ${component} credentials in Secret ${ref.name}`,
      );
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
  }

  /** Server-side apply only when the live object lacks a desired field: no write when unchanged. */
  private async applyIfDrifted(obj: KubeObject): Promise<void> {
    const cache = this.children.get(obj.kind!)!;
    const live = cache.get(obj.metadata.namespace, obj.metadata.name);
    if (live && obj.kind === 'StatefulSet') {
      // volumeClaimTemplates are immutable: keep what the StatefulSet was created with.
      (obj.spec as Record<string, unknown>).volumeClaimTemplates = (
        live.spec as Record<string, unknown>
      ).volumeClaimTemplates;
    }
    if (live && !firstDrift(obj, live)) return;
    await this.o.client.apply(cache.type, obj);
  }

  private async syncFinalizer(cluster: MemoryCluster, raw: KubeObject): Promise<void> {
    const wants = cluster.spec.topicDeletionPolicy === 'Delete';
    const finalizers = cluster.metadata.finalizers ?? [];
    const has = finalizers.includes(FINALIZERS.topics);
    if (wants === has) return;
    const next = wants
      ? [...finalizers, FINALIZERS.topics]
      : finalizers.filter((f) => f !== FINALIZERS.topics);
    const patched = await this.o.client.mergePatch(
      Types.MemoryCluster,
      cluster.metadata.namespace,
      cluster.metadata.name,
      { metadata: { finalizers: next, resourceVersion: raw.metadata.resourceVersion } },
    );
    // Later writes in this reconcile are locked against the object as it is now.
    raw.metadata.resourceVersion = patched.metadata.resourceVersion;
    raw.metadata.finalizers = next;
  }

  /** Deletion: children go by garbage collection; topics only under policy Delete, with a timeout. */
  private async finalize(key: string, cluster: MemoryCluster, raw: KubeObject): Promise<ReconcileResult> {
    const finalizers = cluster.metadata.finalizers ?? [];
    if (!finalizers.includes(FINALIZERS.topics)) {
      await this.o.kafka.release(key);
      return {};
    }
    const skip = annotationEnabled(cluster.metadata.annotations, ANNOTATIONS.skipTopicDeletion);
    const timeoutMs = this.finalizerTimeoutMs(cluster);
    const waitedMs = Date.now() - Date.parse(cluster.metadata.deletionTimestamp as string);
    let done = skip || cluster.spec.topicDeletionPolicy !== 'Delete';
    if (!done) {
      const names = effectiveTopics(
        cluster.spec,
        cluster.metadata.namespace ?? 'default',
        cluster.metadata.name,
      ).map((t) => t.name);
      try {
        const admin = await this.topicAdmin(key, cluster);
        await admin.delete(names);
        this.o.events.emit(raw, 'Normal', 'TopicsDeleted', `deleted topics ${names.join(', ')}`, 'Delete');
        done = true;
      } catch (err) {
        if (waitedMs < timeoutMs) {
          this.o.events.emit(
            raw,
            'Warning',
            'TopicDeletionFailed',
            `${(err as Error).message}; retrying`,
            'Delete',
          );
          return { requeueAfterMs: Math.min(5_000, Math.max(500, timeoutMs - waitedMs)) };
        }
        this.o.events.emit(
          raw,
          'Warning',
          'TopicDeletionAbandoned',
          `gave up deleting topics after ${Math.round(waitedMs / 1000)}s: ${(err as Error).message}; the topics may remain on the broker`,
          'Delete',
        );
        done = true;
      }
    } else if (skip) {
      this.o.events.emit(
        raw,
        'Normal',
        'TopicDeletionSkipped',
        `annotation ${ANNOTATIONS.skipTopicDeletion} is set; topics kept`,
        'Delete',
      );
    }
    await this.o.client.mergePatch(Types.MemoryCluster, cluster.metadata.namespace, cluster.metadata.name, {
      metadata: {
        finalizers: finalizers.filter((f) => f !== FINALIZERS.topics),
        resourceVersion: raw.metadata.resourceVersion,
      },
    });
    await this.o.kafka.release(key);
    return {};
  }

  private finalizerTimeoutMs(cluster: MemoryCluster): number {
    const value = cluster.metadata.annotations?.[ANNOTATIONS.finalizerTimeout];
    if (value) {
      try {
        return durationToMilliseconds(value);
      } catch {
        // An unparsable annotation falls back to the default rather than hanging deletion.
      }
    }
    return FINALIZER_TIMEOUT_SECONDS * 1000;
  }

  private async readSecret(namespace: string, name: string): Promise<Record<string, string>> {
    const secret = await this.o.client.getOrUndefined(Types.Secret, namespace, name);
    if (!secret)
      throw new UserError('SecretNotFound', `Secret ${name} not found in namespace ${namespace}: create it`);
    const data = (secret.data ?? {}) as Record<string, string>;
    return Object.fromEntries(
      Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
    );
  }

  private async credentials(
    namespace: string,
    ref: CredentialsRef | { name: string; usernameKey?: string; passwordKey?: string },
  ): Promise<StoreCredentials> {
    const data = await this.readSecret(namespace, ref.name);
    const usernameKey = ref.usernameKey ?? 'username';
    const passwordKey = ref.passwordKey ?? 'password';
    if (data[passwordKey] === undefined) {
      throw new UserError(
        'SecretKeyMissing',
        `Secret ${ref.name} has no key ${passwordKey}: add it or set passwordKey`,
      );
    }
    return { username: data[usernameKey] ?? '', password: data[passwordKey], source: `Secret ${ref.name}` };
  }

  private async kafkaConnection(cluster: MemoryCluster): Promise<KafkaConnection> {
    const ns = cluster.metadata.namespace ?? 'default';
    const { managed, external } = cluster.spec.kafka;
    if (managed || !external) {
      return { brokers: [this.o.managedKafkaAddressOverride ?? managedKafkaBootstrap(cluster)] };
    }
    const conn: KafkaConnection = { brokers: external.bootstrapServers };
    if (external.tls) {
      const tls: NonNullable<KafkaConnection['tls']> = {};
      if (external.tls.caSecretRef) {
        const data = await this.readSecret(ns, external.tls.caSecretRef.name);
        tls.ca = data[external.tls.caSecretRef.key];
      }
      if (external.tls.clientCertSecretRef) {
        const data = await this.readSecret(ns, external.tls.clientCertSecretRef.name);
        tls.cert = data['tls.crt'];
        tls.key = data['tls.key'];
      }
      conn.tls = tls;
    }
    if (external.sasl) {
      const creds = await this.credentials(ns, external.sasl.credentialsSecretRef);
      const mechanism = external.sasl.mechanism.toLowerCase() as 'plain' | 'scram-sha-256' | 'scram-sha-512';
      conn.sasl = { mechanism, username: creds.username, password: creds.password };
    }
    return conn;
  }

  private async topicAdmin(key: string, cluster: MemoryCluster): Promise<TopicAdmin> {
    return this.o.kafka.forCluster(key, await this.kafkaConnection(cluster));
  }

  private async reconcileTopics(
    key: string,
    cluster: MemoryCluster,
    raw: KubeObject,
  ): Promise<ClusterObservation['topics']> {
    const ns = cluster.metadata.namespace ?? 'default';
    const effective = effectiveTopics(cluster.spec, ns, cluster.metadata.name);
    const previous = (raw.status as MemoryClusterStatus | undefined)?.topics ?? [];
    const list = this.claimedList(cluster.metadata.uid ?? key, effective, previous, new Map());
    try {
      const admin = await this.topicAdmin(key, cluster);
      const configKeys = new Map(effective.map((t) => [t.name, Object.keys(t.config)]));
      const current = await admin.describe(
        effective.map((t) => t.name),
        configKeys,
      );
      const desired: TopicShape[] = effective.map((t) => ({
        name: t.name,
        partitions: t.partitions,
        // Unset means the broker's default; compare against what exists, create with -1.
        replicationFactor: t.replicationFactor ?? current.get(t.name)?.replicationFactor ?? -1,
        configs: t.config,
      }));
      const uid = cluster.metadata.uid ?? key;
      const managed = new Set([...previous.map((t) => t.name), ...(this.claimed.get(uid) ?? [])]);
      const plan = topicPlan(desired, current, managed);
      const unclaimed = plan.create.filter((t) => !managed.has(t.name));
      if (unclaimed.length) {
        // Claim the names in status BEFORE creating them: a crash between create and the final
        // status write must not make our own topics look foreign on the next reconcile.
        this.claimed.set(uid, new Set([...managed, ...unclaimed.map((t) => t.name)]));
        await this.claimTopics(raw, this.claimedList(uid, effective, previous, current));
      }
      if (!isEmptyPlan(plan)) {
        await admin.create(plan.create);
        await admin.grow(plan.grow);
        await admin.alterConfigs(plan.alterConfigs);
        const what = [
          plan.create.length ? `created ${plan.create.map((t) => t.name).join(', ')}` : '',
          plan.grow.length
            ? `grew ${plan.grow.map((g) => `${g.name} ${g.from}->${g.partitions}`).join(', ')}`
            : '',
          plan.alterConfigs.length
            ? `reconfigured ${plan.alterConfigs.map((a) => `${a.name} (${a.changed.join(', ')})`).join(', ')}`
            : '',
        ]
          .filter(Boolean)
          .join('; ');
        this.o.events.emit(raw, 'Normal', 'TopicsUpdated', what);
      }
      // After a successful plan the broker holds what each acknowledged call set, so no second
      // describe is needed, unless a new topic's replication factor was left to the broker.
      const after = new Map(current);
      for (const t of plan.create) after.set(t.name, t);
      for (const g of plan.grow) after.set(g.name, { ...after.get(g.name)!, partitions: g.partitions });
      for (const a of plan.alterConfigs) {
        const shape = after.get(a.name)!;
        after.set(a.name, { ...shape, configs: { ...shape.configs, ...a.configs } });
      }
      if (plan.create.some((t) => t.replicationFactor < 0)) {
        for (const [name, shape] of await admin.describe(
          plan.create.map((t) => t.name),
          configKeys,
        ))
          after.set(name, shape);
      }
      const conflicted = new Set(
        plan.problems.filter((p) => p.reason === 'TopicConflict').map((p) => p.topic),
      );
      const topicList = effective
        .filter((t) => after.has(t.name) && !conflicted.has(t.name))
        .map((t) => {
          const shape = after.get(t.name)!;
          return {
            key: t.key,
            name: t.name,
            partitions: shape.partitions,
            replicationFactor: shape.replicationFactor,
            config: shape.configs,
          };
        });
      if (plan.problems.length) {
        const reason = plan.problems.some((p) => p.reason === 'NotSupported')
          ? 'NotSupported'
          : 'TopicConflict';
        return {
          status: 'False',
          reason,
          message: plan.problems.map((p) => p.message).join('; '),
          stalled: true,
          list: topicList,
        };
      }
      return {
        status: 'True',
        reason: 'TopicsReady',
        message: `${topicList.length} topics exist with the declared partitions and configs`,
        list: topicList,
      };
    } catch (err) {
      const reason =
        err instanceof UserError
          ? err.reason
          : /credentials/.test((err as Error).message)
            ? 'KafkaAuthenticationFailed'
            : 'KafkaUnavailable';
      return { status: 'False', reason, message: (err as Error).message, list };
    }
  }

  /**
   * Every topic this cluster has claimed, for status: a status write is a server-side apply, so a
   * list built from a stale cache would silently drop claims. Shapes come from the broker when
   * known, else from the last status, else placeholders (0 partitions: not created yet).
   */
  private claimedList(
    uid: string,
    effective: ReturnType<typeof effectiveTopics>,
    previous: TopicStatus[],
    current: Map<string, TopicShape>,
  ): TopicStatus[] {
    const names = new Set([...previous.map((t) => t.name), ...(this.claimed.get(uid) ?? [])]);
    return effective
      .filter((t) => names.has(t.name))
      .map((t) => {
        const shape = current.get(t.name);
        const last = previous.find((p) => p.name === t.name);
        if (shape) {
          return {
            key: t.key,
            name: t.name,
            partitions: shape.partitions,
            replicationFactor: shape.replicationFactor,
            config: shape.configs,
          };
        }
        return last ?? { key: t.key, name: t.name, partitions: 0, replicationFactor: 0 };
      });
  }

  private async claimTopics(raw: KubeObject, topics: TopicStatus[]): Promise<void> {
    await this.updateStatus(raw, { ...((raw.status as MemoryClusterStatus | undefined) ?? {}), topics });
  }

  /**
   * Writes status with optimistic locking against the object it was computed from, and moves
   * `raw` to the stored result. A write from stale state (a lagging cache, or a killed process's
   * request landing late) is refused with 409 instead of erasing newer status, such as topic claims.
   */
  private async updateStatus(raw: KubeObject, status: MemoryClusterStatus): Promise<void> {
    const updated = await this.o.client.replaceStatus(Types.MemoryCluster, {
      apiVersion: 'engram.dev/v1alpha1',
      kind: 'MemoryCluster',
      metadata: { ...raw.metadata, managedFields: undefined },
      spec: raw.spec,
      status,
    } as unknown as KubeObject);
    raw.metadata.resourceVersion = updated.metadata.resourceVersion;
    raw.status = updated.status;
  }

  private async storeHealth(
    key: string,
    cluster: MemoryCluster,
    component: 'neo4j' | 'redis',
    applyError: string | undefined,
  ): Promise<PartHealth> {
    const what = component === 'neo4j' ? 'Neo4j' : 'Redis';
    if (applyError) return { status: 'False', reason: 'ApplyFailed', message: applyError };
    const ns = cluster.metadata.namespace ?? 'default';
    if (component === 'neo4j' ? cluster.spec.neo4j.managed : cluster.spec.redis.managed) {
      const storageClass = (component === 'neo4j' ? cluster.spec.neo4j.managed : cluster.spec.redis.managed)
        ?.storage?.storageClassName;
      const sts = this.o.caches.statefulSets.get(ns, childName(cluster, component));
      const health = statefulSetHealth(sts, what);
      if (health.status !== 'True' && storageClass) {
        const sc = await this.o.client
          .getOrUndefined(Types.StorageClass, undefined, storageClass)
          .catch(() => undefined);
        if (!sc) {
          return {
            status: 'False',
            reason: 'StorageClassNotFound',
            message: `StorageClass ${storageClass} does not exist, so ${what}'s volume cannot be provisioned: create it or set spec.${component}.managed.storage.storageClassName to an existing class`,
          };
        }
      }
      return health;
    }
    const cacheKey = `${key}|${component}`;
    const cached = this.externalChecks.get(cacheKey);
    if (cached && Date.now() - cached.at < 15_000) return cached.health;
    let health: PartHealth;
    try {
      if (component === 'neo4j') {
        const ext = cluster.spec.neo4j.external!;
        health = await checkNeo4j(
          ext.uri,
          await this.credentials(ns, ext.credentialsSecretRef),
          ext.database,
        );
      } else {
        const ext = cluster.spec.redis.external!;
        const creds = ext.credentialsSecretRef
          ? await this.credentials(ns, ext.credentialsSecretRef)
          : undefined;
        health = await checkRedis(ext.uri, creds, ext.database ?? 0);
      }
    } catch (err) {
      health = {
        status: 'False',
        reason: err instanceof UserError ? err.reason : 'CheckFailed',
        message: `${what}: ${(err as Error).message}`,
      };
    }
    this.externalChecks.set(cacheKey, { at: Date.now(), health });
    return health;
  }

  private workersHealth(cluster: MemoryCluster): ClusterObservation['workers'] {
    const pools = this.o.caches.workerPools
      .list(cluster.metadata.namespace)
      .filter(
        (p) => (p.spec as { clusterRef?: { name?: string } }).clusterRef?.name === cluster.metadata.name,
      );
    let replicas = 0;
    let readyReplicas = 0;
    let totalLag: number | undefined;
    const notReady: string[] = [];
    for (const p of pools) {
      const st = (p.status ?? {}) as { replicas?: number; readyReplicas?: number; lag?: number };
      const want = st.replicas ?? (p.spec as { replicas?: number }).replicas ?? 0;
      replicas += want;
      readyReplicas += st.readyReplicas ?? 0;
      if (typeof st.lag === 'number') totalLag = (totalLag ?? 0) + st.lag;
      const ready = (
        p.status as { conditions?: Array<{ type: string; status: string }> } | undefined
      )?.conditions?.find((c) => c.type === 'Ready');
      if (ready?.status !== 'True') notReady.push(p.metadata.name);
    }
    if (!pools.length) {
      return {
        status: 'True',
        reason: 'NoWorkerPools',
        message: 'no WorkerPool references this cluster yet',
        pools: 0,
        replicas,
        readyReplicas,
        totalLag,
      };
    }
    if (notReady.length) {
      return {
        status: 'Unknown',
        reason: 'WorkersNotReady',
        message: `worker pools not ready: ${notReady.join(', ')}`,
        pools: pools.length,
        replicas,
        readyReplicas,
        totalLag,
      };
    }
    return {
      status: 'True',
      reason: 'WorkersReady',
      message: `${pools.length} worker pool(s) ready`,
      pools: pools.length,
      replicas,
      readyReplicas,
      totalLag,
    };
  }

  private endpoints(cluster: MemoryCluster): ClusterObservation['endpoints'] {
    const ns = cluster.metadata.namespace ?? 'default';
    const svc = (component: string) => `${childName(cluster, component)}.${ns}.svc`;
    const { kafka, neo4j, redis } = cluster.spec;
    return {
      kafka: kafka.external ? kafka.external.bootstrapServers.join(',') : managedKafkaBootstrap(cluster),
      bolt: neo4j.external ? neo4j.external.uri : `bolt://${svc('neo4j')}:${NEO4J_BOLT_PORT}`,
      redis: redis.external ? redis.external.uri : `redis://${svc('redis')}:${REDIS_PORT}`,
    };
  }

  private pausedObservation(cluster: MemoryCluster): ClusterObservation {
    const prev = cluster.status;
    const keep = (type: string): PartHealth => {
      const c = findCondition(prev?.conditions, type);
      return c
        ? { status: c.status, reason: c.reason, message: c.message }
        : { status: 'Unknown', reason: 'Paused', message: 'not observed: reconciliation is paused' };
    };
    return {
      generation: cluster.metadata.generation ?? 0,
      paused: true,
      topicPrefix: prev?.topicPrefix ?? '',
      topics: { ...keep(CONDITION_TYPES.topicsReady), list: prev?.topics ?? [] },
      graphStore: keep(CONDITION_TYPES.graphStoreReady),
      cache: keep(CONDITION_TYPES.cacheReady),
      workers: {
        ...keep(CONDITION_TYPES.workersReady),
        pools: prev?.workers?.pools ?? 0,
        replicas: prev?.workers?.replicas ?? 0,
        readyReplicas: prev?.workers?.readyReplicas ?? 0,
        totalLag: prev?.totalLag,
      },
      tenants: prev?.tenants ?? 0,
      endpoints: prev?.endpoints ?? {},
      credentials: prev?.credentials ?? {},
    };
  }

  /** Computes status and writes it through the status subresource only when it changed. */
  private async writeStatus(raw: KubeObject, o: ClusterObservation): Promise<MemoryClusterStatus> {
    const previous = raw.status as MemoryClusterStatus | undefined;
    const next = computeClusterStatus(previous, o, new Date());
    if (!firstDrift(next, previous ?? {}) && !firstDrift(previous ?? {}, next)) return next;
    this.emitTransitions(raw, previous, next);
    try {
      await this.updateStatus(raw, next);
    } catch (err) {
      if (err instanceof KubeApiError && err.code === 404) return next;
      throw err;
    }
    return next;
  }

  private emitTransitions(
    raw: KubeObject,
    previous: MemoryClusterStatus | undefined,
    next: MemoryClusterStatus,
  ): void {
    for (const c of next.conditions ?? []) {
      if (c.type === CONDITION_TYPES.reconciling || c.type === CONDITION_TYPES.stalled) continue;
      const old = findCondition(previous?.conditions, c.type);
      if (old?.status === c.status && old?.reason === c.reason) continue;
      if (c.status === 'False') this.o.events.emit(raw, 'Warning', c.reason, `${c.type}: ${c.message}`);
      else if (c.status === 'True' && old)
        this.o.events.emit(raw, 'Normal', c.reason, `${c.type}: ${c.message}`);
    }
  }
}

/** An error whose message is already the sentence for the user, with its condition reason. */
export class UserError extends Error {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}
