/**
 * The kafkajs transport. kafkajs 2.2.4 is unmaintained and rebalances eagerly; everything
 * kafkajs-specific stays in this file behind runtime/core/transport.ts.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import {
  type Consumer,
  type IHeaders,
  Kafka,
  type KafkaConfig as KafkaJsConfig,
  logLevel,
  Partitioners,
  type Producer,
  type SASLOptions,
} from 'kafkajs';
import type { KafkaConfig } from '../contract/config.ts';
import { RECORD_OVERHEAD_BYTES, TOPIC_MAX_MESSAGE_BYTES } from '../contract/topics.ts';
import { kafkaErrorType } from '../core/errors.ts';
import {
  type ConsumeOptions,
  type ConsumerTransport,
  type InboundMessage,
  type OutboundMessage,
  type ProducerTransport,
  recordBytes,
} from '../core/transport.ts';
import type { Logger } from '../observability/log.ts';

/** Protocol errors after which this member must rejoin: its batch's offsets can no longer commit. */
const MEMBERSHIP_ERROR_TYPES = new Set([
  'REBALANCE_IN_PROGRESS',
  'NOT_COORDINATOR_FOR_GROUP',
  'ILLEGAL_GENERATION',
  // Evicted (session expired): kafkajs forgets its member id and joins afresh.
  'UNKNOWN_MEMBER_ID',
  'FENCED_INSTANCE_ID',
]);

/**
 * The most bytes of records one produce request carries. kafkajs puts all messages for one
 * partition of a request into one record batch, which the broker refuses above the topic's
 * max.message.bytes; every topic takes at least 1 MiB (TOPIC_MAX_MESSAGE_BYTES), so requests
 * stay below that and a larger record travels alone.
 */
export const PRODUCE_REQUEST_MAX_BYTES =
  Math.min(...Object.values(TOPIC_MAX_MESSAGE_BYTES)) - RECORD_OVERHEAD_BYTES;

type TopicMessages = { topic: string; messages: OutboundMessage[] };

/** Splits batches into requests of at most `maxBytes` of records, keeping each topic's order. */
export function produceRequests(
  batches: TopicMessages[],
  maxBytes = PRODUCE_REQUEST_MAX_BYTES,
): TopicMessages[][] {
  const requests: TopicMessages[][] = [];
  let current: TopicMessages[] = [];
  let bytes = 0;
  for (const batch of batches) {
    let slot: TopicMessages | undefined;
    for (const message of batch.messages) {
      const size = recordBytes(message);
      if (bytes > 0 && bytes + size > maxBytes) {
        requests.push(current);
        current = [];
        bytes = 0;
        slot = undefined;
      }
      if (!slot) {
        slot = { topic: batch.topic, messages: [] };
        current.push(slot);
      }
      slot.messages.push(message);
      bytes += size;
    }
  }
  if (current.length > 0) requests.push(current);
  return requests;
}

/** Builds the kafkajs client from the contract's settings; TLS material is read from files once. */
export function createKafka(config: KafkaConfig, log: Logger): Kafka {
  let ssl: KafkaJsConfig['ssl'] = false;
  if (config.tls) {
    const tls: ConnectionOptions = {};
    if (config.tls.caFile) tls.ca = [readFileSync(config.tls.caFile, 'utf8')];
    if (config.tls.certFile) tls.cert = readFileSync(config.tls.certFile, 'utf8');
    if (config.tls.keyFile) tls.key = readFileSync(config.tls.keyFile, 'utf8');
    ssl = Object.keys(tls).length ? tls : true;
  }
  const sasl = config.sasl
    ? ({
        mechanism: config.sasl.mechanism,
        username: config.sasl.username,
        password: config.sasl.password,
      } as SASLOptions)
    : undefined;
  const kafkaLog = log.child({ component: 'kafkajs' });
  return new Kafka({
    clientId: config.clientId,
    brokers: config.brokers,
    ssl,
    ...(sasl && { sasl }),
    connectionTimeout: 5000,
    requestTimeout: 30_000,
    retry: { initialRetryTime: 300, retries: 8, maxRetryTime: 30_000 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }) => {
        const { message, ...fields } = entry;
        if (level <= logLevel.ERROR) kafkaLog.error(message, fields);
        else kafkaLog.warn(message, fields);
      },
  });
}

function toHeaders(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) {
    if (v === undefined) continue;
    out[k] = Array.isArray(v) ? v.map(String).join(',') : String(v);
  }
  return out;
}

export class KafkaConsumerTransport implements ConsumerTransport {
  readonly #kafka: Kafka;
  readonly #settings: KafkaConfig;
  #consumer: Consumer | undefined;
  #consuming = false;

  constructor(kafka: Kafka, settings: KafkaConfig) {
    this.#kafka = kafka;
    this.#settings = settings;
  }

