/**
 * MemoryCluster reconciliation: observe (caches) -> build desired (pure, desired/) -> apply what
 * differs (SSA) and the Kafka topics (topics.ts) -> compute status (pure, status.ts) -> write it
 * if it changed (StatusWriter). Deletion runs the topics finalizer (finalizer.ts).
 */
import { effectiveTopicPrefix } from '../api/defaults.ts';
import { type MemoryCluster, type MemoryClusterStatus, memoryClusterSchema } from '../api/memorycluster.ts';
import { ANNOTATIONS, annotationEnabled, CONDITION_TYPES, FINALIZERS, LABELS } from '../api/wellknown.ts';
import type { Applier } from '../controller/apply.ts';
import { findCondition, mergeConditions } from '../controller/conditions.ts';
import { runFinalizer, setFinalizer } from '../controller/finalizer.ts';
import { Limiter } from '../controller/limiter.ts';
import type { Logger } from '../controller/logger.ts';
import {
  type Cache,
  CLUSTER_REF_INDEX,
  type Controller,
  type ReconcileResult,
} from '../controller/manager.ts';
import type { StatusWriter } from '../controller/status-writer.ts';
import type { KubeClient, KubeObject } from '../kube/client.ts';
import type { EventRecorder } from '../kube/events.ts';
import { splitKey, Types } from '../kube/resources.ts';
import type { GeneratedCredentials } from './credentials.ts';
import { childName } from './desired/meta.ts';
import { buildNeo4jChildren, NEO4J_BOLT_PORT } from './desired/neo4j.ts';
import { buildRedisChildren, REDIS_PORT } from './desired/redis.ts';
import { buildRedpandaChildren, managedKafkaBootstrap } from './desired/redpanda.ts';
import { type BuildContext, managedCredentials } from './desired/store.ts';
import {
  type ClusterObservation,
  computeClusterStatus,
  computePausedStatus,
  type PartHealth,
  workersHealth,
} from './status.ts';
import type { VolumeExpansion } from './storage.ts';
import type { StoreHealth } from './stores.ts';
import type { ClusterTopics } from './topics.ts';

export interface MemoryClusterCaches {
  clusters: Cache;
  statefulSets: Cache;
  services: Cache;
  configMaps: Cache;
  /** Every Secret's metadata (never their data). */
  secretsMeta: Cache;
  pdbs: Cache;
  networkPolicies: Cache;
  workerPools: Cache;
  tenants: Cache;
}

export interface MemoryClusterReconcilerOptions {
  client: KubeClient;
  events: EventRecorder;
  caches: MemoryClusterCaches;
  applier: Applier;
  status: StatusWriter;
  topics: ClusterTopics;
  stores: StoreHealth;
  volumes: VolumeExpansion;
  credentials: GeneratedCredentials;
  log: Logger;
  build: BuildContext;
  /** Poll period of external state (brokers, external stores) while everything is ready. */
  pollIntervalMs: number;
}

type Component = 'neo4j' | 'redis' | 'kafka';
const STORE_FIELDS: Record<Component, { what: string; field: string }> = {
  neo4j: { what: 'Neo4j', field: 'spec.neo4j.managed.storage.size' },
  redis: { what: 'Redis', field: 'spec.redis.managed.storage.size' },
  kafka: { what: 'Redpanda', field: 'spec.kafka.managed.storage.size' },
};
/** Child applies one reconcile has in flight at once. */
const CHILD_APPLIES_IN_FLIGHT = 4;
const CONDITION_OF: Record<Component, string> = {
  neo4j: CONDITION_TYPES.graphStoreReady,
  redis: CONDITION_TYPES.cacheReady,
  kafka: CONDITION_TYPES.kafkaReady,
};

export class MemoryClusterReconciler implements Controller {
  readonly name = 'memorycluster';
  readonly primary: Cache;
  readonly #o: MemoryClusterReconcilerOptions;

  constructor(o: MemoryClusterReconcilerOptions) {
    this.#o = o;
    this.primary = o.caches.clusters;
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const { namespace, name } = splitKey(key);
    const cached = this.#o.caches.clusters.get(namespace, name);
    if (!cached) {
      await this.#o.topics.forget(key, undefined);
      this.#o.stores.forget(key);
      return {};
    }
    // A copy, with this process's last status write if the cache has not seen it yet: status
    // writes below move it forward without touching the informer's cache.
    const raw = this.#o.status.view(cached);
    const parsed = memoryClusterSchema.safeParse(raw);
    if (!parsed.success) return this.invalid(raw, parsed.error.message);
    const cluster = parsed.data;
    const ns = namespace ?? 'default';

    if (cluster.metadata.deletionTimestamp) return this.finalize(key, cluster, raw);
    if (cluster.spec.paused === true || annotationEnabled(cluster.metadata.annotations, ANNOTATIONS.paused)) {
      await this.#o.status.write(
        raw,
        computePausedStatus(
          raw.status as MemoryClusterStatus | undefined,
          cluster.metadata.generation ?? 0,
          new Date(),
        ),
      );
      return {};
    }
    await setFinalizer(
      this.#o.client,
      Types.MemoryCluster,
      raw,
      FINALIZERS.topics,
      cluster.spec.topicDeletionPolicy === 'Delete',
    );
    await this.#o.topics.syncSecretFinalizers(ns);

