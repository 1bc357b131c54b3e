/**
 * A MemoryCluster's Kafka side: connect with the cluster's credentials, work out which topics are
 * this cluster's (topic-ownership.ts), diff them against the broker (topic-plan.ts), claim new
 * names in status BEFORE creating them, apply the plan, and on deletion remove only the topics
 * this cluster created.
 */
import type { MemoryCluster, MemoryClusterStatus, TopicStatus } from '../api/memorycluster.ts';
import { ANNOTATIONS, annotationEnabled, FINALIZERS } from '../api/wellknown.ts';
import { UserError } from '../controller/errors.ts';
import type { Cache } from '../controller/manager.ts';
import type { SecretReader } from '../controller/secrets.ts';
import type { StatusWriter } from '../controller/status-writer.ts';
import {
  isSettling,
  type KafkaConnection,
  type TopicAdmin,
  type TopicAdminPool,
} from '../kafka/topic-admin.ts';
import type { KubeClient, KubeObject } from '../kube/client.ts';
import type { EventRecorder } from '../kube/events.ts';
import { Types } from '../kube/resources.ts';
import { childName } from './desired/meta.ts';
import { managedKafkaBootstrap } from './desired/redpanda.ts';
import { type DesiredTopic, desiredTopics, pinnedDefaults } from './desired/topics.ts';
import { type PartHealth, statefulSetHealth } from './status.ts';
import { foreignOwners } from './topic-ownership.ts';
import {
  describeConfigChange,
  isEmptyPlan,
  type TopicClaim,
  type TopicOwnership,
  type TopicShape,
  topicPlan,
} from './topic-plan.ts';

/** What the Kafka side looks like after a reconcile: the broker, the topics, and the claims. */
export interface TopicsObservation extends PartHealth {
  list: TopicStatus[];
  kafka: PartHealth;
  kafkaClusterId?: string;
}

export interface ClusterTopicsOptions {
  client: KubeClient;
  kafka: TopicAdminPool;
  secrets: SecretReader;
  events: EventRecorder;
  clusters: Cache;
  statefulSets: Cache;
  /** Metadata of every Secret (for the credentials finalizer). */
  secretsMeta: Cache;
  /** Address of managed Kafka for an operator outside the cluster (local environments). */
  managedKafkaAddressOverride?: string;
  /**
   * How long a look at the broker that found every topic ready answers later reconciles of the
   * same spec and connection: events about children (a StatefulSet's pods coming up) then cost no
   * broker round trips. Keep it under the poll interval, so the poll always looks again.
   */
  reuseReadyMs?: number;
}

/** The last look at the broker that found a cluster's topics ready. */
interface ReadyLook {
  at: number;
  /** Generation, annotations and broker identity it was made under. */
  basis: string;
  admin: TopicAdmin;
  result: TopicsObservation;
}

/** Claims per cluster uid made by this process: the cache can lag behind our own status writes. */
type Claims = Map<string, TopicClaim>;

export class ClusterTopics {
  readonly #o: ClusterTopicsOptions;
  readonly #claims = new Map<string, Claims>();
  readonly #ready = new Map<string, ReadyLook>();

  constructor(o: ClusterTopicsOptions) {
    this.#o = o;
  }

  /** Forgets a cluster that is gone. */
  async forget(key: string, uid: string | undefined): Promise<void> {
    if (uid) {
      this.#claims.delete(uid);
      this.#ready.delete(uid);
    }
    await this.#o.kafka.release(key);
  }

