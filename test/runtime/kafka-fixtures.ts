/**
 * Kafka fixtures for runtime tests: the seven pipeline topics under a prefix unique to the test
 * (the broker does not auto-create topics), configured as the operator makes them
 * (DEFAULT_TOPIC_CONFIG: sizes, LogAppendTime) unless a test overrides a topic's configs, reading
 * a topic back, and a group's committed offsets.
 */
import { randomUUID } from 'node:crypto';
import { type Admin, type IHeaders, Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import { DEFAULT_TOPIC_CONFIG } from '../../operator/api/defaults.ts';
import { TOPIC_KEYS, type TopicKey, topicName } from '../../runtime/contract/topics.ts';
import { eventually } from '../support/wait.ts';

export const SMALL_PARTITIONS: Record<TopicKey, number> = {
  'ingest.raw': 2,
  'ingest.embed': 2,
  'ingest.extract': 1,
  'graph.resolve': 1,
  'graph.evolve': 1,
  'query.pending': 1,
  dlq: 1,
};

export interface PipelineTopics {
  kafka: Kafka;
  admin: Admin;
  prefix: string;
  topic(key: TopicKey): string;
  producer(): Promise<Producer>;
  cleanup(): Promise<void>;
}

export async function createPipelineTopics(
  brokers: string,
  prefix: string,
  partitions: Partial<Record<TopicKey, number>> = {},
  /** Per-topic configs replacing the operator's defaults for that topic ({} = the broker's defaults). */
  configs: Partial<Record<TopicKey, Record<string, string>>> = {},
): Promise<PipelineTopics> {
  const kafka = new Kafka({
    clientId: `test-${prefix}`,
    brokers: brokers.split(','),
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    waitForLeaders: true,
    topics: TOPIC_KEYS.map((key) => ({
      topic: topicName(prefix, key),
      numPartitions: partitions[key] ?? SMALL_PARTITIONS[key],
      replicationFactor: 1,
      configEntries: Object.entries(configs[key] ?? DEFAULT_TOPIC_CONFIG[key]).map(([name, value]) => ({
        name,
        value,
      })),
    })),
  });
  // Leaders are elected, but a fresh client may still see stale metadata: wait until it does not.
  const names = TOPIC_KEYS.map((k) => topicName(prefix, k));
  await eventually('topic leaders visible', async () => {
    const meta = await admin.fetchTopicMetadata({ topics: names });
    return meta.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0));
  });
  const producers: Producer[] = [];
  return {
    kafka,
    admin,
    prefix,
    topic: (key) => topicName(prefix, key),
    async producer() {
      const p = kafka.producer({
        createPartitioner: Partitioners.DefaultPartitioner,
        retry: { retries: 10, initialRetryTime: 200 },
      });
      await p.connect();
      producers.push(p);
      return p;
    },
    async cleanup() {
      for (const p of producers) await p.disconnect().catch(() => undefined);
      await admin
        .deleteTopics({ topics: TOPIC_KEYS.map((k) => topicName(prefix, k)) })
        .catch(() => undefined);
      await admin.disconnect();
    },
  };
}

export interface ReadMessage {
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

function headersOf(h: IHeaders | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(h ?? {}).map(([k, v]) => [k, String(v)]));
}

/** Reads a topic from the beginning until `count` messages arrived (or fails after the timeout). */
export async function readTopic(
  kafka: Kafka,
  topic: string,
  count: number,
  timeoutMs = 30_000,
): Promise<ReadMessage[]> {
  const consumer = kafka.consumer({ groupId: `reader-${randomUUID()}`, maxWaitTimeInMs: 200 });
  const out: ReadMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        out.push({
          partition,
          offset: message.offset,
          key: message.key?.toString() ?? null,
          value: message.value,
          headers: headersOf(message.headers),
        });
      },
    });
    await eventually(`${count} messages on ${topic} (have ${out.length})`, async () => out.length >= count, {
      timeoutMs,
      intervalMs: 100,
    });
  } finally {
    await consumer.disconnect();
  }
  return out;
}

/** End offsets of a topic, by partition: how many messages each partition holds. */
export async function topicEndOffsets(admin: Admin, topic: string): Promise<number> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0);
}

/** Sum over partitions of the group's committed offsets (-1 counts as 0). */
export async function committedTotal(admin: Admin, groupId: string, topic: string): Promise<number> {
  const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return (entry?.partitions ?? []).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
}