    let desired: KubeObject[];
    try {
      desired = this.build(cluster);
    } catch (err) {
      // Admission should refuse what cannot be built; if something slips through, say so in status.
      return this.invalid(raw, (err as Error).message);
    }
    const previous = raw.status as MemoryClusterStatus | undefined;
    const applyErrors = new Map<Component, string>();
    const storage = new Map<Component, PartHealth>();
    // The topics start first: their claim in status is one small write that must not queue behind
    // the children. Children are independent objects, applied a few at a time (so many clusters
    // reconciling together share the client's connections and the API server fairly).
    const t0 = performance.now();
    const took: Record<string, number> = {};
    const timed = <T>(what: string, p: Promise<T>) =>
      p.finally(() => (took[what] = Math.round(performance.now() - t0)));
    const topicsDone = timed('topics', this.#o.topics.reconcile(key, cluster, raw, this.#o.status));
    const slots = new Limiter(CHILD_APPLIES_IN_FLIGHT);
    const applied = timed(
      'children',
      Promise.all(
        desired.map((obj) =>
          slots.run(async () => {
            const component = obj.metadata.labels?.[LABELS.name] as Component;
            try {
              if (obj.kind === 'StatefulSet') {
                const live = this.#o.applier.live(obj);
                const resizing =
                  findCondition(previous?.conditions, CONDITION_OF[component])?.reason === 'VolumesResizing';
                const { what, field } = STORE_FIELDS[component];
                const growth = await this.#o.volumes.reconcile(obj, live, what, field, resizing);
                if (growth.health) storage.set(component, growth.health);
                if (growth.recreating) return;
                // volumeClaimTemplates are immutable: once the volumes grew, the template follows.
                if (live)
                  (obj.spec as Record<string, unknown>).volumeClaimTemplates = (
                    live.spec as Record<string, unknown>
                  ).volumeClaimTemplates;
              }
              await this.#o.applier.applyIfChanged(obj);
            } catch (err) {
              applyErrors.set(
                component,
                `cannot apply ${obj.kind} ${obj.metadata.name}: ${(err as Error).message}`,
              );
              this.#o.log.warn('apply failed', {
                memorycluster: key,
                kind: obj.kind,
                name: obj.metadata.name,
                err,
              });
            }
          }),
        ),
      ),
    );
    const credentials = timed(
      'credentials',
      Promise.all(
        (['neo4j', 'redis'] as const)
          .filter((component) => cluster.spec[component].managed)
          .map((component) =>
            this.#o.credentials
              .ensure(cluster, component)
              .catch((err) =>
                applyErrors.set(component, `cannot create credentials: ${(err as Error).message}`),
              ),
          ),
      ),
    );
    const [topics] = await Promise.all([topicsDone, applied, credentials]);
    const part = (component: Component, health: PartHealth): PartHealth => {
      const applyError = applyErrors.get(component);
      if (applyError) return { status: 'False', reason: 'ApplyFailed', message: applyError };
      return worse(health, storage.get(component));
    };
    const [graphStore, cache] = await Promise.all([
      this.#o.stores.check(key, cluster, 'neo4j'),
      this.#o.stores.check(key, cluster, 'redis'),
    ]);
    const observation: ClusterObservation = {
      generation: cluster.metadata.generation ?? 0,
      topicPrefix: effectiveTopicPrefix(cluster.spec, ns, name),
      ...(topics.kafkaClusterId ? { kafkaClusterId: topics.kafkaClusterId } : {}),
      kafka: part('kafka', topics.kafka),
      topics: applyErrors.has('kafka')
        ? {
            ...topics,
            status: 'Unknown',
            reason: 'WaitingForKafka',
            message: 'the managed Kafka could not be applied',
          }
        : topics,
      graphStore: part('neo4j', graphStore),
      cache: part('redis', cache),
      workers: workersHealth(this.#o.caches.workerPools.byIndex(CLUSTER_REF_INDEX, `${ns}/${name}`)),
      tenants: this.#o.caches.tenants.byIndex(CLUSTER_REF_INDEX, `${ns}/${name}`).length,
      endpoints: endpoints(cluster),
      credentials: credentialSecrets(cluster),
    };
    const status = computeClusterStatus(previous, observation, new Date());
    await this.#o.status.write(raw, status);
    this.#o.log.debug('reconciled', {
      memorycluster: key,
      topics: topics.reason,
      ms: { ...took, total: Math.round(performance.now() - t0) },
    });
    const ready = findCondition(status.conditions, CONDITION_TYPES.ready)?.status === 'True';
    return { requeueAfterMs: ready ? this.#o.pollIntervalMs : Math.min(this.#o.pollIntervalMs, 10_000) };
  }

  private build(cluster: MemoryCluster): KubeObject[] {
    const { neo4j, redis, kafka } = cluster.spec;
    const ctx = this.#o.build;
    return [
      ...(neo4j.managed ? buildNeo4jChildren(cluster, neo4j.managed, ctx) : []),
      ...(redis.managed ? buildRedisChildren(cluster, redis.managed, ctx) : []),
      ...(kafka.managed ? buildRedpandaChildren(cluster, kafka.managed, ctx) : []),
    ];
  }

  /** A spec the operator cannot act on: Ready=False with the reason, nothing else touched. */
  private async invalid(raw: KubeObject, why: string): Promise<ReconcileResult> {
    this.#o.log.error('MemoryCluster cannot be reconciled as written', {
      memorycluster: `${raw.metadata.namespace}/${raw.metadata.name}`,
      why,
    });
    const generation = raw.metadata.generation ?? 0;
    const message = `the operator cannot act on this spec: ${why}; fix the spec (admission should have refused it: please report it)`;
    const previous = raw.status as MemoryClusterStatus | undefined;
    const now = new Date();
    await this.#o.status.write(raw, {
      ...previous,
      observedGeneration: generation,
      conditions: mergeConditions(
        previous?.conditions,
        [
          { type: CONDITION_TYPES.ready, status: 'False', reason: 'InvalidSpec', message },
          { type: CONDITION_TYPES.stalled, status: 'True', reason: 'InvalidSpec', message },
          { type: CONDITION_TYPES.reconciling, status: 'False', reason: 'Stalled', message },
        ],
        generation,
        now,
      ),
    });
    return {};
  }

  /** Deletion: children go by garbage collection; topics only under policy Delete, with a timeout. */
  private async finalize(key: string, cluster: MemoryCluster, raw: KubeObject): Promise<ReconcileResult> {
    const topics = this.#o.topics;
    const result = await runFinalizer({
      client: this.#o.client,
      events: this.#o.events,
      type: Types.MemoryCluster,
      raw,
      finalizer: FINALIZERS.topics,
      skip:
        cluster.spec.topicDeletionPolicy === 'Delete'
          ? topics.deletionSkip(cluster)
          : { reason: 'TopicsKept', note: 'topicDeletionPolicy is Retain: topics kept' },
      clean: () => topics.deleteOwnedTopics(key, cluster, raw),
      leftBehind: 'the topics may remain on the broker',
      reasons: { failed: 'TopicDeletionFailed', abandoned: 'TopicDeletionAbandoned' },
    });
    if (result.requeueAfterMs) return result;
    // The credentials it kept for this are free now, unless another cluster still needs them.
    await topics.syncSecretFinalizers(cluster.metadata.namespace ?? 'default', cluster.metadata.uid);
    await topics.forget(key, cluster.metadata.uid);
    this.#o.stores.forget(key);
    return {};
  }
}