  async start(options: ConsumeOptions): Promise<void> {
    const consumer = this.#kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: this.#settings.sessionTimeoutMs,
      rebalanceTimeout: this.#settings.rebalanceTimeoutMs,
      heartbeatInterval: this.#settings.heartbeatIntervalMs,
      minBytes: options.fetch.minBytes,
      maxWaitTimeInMs: options.fetch.maxWaitMs,
    });
    this.#consumer = consumer;
    const { GROUP_JOIN, CRASH, STOP, REBALANCING } = consumer.events;
    consumer.on(GROUP_JOIN, ({ payload }) => {
      this.#consuming = true;
      options.onAssignment?.(
        Object.entries(payload.memberAssignment).map(([topic, partitions]) => ({ topic, partitions })),
      );
    });
    consumer.on(REBALANCING, () => {
      this.#consuming = false;
    });
    consumer.on(STOP, () => {
      this.#consuming = false;
    });
    consumer.on(CRASH, ({ payload }) => {
      this.#consuming = false;
      if (!payload.restart) options.onFatal(payload.error);
    });
    await consumer.connect();
    await consumer.subscribe({ topics: options.topics, fromBeginning: true });
    await consumer.run({
      autoCommit: true,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: options.partitionsConcurrently,
      eachBatch: async ({
        batch,
        resolveOffset,
        heartbeat,
        commitOffsetsIfNecessary,
        uncommittedOffsets,
        isStale,
      }) => {
        const messages: InboundMessage[] = batch.messages.map((m) => ({
          topic: batch.topic,
          partition: batch.partition,
          offset: m.offset,
          key: m.key,
          value: m.value,
          headers: toHeaders(m.headers),
          timestamp: m.timestamp,
        }));
        if (messages.length === 0) return;
        await options.onBatch(
          { topic: batch.topic, partition: batch.partition, messages, highWatermark: batch.highWatermark },
          {
            resolveOffset,
            heartbeat,
            // Without offsets, commitOffsetsIfNecessary only commits on an interval or threshold.
            commit: async () => {
              const offsets = uncommittedOffsets();
              if (offsets.topics.some((t) => t.partitions.length > 0))
                await commitOffsetsIfNecessary(offsets);
            },
            isStale,
          },
        );
      },
    });
  }

  async stop(): Promise<void> {
    const consumer = this.#consumer;
    if (!consumer) return;
    this.#consumer = undefined;
    // disconnect() stops the runner (waiting for the batch in hand), commits, leaves the group.
    await consumer.disconnect();
    this.#consuming = false;
  }

  isConsuming(): boolean {
    return this.#consuming;
  }

  isRebalanceError(error: unknown): boolean {
    return MEMBERSHIP_ERROR_TYPES.has(kafkaErrorType(error) ?? '');
  }
}

/** How long the broker may wait for in-sync replicas before it answers a produce (its deadline). */
const PRODUCE_ACK_TIMEOUT_MS = 30_000;

export class KafkaProducerTransport implements ProducerTransport {
  readonly #kafka: Kafka;
  readonly #producer: Producer;
  #connected: Promise<void> | undefined;
  #up = false;

  constructor(kafka: Kafka) {
    this.#kafka = kafka;
    this.#producer = kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
    });
    this.#producer.on(this.#producer.events.CONNECT, () => {
      this.#up = true;
    });
    this.#producer.on(this.#producer.events.DISCONNECT, () => {
      this.#up = false;
      this.#connected = undefined;
    });
  }

  isConnected(): boolean {
    return this.#up;
  }

  connect(): Promise<void> {
    this.#connected ??= this.#producer.connect();
    return this.#connected;
  }

  /**
   * Why these topics cannot take records right now (no broker answers, a topic is missing or has
   * a partition without a leader), or undefined. A short-lived admin connection, asked only after
   * a failed produce: it tells a Kafka problem everyone has from a message's own.
   */
  async unreachable(topics: string[]): Promise<string | undefined> {
    const admin = this.#kafka.admin({ retry: { retries: 0 } });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve('kafka: no answer within 5 s'), 5000);
    });
    const probe = (async () => {
      await admin.connect();
      const { topics: found } = await admin.fetchTopicMetadata({ topics });
      const leaderless = found.find((t) => t.partitions.some((p) => p.leader < 0));
      return leaderless ? `kafka: ${leaderless.name} has a partition without a leader` : undefined;
    })().catch((err: unknown) => `kafka: ${(err as Error).message}`);
    try {
      return await Promise.race([probe, timeout]);
    } finally {
      clearTimeout(timer);
      void admin.disconnect().catch(() => undefined);
    }
  }

  async send(batches: TopicMessages[]): Promise<void> {
    await this.connect();
    // In order, one request at a time: a key's messages keep their order across requests.
    for (const request of produceRequests(batches.filter((b) => b.messages.length > 0))) {
      await this.#producer.sendBatch({
        acks: -1,
        timeout: PRODUCE_ACK_TIMEOUT_MS,
        topicMessages: request.map((b) => ({
          topic: b.topic,
          messages: b.messages.map((m) => ({
            key: m.key,
            value: m.value,
            ...(m.headers && { headers: m.headers }),
          })),
        })),
      });
    }
  }

  async close(): Promise<void> {
    await this.#producer.disconnect();
  }
}
