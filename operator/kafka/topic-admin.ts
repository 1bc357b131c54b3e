/**
 * The Kafka edge of the operator: ONE admin client per cluster connection (shared by every
 * reconcile, never one per call), batched describe/create/alter calls, and errors rewritten
 * into sentences a user can act on.
 */
import { createHash } from 'node:crypto';
import { type Admin, Kafka, type KafkaConfig, logLevel, type SASLOptions } from 'kafkajs';
import type { ConfigChange, TopicShape } from '../memorycluster/topic-plan.ts';
import { Batcher } from './batcher.ts';
import { IncrementalConfigClient } from './incremental-alter-configs.ts';

const TOPIC_RESOURCE = 2; // kafkajs ConfigResourceTypes.TOPIC

export interface KafkaConnection {
  brokers: string[];
  tls?: { ca?: string; cert?: string; key?: string; insecureSkipVerify?: boolean };
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
}

export interface PartitionOffsets {
  partition: number;
  /** Log-start offset: the oldest record still on the broker. */
  low: number;
  /** Log-end offset: the offset the next record gets. */
  high: number;
}

export type KafkaCallObserver = (verb: string, result: 'ok' | 'error') => void;

/**
 * Called before every call that changes the broker; throws to refuse it (a replica that lost the
 * leader lease must not create, alter or delete topics beside the new leader).
 */
export type WriteGate = () => void;

const WRITE_VERBS = new Set(['createTopics', 'createPartitions', 'incrementalAlterConfigs', 'deleteTopics']);

/** Admin operations on topics; one instance per connection, shared. */
export class TopicAdmin {
  private readonly admin: Admin;
  private readonly configs: IncrementalConfigClient;
  private connected: Promise<void> | undefined;
  private clusterIdValue: Promise<string> | undefined;
  private readonly observe: KafkaCallObserver;
  private readonly gate: WriteGate;
  private readonly creates = new Batcher<TopicShape>((topics) => this.createNow(topics));
  readonly brokers: string[];

  constructor(conn: KafkaConnection, observe: KafkaCallObserver, gate: WriteGate = () => undefined) {
    this.brokers = conn.brokers;
    this.observe = observe;
    this.gate = gate;
    const config: KafkaConfig = {
      clientId: 'engram-operator',
      brokers: conn.brokers,
      logLevel: logLevel.NOTHING,
      connectionTimeout: 3_000,
      requestTimeout: 15_000,
      // Fail a reconcile within seconds so the condition tells the truth; the queue retries.
      retry: { retries: 2, initialRetryTime: 300, maxRetryTime: 2_000 },
    };
    if (conn.tls) {
      config.ssl = {
        ...(conn.tls.ca ? { ca: [conn.tls.ca] } : {}),
        ...(conn.tls.cert ? { cert: conn.tls.cert } : {}),
        ...(conn.tls.key ? { key: conn.tls.key } : {}),
        rejectUnauthorized: !conn.tls.insecureSkipVerify,
      };
    }
    if (conn.sasl) config.sasl = conn.sasl as SASLOptions;
    const kafka = new Kafka(config);
    this.admin = kafka.admin();
    this.configs = new IncrementalConfigClient(kafka);
    this.admin.on('admin.disconnect', () => {
      this.connected = undefined;
      this.clusterIdValue = undefined;
    });
  }

  private async call<T>(verb: string, fn: () => Promise<T>): Promise<T> {
    if (WRITE_VERBS.has(verb)) this.gate();
    try {
      this.connected ??= this.admin.connect().catch((err) => {
        this.connected = undefined;
        throw err;
      });
      await this.connected;
      const result = await fn();
      this.observe(verb, 'ok');
      return result;
    } catch (err) {
      this.observe(verb, 'error');
      throw new KafkaAdminError(explainKafkaError(err, this.brokers), err);
    }
  }

  /** The id the brokers report: two connections with one id reach the same Kafka cluster. */
  clusterId(): Promise<string> {
    this.clusterIdValue ??= this.call('describeCluster', () => this.admin.describeCluster()).then(
      (c) => c.clusterId,
      (err) => {
        this.clusterIdValue = undefined;
        throw err;
      },
    );
    return this.clusterIdValue;
  }

