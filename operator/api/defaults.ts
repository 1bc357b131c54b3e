/**
 * Operator-side defaults: every value the operator fills in when a field is unset. They live in code,
 * not in the CRD schema, because the API server would persist schema defaults into every object and
 * they could never change again (the schema keeps only defaults that never will: policies, replicas: 1,
 * the GPU resource name). The operator reports effective values in status; the docs quote this file.
 */
import {
  DEFAULT_TOPIC_PARTITIONS,
  TOPIC_KEYS,
  TOPIC_MAX_MESSAGE_BYTES,
  type TopicKey,
  topicName,
} from '../../runtime/contract/topics.ts';
import type { MemoryClusterSpec, TopicOverride } from './memorycluster.ts';

/** The runtime image the operator runs worker pools with unless spec.runtime.image says otherwise. */
export const DEFAULT_RUNTIME_IMAGE = 'ghcr.io/engram-dev/engram-runtime:0.1.0';

export const DEFAULT_EMBEDDING = {
  model: 'all-MiniLM-L6-v2',
  dimensions: 384,
  quantization: 'fp32',
} as const;

export const DEFAULT_EXTRACTION = {
  requestsPerMinute: 60,
  maxConcurrentRequests: 4,
  timeoutSeconds: 60,
} as const;

/** Broker count of a managed Redpanda when spec.kafka.managed.replicas is unset. */
export const DEFAULT_MANAGED_KAFKA_REPLICAS = 1;

/** Replication factor of topics: 3 where there are brokers enough, else one replica per broker. */
export const PRODUCTION_REPLICATION_FACTOR = 3;

export const DEFAULT_MANAGED_KAFKA = {
  image: 'docker.redpanda.com/redpandadata/redpanda:v24.2.7',
  replicas: DEFAULT_MANAGED_KAFKA_REPLICAS,
  storage: { size: '10Gi' },
  resources: { requests: { cpu: '1', memory: '2Gi' }, limits: { memory: '2Gi' } },
} as const;

export const DEFAULT_MANAGED_NEO4J = {
  image: 'neo4j:5.26-community',
  replicas: 1,
  storage: { size: '10Gi' },
  resources: { requests: { cpu: '500m', memory: '2Gi' }, limits: { memory: '2Gi' } },
  /** Unset heap / page cache are these fractions of the memory limit (the rest is native headroom). */
  heapFraction: 0.4,
  pageCacheFraction: 0.3,
  tenantIsolation: 'Label',
  database: 'neo4j',
} as const;

export const DEFAULT_MANAGED_REDIS = {
  image: 'redis:7.2-alpine',
  replicas: 1,
  storage: { size: '1Gi' },
  resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '256Mi' } },
  /** Unset maxMemory is this fraction of the memory limit (fork and buffers need the rest). */
  maxMemoryFraction: 0.75,
  /** Evicts only keys with a TTL (the cache); the gateway's control state has none and must stay. */
  maxMemoryPolicy: 'volatile-lru',
  appendOnly: true,
} as const;

/** Keys a credentials Secret is read from when the reference names none. */
export const DEFAULT_CREDENTIAL_KEYS = { username: 'username', password: 'password' } as const;

/** Topic configs the seed guide sets: retention and message size per topic. */
export const DEFAULT_TOPIC_RETENTION: Readonly<Partial<Record<TopicKey, string>>> = {
  'ingest.raw': '168h',
  'ingest.embed': '24h',
  'ingest.extract': '24h',
  'query.pending': '1h',
  dlq: '720h',
};

/**
 * Every topic is sized for what the runtime produces into it (TOPIC_MAX_MESSAGE_BYTES in the
 * runtime's contract). ingest.raw stamps the broker's append time on each record: the ingest role
 * orders a document's versions by their log position and falls back to that time across
 * partitions (after ingest.raw grew), so producers' clocks never order versions.
 */
const sized = (key: TopicKey) => ({ 'max.message.bytes': String(TOPIC_MAX_MESSAGE_BYTES[key]) });

export const DEFAULT_TOPIC_CONFIG: Readonly<Record<TopicKey, Readonly<Record<string, string>>>> = {
  'ingest.raw': { ...sized('ingest.raw'), 'message.timestamp.type': 'LogAppendTime' },
  'ingest.embed': sized('ingest.embed'),
  'ingest.extract': sized('ingest.extract'),
  'graph.resolve': sized('graph.resolve'),
  'graph.evolve': sized('graph.evolve'),
  'query.pending': sized('query.pending'),
  dlq: sized('dlq'),
};

