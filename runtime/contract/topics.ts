/**
 * The pipeline's topics: the one list the operator creates and the runtime consumes.
 * Partition defaults come from the seed guide; a MemoryCluster may override them per topic.
 */
export const TOPIC_KEYS = [
  'ingest.raw',
  'ingest.embed',
  'ingest.extract',
  'graph.resolve',
  'graph.evolve',
  'query.pending',
  'dlq',
] as const;

export type TopicKey = (typeof TOPIC_KEYS)[number];

export const DEFAULT_TOPIC_PARTITIONS: Readonly<Record<TopicKey, number>> = {
  'ingest.raw': 32,
  'ingest.embed': 16,
  'ingest.extract': 16,
  'graph.resolve': 8,
  'graph.evolve': 4,
  'query.pending': 32,
  dlq: 4,
};

const MiB = 1024 * 1024;

/**
 * Each topic's `max.message.bytes` (the largest record batch the broker takes), sized for the
 * largest record any role produces into it: raw documents are bounded by the gateway after JSON
 * encoding, chunk and query messages by their schemas (runtime/pipeline/messages.ts, well under
 * 1 MiB), and the dlq holds the largest record of any topic plus the dead-letter headers.
 */
export const TOPIC_MAX_MESSAGE_BYTES: Readonly<Record<TopicKey, number>> = {
  'ingest.raw': 10 * MiB,
  'ingest.embed': MiB,
  'ingest.extract': MiB,
  'graph.resolve': MiB,
  'graph.evolve': MiB,
  'query.pending': MiB,
  dlq: 11 * MiB,
};

/**
 * Room a record needs beside its value (key, headers, record and batch framing): a producer
 * keeps a value within `TOPIC_MAX_MESSAGE_BYTES[topic] - RECORD_OVERHEAD_BYTES`.
 */
export const RECORD_OVERHEAD_BYTES = 16 * 1024;

/** The largest value (JSON bytes after encoding) a producer may send to a topic. */
export function maxValueBytes(key: TopicKey): number {
  return TOPIC_MAX_MESSAGE_BYTES[key] - RECORD_OVERHEAD_BYTES;
}

/**
 * Largest metadata of one document, as JSON bytes: carried once per document (ingest.raw, then
 * chunk 0) and stored once on the Document node. The gateway's ENGRAM_MAX_METADATA_BYTES may be
 * lower, never higher.
 */
export const MAX_METADATA_BYTES = 16 * 1024;

/** Full topic name on the broker: `<prefix>.<key>`, e.g. `engram.demo.ingest.raw`. */
export function topicName(prefix: string, key: TopicKey): string {
  return `${prefix}.${key}`;
}

/** A tenant's own topic (TenantMemory.spec.dedicatedTopics): `<prefix>.tenant.<tenantId>.<key>`. */
export function tenantTopicName(prefix: string, tenantId: string, key: TopicKey): string {
  return `${prefix}.tenant.${tenantId}.${key}`;
}