/** The worse of two healths: False over Unknown over True. */
function worse(a: PartHealth, b: PartHealth | undefined): PartHealth {
  if (!b) return a;
  const rank = { False: 0, Unknown: 1, True: 2 } as const;
  return rank[b.status] < rank[a.status] ? b : a;
}

function endpoints(cluster: MemoryCluster): ClusterObservation['endpoints'] {
  const ns = cluster.metadata.namespace ?? 'default';
  const svc = (component: string) => `${childName(cluster, component)}.${ns}.svc`;
  const { kafka, neo4j, redis } = cluster.spec;
  return {
    kafka: kafka.external ? kafka.external.bootstrapServers.join(',') : managedKafkaBootstrap(cluster),
    bolt: neo4j.external ? neo4j.external.uri : `bolt://${svc('neo4j')}:${NEO4J_BOLT_PORT}`,
    redis: redis.external ? redis.external.uri : `redis://${svc('redis')}:${REDIS_PORT}`,
  };
}

function credentialSecrets(cluster: MemoryCluster): ClusterObservation['credentials'] {
  const { neo4j, redis } = cluster.spec;
  return {
    ...(neo4j.managed ? { neo4jSecretName: managedCredentials(cluster, 'neo4j').name } : {}),
    ...(neo4j.external ? { neo4jSecretName: neo4j.external.credentialsSecretRef.name } : {}),
    ...(redis.managed ? { redisSecretName: managedCredentials(cluster, 'redis').name } : {}),
    ...(redis.external?.credentialsSecretRef
      ? { redisSecretName: redis.external.credentialsSecretRef.name }
      : {}),
  };
}