export const DEFAULT_WORKER_POOL = {
  /** HPA behaviour when spec.autoscaling.behavior is unset (KEDA's 300 s cooldown for scale-down). */
  scaleUpStabilizationSeconds: 0,
  scaleDownStabilizationSeconds: 300,
  /** With minReplicas 0: any lag wakes a pool at zero. */
  activationLag: 1,
  scaleToZeroAfter: '5m',
  /** Pods of a non-autoscaled pool when spec.replicas is unset (the schema default). */
  replicas: 1,
} as const;

export const DEFAULT_TENANT_QUOTAS = {
  ingestDocumentsPerSecond: 50,
  ingestBurst: 100,
  queriesPerSecond: 20,
} as const;

export const DEFAULT_TENANT_RETENTION = { halfLife: '720h' } as const;

/** Topic prefix when spec.kafka.topicPrefix is unset: unique per namespace and cluster. */
export function defaultTopicPrefix(namespace: string, name: string): string {
  return `engram.${namespace}.${name}`;
}

/** The topic prefix in effect: spec.kafka.topicPrefix or the default. */
export function effectiveTopicPrefix(
  spec: Pick<MemoryClusterSpec, 'kafka'>,
  namespace: string,
  name: string,
): string {
  return spec.kafka.topicPrefix ?? defaultTopicPrefix(namespace, name);
}

/**
 * Replication factor when neither the topic nor spec.kafka sets one: at most 3 and at most the
 * managed broker count; undefined for external Kafka, meaning the broker's default.replication.factor.
 */
export function defaultReplicationFactor(spec: Pick<MemoryClusterSpec, 'kafka'>): number | undefined {
  const managed = spec.kafka.managed;
  if (!managed) return undefined;
  return Math.min(PRODUCTION_REPLICATION_FACTOR, managed.replicas ?? DEFAULT_MANAGED_KAFKA_REPLICAS);
}

/** One topic as the spec and the operator's defaults describe it. */
export interface EffectiveTopic {
  key: TopicKey;
  name: string;
  partitions: number;
  /** undefined: the broker's default replication factor. */
  replicationFactor: number | undefined;
  /** Kafka topic configs, retention already converted to retention.ms. */
  config: Record<string, string>;
  /**
   * Which values came from the operator's defaults rather than the spec: once a topic exists,
   * those are pinned in status, so a new default or more brokers never changes an existing topic.
   */
  defaulted: { partitions: boolean; replicationFactor: boolean; configKeys: string[] };
}

/** The seven topics of a cluster with every default applied (pure: spec in, plan input out). */
export function effectiveTopics(
  spec: Pick<MemoryClusterSpec, 'kafka'>,
  namespace: string,
  name: string,
): EffectiveTopic[] {
  const prefix = effectiveTopicPrefix(spec, namespace, name);
  return TOPIC_KEYS.map((key) => {
    const o: TopicOverride = spec.kafka.topics?.[key] ?? {};
    const config: Record<string, string> = { ...DEFAULT_TOPIC_CONFIG[key] };
    const retention = o.retention ?? DEFAULT_TOPIC_RETENTION[key];
    if (retention) config['retention.ms'] = String(durationToMilliseconds(retention));
    const defaultedKeys = Object.keys(config).filter(
      (k) => !(k === 'retention.ms' && o.retention) && !(o.config && k in o.config),
    );
    Object.assign(config, o.config);
    const replicationFactor = o.replicationFactor ?? spec.kafka.replicationFactor;
    return {
      key,
      name: topicName(prefix, key),
      partitions: o.partitions ?? DEFAULT_TOPIC_PARTITIONS[key],
      replicationFactor: replicationFactor ?? defaultReplicationFactor(spec),
      config,
      defaulted: {
        partitions: o.partitions === undefined,
        replicationFactor: replicationFactor === undefined,
        configKeys: defaultedKeys.sort(),
      },
    };
  });
}

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses the API's duration format ("90s", "1h30m"); throws on anything else. */
export function durationToMilliseconds(value: string): number {
  if (!/^([0-9]+(ms|s|m|h))+$/.test(value)) throw new Error(`not a duration: ${JSON.stringify(value)}`);
  let total = 0;
  for (const m of value.matchAll(/([0-9]+)(ms|s|m|h)/g)) total += Number(m[1]) * UNIT_MS[m[2]!]!;
  return total;
}