  /** The Kafka connection of a cluster, credentials read from its Secrets. */
  connection(cluster: MemoryCluster): Promise<KafkaConnection> {
    return kafkaConnection(cluster, this.#o.secrets, this.#o.managedKafkaAddressOverride);
  }

  /** Secrets the Kafka connection needs: kept (finalizer) until the cluster's topics are deleted. */
  static kafkaSecretNames(cluster: MemoryCluster): string[] {
    const ext = cluster.spec.kafka.external;
    return [
      ext?.sasl?.credentialsSecretRef.name,
      ext?.tls?.caSecretRef?.name,
      ext?.tls?.clientCertSecretRef?.name,
    ].filter((n): n is string => !!n);
  }

  private async admin(key: string, cluster: MemoryCluster): Promise<TopicAdmin> {
    return this.#o.kafka.forCluster(key, await this.connection(cluster));
  }

  private claimsOf(uid: string, previous: readonly TopicStatus[]): Claims {
    const claims: Claims = new Map(
      previous.map((t) => [
        t.name,
        { ownership: t.ownership ?? 'Created', configKeys: Object.keys(t.config ?? {}) },
      ]),
    );
    for (const [name, c] of this.#claims.get(uid) ?? []) if (!claims.has(name)) claims.set(name, c);
    return claims;
  }

  /** Reconciles the topics of a cluster that is not being deleted. */
  async reconcile(
    key: string,
    cluster: MemoryCluster,
    raw: KubeObject,
    status: StatusWriter,
  ): Promise<TopicsObservation> {
    const ns = cluster.metadata.namespace ?? 'default';
    const uid = cluster.metadata.uid ?? key;
    const previous = (raw.status as MemoryClusterStatus | undefined)?.topics ?? [];
    const desired = desiredTopics(cluster, previous);
    const claims = this.claimsOf(uid, previous);
    const lastClusterId = (raw.status as MemoryClusterStatus | undefined)?.kafkaClusterId;
    const listed = (current: ReadonlyMap<string, TopicShape>) =>
      claimedList(desired, claims, current, previous);

    let kafka: PartHealth;
    if (cluster.spec.kafka.managed) {
      // Starting up is progress, not failure: no topic call until the managed brokers are up.
      kafka = statefulSetHealth(
        this.#o.statefulSets.get(ns, childName(cluster, 'kafka')),
        'managed Redpanda',
      );
      if (kafka.status !== 'True') {
        return {
          status: 'Unknown',
          reason: 'WaitingForKafka',
          message: `topics are created once the managed Kafka is up (${kafka.message})`,
          list: listed(new Map()),
          kafka,
          ...(lastClusterId ? { kafkaClusterId: lastClusterId } : {}),
        };
      }
    }
    let admin: TopicAdmin;
    let kafkaClusterId: string;
    try {
      admin = await this.admin(key, cluster);
      kafkaClusterId = await admin.clusterId();
    } catch (err) {
      const reason =
        err instanceof UserError
          ? err.reason
          : /credentials/.test((err as Error).message)
            ? 'KafkaAuthenticationFailed'
            : 'KafkaUnavailable';
      const health: PartHealth = { status: 'False', reason, message: (err as Error).message };
      return {
        ...health,
        list: listed(new Map()),
        kafka: health,
        ...(lastClusterId ? { kafkaClusterId: lastClusterId } : {}),
      };
    }
    const basis = readyBasis(cluster, kafkaClusterId, lastClusterId);
    const look = this.#ready.get(uid);
    if (
      look &&
      look.admin === admin &&
      look.basis === basis &&
      performance.now() - look.at < (this.#o.reuseReadyMs ?? 0)
    )
      return look.result;
    this.#ready.delete(uid);
    kafka = {
      status: 'True',
      reason: 'Connected',
      message: `connected to Kafka cluster ${kafkaClusterId} at ${admin.brokers.join(',')}`,
    };

    try {
      const me = {
        uid,
        namespace: ns,
        name: cluster.metadata.name,
        creationTimestamp: cluster.metadata.creationTimestamp ?? '',
      };
      const foreign = foreignOwners(
        me,
        new Set(claims.keys()),
        desired.map((t) => t.name),
        kafkaClusterId,
        this.#o.clusters.list(),
      );
      // A name another cluster owns is never ours, even if we raced it to a claim.
      for (const name of foreign.keys()) claims.delete(name);
      const configKeys = new Map(
        desired.map((t) => [
          t.name,
          [...new Set([...Object.keys(t.configs), ...(claims.get(t.name)?.configKeys ?? [])])],
        ]),
      );
      const current = await admin.describe(
        desired.filter((t) => !foreign.has(t.name)).map((t) => t.name),
        configKeys,
      );
      const plan = topicPlan({
        desired,
        current,
        claims,
        foreign,
        adoptExisting:
          cluster.spec.kafka.managed !== undefined ||
          annotationEnabled(cluster.metadata.annotations, ANNOTATIONS.adoptTopics),
        adoptAnnotation: ANNOTATIONS.adoptTopics,
      });
      const newClaims: Array<[string, TopicOwnership]> = [
        ...plan.create.map((t) => [t.name, 'Created'] as [string, TopicOwnership]),
        ...plan.adopt.map((n) => [n, 'Adopted'] as [string, TopicOwnership]),
      ];
      if (newClaims.length || lastClusterId !== kafkaClusterId) {
        const mine = this.#claims.get(uid) ?? new Map<string, TopicClaim>();
        for (const [name, ownership] of newClaims) {
          mine.set(name, { ownership, configKeys: [] });
          claims.set(name, { ownership, configKeys: [] });
        }
        this.#claims.set(uid, mine);
        // Claim the names in status BEFORE creating them: a crash between create and the final
        // status write must not make our own topics look foreign on the next reconcile.
        await status.replace(raw, {
          ...((raw.status as MemoryClusterStatus | undefined) ?? {}),
          kafkaClusterId,
          topics: claimedList(desired, claims, current, previous),
        });
      }
      if (!isEmptyPlan(plan)) {
        await admin.create(plan.create);
        await admin.grow(plan.grow);
        await admin.alterConfigs(plan.alterConfigs);
        const what = [
          plan.create.length ? `created ${plan.create.map((t) => t.name).join(', ')}` : '',
          plan.adopt.length ? `adopted ${plan.adopt.join(', ')}` : '',
          plan.grow.length
            ? `grew ${plan.grow.map((g) => `${g.name} ${g.from}->${g.partitions}`).join(', ')}`
            : '',
          plan.alterConfigs.length
            ? `reconfigured ${plan.alterConfigs.map((a) => `${a.name} (${describeConfigChange(a)})`).join(', ')}`
            : '',
        ]
          .filter(Boolean)
          .join('; ');
        this.#o.events.emit(raw, 'Normal', 'TopicsUpdated', what);
      }
      // After a successful plan the broker holds what each acknowledged call set, so no second
      // describe is needed, unless a new topic's replication factor was left to the broker.
      const after = new Map(current);
      for (const t of plan.create) after.set(t.name, t);
      for (const g of plan.grow) after.set(g.name, { ...after.get(g.name)!, partitions: g.partitions });
      for (const a of plan.alterConfigs) {
        const shape = after.get(a.name)!;
        const configs = { ...shape.configs, ...a.set };
        for (const k of a.remove) delete configs[k];
        after.set(a.name, { ...shape, configs });
      }
      if (plan.create.some((t) => t.replicationFactor < 0)) {
        for (const [name, shape] of await admin.describe(
          plan.create.map((t) => t.name),
          configKeys,
        ))
          after.set(name, shape);
      }
      // What the operator set is what it wanted: removed keys are no longer claimed.
      for (const t of desired) {
        const c = claims.get(t.name);
        if (c && after.has(t.name)) claims.set(t.name, { ...c, configKeys: Object.keys(t.configs) });
      }
      const list = claimedList(desired, claims, after, previous);
      const base = { list, kafka, kafkaClusterId };
      if (plan.problems.length) {
        const reasons = new Set(plan.problems.map((p) => p.reason));
        const reason = reasons.has('NotSupported')
          ? 'NotSupported'
          : reasons.has('TopicPrefixConflict')
            ? 'TopicPrefixConflict'
            : 'TopicConflict';
        return {
          ...base,
          status: 'False',
          reason,
          message: plan.problems.map((p) => p.message).join('; '),
          stalled: true,
        };
      }
      const ready: TopicsObservation = {
        ...base,
        status: 'True',
        reason: 'TopicsReady',
        message: `${list.length} topics exist with the declared partitions and configs`,
      };
      // The next look's basis is what the status write of this result records: this cluster id.
      this.#ready.set(uid, {
        at: performance.now(),
        basis: readyBasis(cluster, kafkaClusterId, kafkaClusterId),
        admin,
        result: ready,
      });
      return ready;
    } catch (err) {
      // Reached the brokers, but they are still settling a change (a topic just created): progress.
      if (isSettling(err)) {
        return {
          status: 'Unknown',
          reason: 'TopicsSettling',
          message: `the brokers are still settling a topic change: ${(err as Error).message}`,
          list: listed(new Map()),
          kafka,
          kafkaClusterId,
        };
      }
      const reason = err instanceof UserError ? err.reason : 'KafkaUnavailable';
      return {
        status: 'False',
        reason,
        message: (err as Error).message,
        list: listed(new Map()),
        kafka,
        kafkaClusterId,
      };
    }
  }

  /**
   * The deletion side: with topicDeletionPolicy Delete, deletes the topics this cluster created
   * (never adopted ones, never another cluster's), then releases the Secrets it kept for it.
   */
  async deleteOwnedTopics(
    key: string,
    cluster: MemoryCluster,
    raw: KubeObject,
  ): Promise<{ reason: string; note: string }> {
    const status = (raw.status ?? {}) as MemoryClusterStatus;
    const uid = cluster.metadata.uid ?? key;
    const claims = this.claimsOf(uid, status.topics ?? []);
    let created = [...claims].filter(([, c]) => c.ownership === 'Created').map(([name]) => name);
    if (status.kafkaClusterId) {
      const me = {
        uid,
        namespace: cluster.metadata.namespace ?? '',
        name: cluster.metadata.name,
        creationTimestamp: cluster.metadata.creationTimestamp ?? '',
      };
      const foreign = foreignOwners(
        me,
        new Set(created),
        created,
        status.kafkaClusterId,
        this.#o.clusters.list(),
      );
      created = created.filter((n) => !foreign.has(n));
    }
    if (!created.length)
      return { reason: 'TopicsKept', note: 'this cluster created no topics: nothing to delete' };
    const admin = await this.admin(key, cluster);
    await admin.delete(created);
    return { reason: 'TopicsDeleted', note: `deleted topics ${created.join(', ')}` };
  }

  /** Why deleting topics is moot or forbidden now, or undefined. */
  deletionSkip(cluster: MemoryCluster): { reason: string; note: string } | undefined {
    if (annotationEnabled(cluster.metadata.annotations, ANNOTATIONS.skipTopicDeletion))
      return {
        reason: 'TopicDeletionSkipped',
        note: `annotation ${ANNOTATIONS.skipTopicDeletion} is set; topics kept`,
      };
    if (cluster.spec.paused || annotationEnabled(cluster.metadata.annotations, ANNOTATIONS.paused))
      return {
        reason: 'TopicDeletionSkipped',
        note: 'the cluster is paused, so the operator changes nothing on the broker: topics kept (resume it before deleting to delete them)',
      };
    if (cluster.spec.kafka.managed) {
      const sts = this.#o.statefulSets.get(cluster.metadata.namespace, childName(cluster, 'kafka'));
      if (!sts || sts.metadata.deletionTimestamp)
        return {
          reason: 'TopicsDeletedWithBroker',
          note: 'the managed Redpanda is being deleted (with its namespace): its topics go with its volumes',
        };
    }
    return undefined;
  }

  /**
   * Keeps the Secrets the Kafka connection needs while a Delete-policy cluster may still have to
   * delete its topics (namespace deletion would remove them first), and releases them when no
   * such cluster needs them any more.
   */
  async syncSecretFinalizers(namespace: string, finished?: string): Promise<void> {
    const needed = new Set<string>();
    for (const o of this.#o.clusters.list(namespace)) {
      if (finished && o.metadata.uid === finished) continue;
      const spec = o.spec as MemoryCluster['spec'] | undefined;
      if (spec?.topicDeletionPolicy !== 'Delete') continue;
      if (!(o.metadata.finalizers ?? []).includes(FINALIZERS.topics)) continue;
      for (const n of ClusterTopics.kafkaSecretNames(o as unknown as MemoryCluster)) needed.add(n);
    }
    for (const s of this.#o.secretsMeta.list(namespace)) {
      const has = (s.metadata.finalizers ?? []).includes(FINALIZERS.kafkaCredentials);
      const want = needed.has(s.metadata.name);
      if (has === want || (want && s.metadata.deletionTimestamp)) continue;
      const finalizers = want
        ? [...(s.metadata.finalizers ?? []), FINALIZERS.kafkaCredentials]
        : (s.metadata.finalizers ?? []).filter((f) => f !== FINALIZERS.kafkaCredentials);
      await this.#o.client.mergePatch(Types.Secret, namespace, s.metadata.name, {
        metadata: { finalizers, resourceVersion: s.metadata.resourceVersion },
      });
    }
  }
}