  /** The current shape of those of `names` that exist, reading for each only the config keys given. */
  async describe(
    names: string[],
    configKeys: ReadonlyMap<string, string[]>,
  ): Promise<Map<string, TopicShape>> {
    const existing = new Set(await this.call('listTopics', () => this.admin.listTopics()));
    const present = names.filter((n) => existing.has(n));
    const shapes = new Map<string, TopicShape>();
    if (!present.length) return shapes;
    // A topic just created may not be in every broker's metadata yet: wait that out, briefly.
    const meta = await this.call('describeTopics', () =>
      settling(() => this.admin.fetchTopicMetadata({ topics: present })),
    );
    for (const t of meta.topics) {
      shapes.set(t.name, {
        name: t.name,
        partitions: t.partitions.length,
        replicationFactor: t.partitions[0]?.replicas.length ?? 0,
        configs: {},
      });
    }
    const withConfigs = present.filter((name) => configKeys.get(name)?.length);
    if (withConfigs.length) {
      // A topic just created is listed by the controller before every broker hosts it: its
      // configs answer UNKNOWN_TOPIC_OR_PARTITION for a moment. Wait that out, briefly.
      const described = await this.call('describeConfigs', () =>
        settling(() =>
          this.admin.describeConfigs({
            includeSynonyms: false,
            resources: withConfigs.map((name) => ({
              type: TOPIC_RESOURCE,
              name,
              configNames: configKeys.get(name),
            })),
          }),
        ),
      );
      for (const r of described.resources) {
        const shape = shapes.get(r.resourceName);
        if (!shape) continue;
        for (const e of r.configEntries) shape.configs[e.configName] = e.configValue;
      }
    }
    return shapes;
  }

  /** Creates topics; concurrent calls from several clusters are merged into one request. */
  create(topics: TopicShape[]): Promise<void> {
    return this.creates.submit(topics);
  }

  /**
   * One CreateTopics request. Its success means the controller committed the topics with their
   * leaders; waiting for every broker's metadata to show them (kafkajs' waitForLeaders) would poll
   * the brokers, and fails outright (UNKNOWN_TOPIC_OR_PARTITION) when creations overlap.
   */
  private async createNow(topics: TopicShape[]): Promise<void> {
    await this.call('createTopics', () =>
      this.admin.createTopics({
        waitForLeaders: false,
        topics: topics.map((t) => ({
          topic: t.name,
          numPartitions: t.partitions,
          replicationFactor: t.replicationFactor,
          configEntries: Object.entries(t.configs).map(([name, value]) => ({ name, value })),
        })),
      }),
    );
  }

  async grow(topics: Array<{ name: string; partitions: number }>): Promise<void> {
    if (!topics.length) return;
    await this.call('createPartitions', () =>
      this.admin.createPartitions({
        topicPartitions: topics.map((t) => ({ topic: t.name, count: t.partitions })),
      }),
    );
  }

  /**
   * Sets and removes only the given config keys of each topic (IncrementalAlterConfigs): keys
   * others set on the topic stay, a removed key reverts to the broker default.
   */
  async alterConfigs(changes: ConfigChange[]): Promise<void> {
    if (!changes.length) return;
    await this.call('incrementalAlterConfigs', () => this.configs.alter(changes));
  }

  /** Deletes the topics that exist, then checks with a fresh metadata read that none is left. */
  async delete(names: string[]): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const existing = new Set(await this.call('listTopics', () => this.admin.listTopics()));
      const present = names.filter((n) => existing.has(n));
      if (!present.length) return;
      await this.call('deleteTopics', () => this.admin.deleteTopics({ topics: present, timeout: 10_000 }));
    }
    throw new KafkaAdminError(
      `topics still listed by the broker after deletion: ${names.join(', ')}`,
      undefined,
    );
  }

  /** Log-start and log-end offset of every partition of `topic` (one ListOffsets round). */
  async logOffsets(topic: string): Promise<PartitionOffsets[]> {
    const offsets = await this.call('fetchTopicOffsets', () => this.admin.fetchTopicOffsets(topic));
    return offsets.map((o) => ({ partition: o.partition, low: Number(o.low), high: Number(o.high) }));
  }

  /** A consumer group's committed offset per partition of `topics`; -1 where it never committed. */
  async committedOffsets(groupId: string, topics: string[]): Promise<Map<string, Map<number, number>>> {
    const committed = await this.call('fetchOffsets', () => this.admin.fetchOffsets({ groupId, topics }));
    return new Map(
      committed.map((t) => [t.topic, new Map(t.partitions.map((p) => [p.partition, Number(p.offset)]))]),
    );
  }

  async close(): Promise<void> {
    await Promise.all([this.admin.disconnect().catch(() => undefined), this.configs.close()]);
  }
}

