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

/** Full topic name on the broker: `<prefix>.<key>`, e.g. `engram.demo.ingest.raw`. */
export function topicName(prefix: string, key: TopicKey): string {
  return `${prefix}.${key}`;
}