/** What a look at the broker holds under: the spec, the annotations, and the cluster id seen and recorded. */
function readyBasis(
  cluster: MemoryCluster,
  kafkaClusterId: string,
  recordedClusterId: string | undefined,
): string {
  return JSON.stringify([
    cluster.metadata.generation,
    cluster.metadata.annotations ?? {},
    kafkaClusterId,
    recordedClusterId,
  ]);
}

/**
 * Every topic this cluster has claimed, for status: a status write replaces the whole list, so a
 * list built from a stale view must not drop claims. Shapes come from the broker when known, else
 * from the last status, else placeholders (0 partitions: not created yet).
 */
function claimedList(
  desired: readonly DesiredTopic[],
  claims: ReadonlyMap<string, TopicClaim>,
  current: ReadonlyMap<string, TopicShape>,
  previous: readonly TopicStatus[],
): TopicStatus[] {
  return desired
    .filter((t) => claims.has(t.name))
    .map((t) => {
      const claim = claims.get(t.name)!;
      const shape = current.get(t.name);
      const last = previous.find((p) => p.name === t.name);
      const defaults = last?.defaults ?? (shape ? pinnedDefaults(t, shape) : undefined);
      const base = {
        key: t.key,
        name: t.name,
        ownership: claim.ownership,
        ...(defaults ? { defaults } : {}),
      };
      if (shape) {
        const config = Object.fromEntries(
          Object.entries(shape.configs).filter(([k]) => claim.configKeys.includes(k) || k in t.configs),
        );
        return {
          ...base,
          partitions: shape.partitions,
          replicationFactor: Math.max(0, shape.replicationFactor),
          config,
        };
      }
      if (last) return { ...last, ...base };
      return { ...base, partitions: 0, replicationFactor: 0 };
    });
}