/** Protocol errors that only mean "not yet": metadata still propagating after a change. */
const SETTLING = new Set([
  'UNKNOWN_TOPIC_OR_PARTITION',
  'LEADER_NOT_AVAILABLE',
  'NOT_CONTROLLER',
  'NOT_LEADER_FOR_PARTITION',
]);

export const isSettling = (err: unknown): boolean => {
  const e = err as { type?: string; cause?: unknown } | undefined;
  return (
    !!e && (SETTLING.has(e.type ?? '') || (e.cause !== undefined && e.cause !== err && isSettling(e.cause)))
  );
};

/** Runs `fn`, retrying "not yet" errors for up to about 3 s. */
async function settling<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isSettling(err) || attempt >= 10) throw err;
      await new Promise((r) => setTimeout(r, 100 * 1.3 ** attempt));
    }
  }
}

export class KafkaAdminError extends Error {
  override readonly cause: unknown;
  constructor(message: string, cause: unknown) {
    super(message);
    this.name = 'KafkaAdminError';
    this.cause = cause;
  }
}

/** Turns kafkajs errors into what a user should check or change. */
export function explainKafkaError(err: unknown, brokers: string[]): string {
  const e = err as {
    name?: string;
    message?: string;
    type?: string;
    cause?: { message?: string };
    errors?: Array<{ message?: string; type?: string; topic?: string }>;
  };
  // Aggregate errors (topic creation) carry the real reasons per topic.
  const nested = (e.errors ?? [])
    .map((x) => `${x.topic ? `${x.topic}: ` : ''}${x.message ?? x.type ?? ''}`)
    .filter(Boolean);
  const message = [e.message ?? String(err), ...new Set(nested)].join('; ');
  const raw =
    e.cause?.message && !message.includes(e.cause.message) ? `${message} (${e.cause.message})` : message;
  const where = brokers.join(',');
  if (/SASL|authentication|Authentication failed/i.test(raw))
    return `Kafka at ${where} rejected the credentials: check the SASL secret referenced by spec.kafka.external (${raw})`;
  if (/Connection|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|timed out|retries/i.test(`${e.name} ${raw}`))
    return `cannot reach Kafka at ${where}: ${raw}; check the bootstrap servers, that the brokers are running, and network policies`;
  if (/larger than available brokers|INVALID_REPLICATION_FACTOR|Replication[- ]factor/i.test(raw))
    return `${raw}: lower the topics' replicationFactor to at most the number of brokers, or add brokers`;
  if (/POLICY_VIOLATION|disk|storage|quota|Not enough/i.test(raw))
    return `the broker refused the change: ${raw}; free space or raise the broker's limits`;
  if (/TOPIC_AUTHORIZATION|CLUSTER_AUTHORIZATION|Not authorized/i.test(raw))
    return `the Kafka principal may not manage topics: ${raw}; grant it Create/Alter/Describe on the topic prefix`;
  return `Kafka admin call failed: ${raw}`;
}

/** Shares one TopicAdmin per distinct connection (brokers + credentials fingerprint). */
export class TopicAdminPool {
  private readonly admins = new Map<string, TopicAdmin>();
  private readonly byOwner = new Map<string, string>();
  private readonly observe: KafkaCallObserver;
  private readonly gate: WriteGate;

  constructor(observe: KafkaCallObserver, gate: WriteGate = () => undefined) {
    this.observe = observe;
    this.gate = gate;
  }

  /** The admin for `owner` (a cluster key); a changed connection replaces the old client. */
  forCluster(owner: string, conn: KafkaConnection): TopicAdmin {
    const fingerprint = createHash('sha256').update(JSON.stringify(conn)).digest('hex');
    const previous = this.byOwner.get(owner);
    if (previous && previous !== fingerprint) void this.release(owner);
    this.byOwner.set(owner, fingerprint);
    let admin = this.admins.get(fingerprint);
    if (!admin) {
      admin = new TopicAdmin(conn, this.observe, this.gate);
      this.admins.set(fingerprint, admin);
    }
    return admin;
  }

  /** Forgets `owner`; closes its client when no other cluster shares it. */
  async release(owner: string): Promise<void> {
    const fingerprint = this.byOwner.get(owner);
    this.byOwner.delete(owner);
    if (!fingerprint || [...this.byOwner.values()].includes(fingerprint)) return;
    const admin = this.admins.get(fingerprint);
    this.admins.delete(fingerprint);
    await admin?.close();
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.admins.values()].map((a) => a.close()));
    this.admins.clear();
    this.byOwner.clear();
  }
}