/**
 * The Kafka connection of a cluster, credentials read from its Secrets: the one way every
 * controller reaches a cluster's brokers (so they share its admin client in the TopicAdminPool).
 */
export async function kafkaConnection(
  cluster: MemoryCluster,
  secrets: SecretReader,
  managedKafkaAddressOverride: string | undefined,
): Promise<KafkaConnection> {
  const ns = cluster.metadata.namespace ?? 'default';
  const { managed, external } = cluster.spec.kafka;
  if (managed || !external) {
    return { brokers: [managedKafkaAddressOverride ?? managedKafkaBootstrap(cluster)] };
  }
  const conn: KafkaConnection = { brokers: external.bootstrapServers };
  if (external.tls) {
    const tls: NonNullable<KafkaConnection['tls']> = {};
    if (external.tls.caSecretRef)
      tls.ca = await secrets.key(ns, external.tls.caSecretRef.name, external.tls.caSecretRef.key);
    if (external.tls.clientCertSecretRef) {
      const data = await secrets.read(ns, external.tls.clientCertSecretRef.name);
      tls.cert = data['tls.crt'];
      tls.key = data['tls.key'];
    }
    conn.tls = tls;
  }
  if (external.sasl) {
    const creds = await secrets.credentials(ns, external.sasl.credentialsSecretRef);
    const mechanism = external.sasl.mechanism.toLowerCase() as 'plain' | 'scram-sha-256' | 'scram-sha-512';
    conn.sasl = { mechanism, username: creds.username, password: creds.password };
  }
  return conn;
}
