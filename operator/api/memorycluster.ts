/**
 * MemoryCluster (mc): one AI memory cluster: its Kafka topics, graph store (Neo4j), cache (Redis),
 * embedding and extraction settings. Worker pools and tenants point at it.
 */
import { z } from 'zod';
import { MODEL_VARIANTS, SASL_MECHANISMS } from '../../runtime/contract/config.ts';
import { DEFAULT_TOPIC_PARTITIONS, TOPIC_KEYS, type TopicKey } from '../../runtime/contract/topics.ts';
import {
  type CelRule,
  cel,
  celField,
  celFormat,
  celString,
  conditionsSchema,
  credentialsSecretRef,
  duration,
  image,
  imagePullPolicySchema,
  objectMetaSchema,
  objectName,
  observedGenerationSchema,
  patternString,
  resourceRequirementsSchema,
  secretKeyRef,
  sizeQuantity,
  storageSchema,
  withRules,
} from './common.ts';
import {
  DEFAULT_EMBEDDING,
  DEFAULT_EXTRACTION,
  DEFAULT_MANAGED_KAFKA,
  DEFAULT_MANAGED_KAFKA_REPLICAS,
  DEFAULT_MANAGED_NEO4J,
  DEFAULT_MANAGED_REDIS,
  DEFAULT_RUNTIME_IMAGE,
} from './defaults.ts';
import { API_VERSION, MEMORY_CLUSTER_CONDITIONS } from './wellknown.ts';

const MAX_REPLICATION_FACTOR = 7;

const percent = (fraction: number) => `${Math.round(fraction * 100)}%`;
/** Default resources in words for descriptions, e.g. "requests cpu 500m, memory 2Gi; limits memory 2Gi". */
function describeResources(r: {
  requests: Readonly<Record<string, string>>;
  limits: Readonly<Record<string, string>>;
}): string {
  const list = (m: Readonly<Record<string, string>>) =>
    Object.entries(m)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
  return `requests ${list(r.requests)}; limits ${list(r.limits)}`;
}

type SaslMechanism = Uppercase<(typeof SASL_MECHANISMS)[number]>;
/** The runtime's SASL mechanisms in Kafka's spelling (the operator lower-cases them for the runtime). */
export const KAFKA_SASL_MECHANISMS = SASL_MECHANISMS.map((m) => m.toUpperCase()) as [
  SaslMechanism,
  ...SaslMechanism[],
];

/** Overrides for one of the seven pipeline topics; the key is baked into every message. */
function topicOverrideSchema(key: TopicKey) {
  return z
    .object({
      partitions: z
        .int()
        .min(1)
        .max(4096)
        .optional()
        .describe(
          `Partitions of the ${key} topic (default ${DEFAULT_TOPIC_PARTITIONS[key]}); the ceiling on consumers working it in parallel. Can grow, never shrink.`,
        ),
      replicationFactor: z
        .int()
        .min(1)
        .max(MAX_REPLICATION_FACTOR)
        .meta(
          cel({
            rule: 'self == oldSelf',
            message: `replicationFactor of topic ${key} is immutable: restore the old value`,
            messageExpression: celFormat(
              `replicationFactor of topic ${key} is immutable (was %d, now %d): the operator does not reassign replicas; restore %d`,
              'oldSelf',
              'self',
              'oldSelf',
            ),
          }),
        )
        .optional()
        .describe(`Replicas of each ${key} partition; overrides spec.kafka.replicationFactor. Immutable.`),
      retention: duration('retention')
        .optional()
        .describe(`How long the ${key} topic keeps messages (Kafka retention.ms), e.g. 168h.`),
      config: z
        .record(z.string().max(249), z.string().max(1024))
        .meta({ maxProperties: 32 })
        .meta(
          cel({
            rule: "self.all(k, k.matches('^[a-z][a-z0-9]*([.][a-z0-9]+)*$'))",
            message: 'config keys are Kafka topic config names such as cleanup.policy or max.message.bytes',
          }),
        )
        .optional()
        .describe(
          `Further Kafka topic configs for ${key}, e.g. {cleanup.policy: delete, max.message.bytes: "10485760"}.`,
        ),
    })
    .meta(
      cel({
        rule: "!has(self.retention) || !has(self.config) || !('retention.ms' in self.config)",
        message: `topic ${key} sets both retention and config[retention.ms]: keep only one`,
      }),
    )
    .describe(`Overrides for the ${key} topic; unset fields keep the operator's defaults.`);
}

export type TopicOverride = z.infer<ReturnType<typeof topicOverrideSchema>>;

const topicsShape = Object.fromEntries(TOPIC_KEYS.map((k) => [k, topicOverrideSchema(k).optional()])) as {
  [K in TopicKey]: z.ZodOptional<ReturnType<typeof topicOverrideSchema>>;
};

/** Effective partitions of `key` in a kafka object (`self` or `oldSelf`), defaults included. */
function partitionsExpr(obj: string, key: TopicKey): string {
  const t = `${obj}.topics.${celField(key)}`;
  return `(has(${obj}.topics) && has(${t}) && has(${t}.partitions) ? ${t}.partitions : ${DEFAULT_TOPIC_PARTITIONS[key]})`;
}

/** Partitions never decrease, counting a removed override as a return to the default. */
function partitionsNeverDecrease(key: TopicKey): CelRule {
  const was = partitionsExpr('oldSelf', key);
  const now = partitionsExpr('self', key);
  return {
    rule: `${now} >= ${was}`,
    message: `partitions of topic ${key} cannot decrease: Kafka cannot remove partitions; keep the old count or more, or create a new MemoryCluster with another topicPrefix`,
    messageExpression: celFormat(
      `partitions of topic ${key} cannot decrease (was %d, now %d): Kafka cannot remove partitions; keep %d or more, or create a new MemoryCluster with another topicPrefix`,
      was,
      now,
      was,
    ),
    fieldPath: `.topics[${celString(key)}].partitions`,
  };
}

/** A managed cluster cannot replicate a topic more times than it has brokers. */
function replicationFitsBrokers(): CelRule {
  const brokers = `(has(self.managed.replicas) ? self.managed.replicas : ${DEFAULT_MANAGED_KAFKA_REPLICAS})`;
  const perTopic = TOPIC_KEYS.map((k) => {
    const t = `self.topics.${celField(k)}`;
    return `(!has(${t}) || !has(${t}.replicationFactor) || ${t}.replicationFactor <= ${brokers})`;
  });
  return {
    rule: `!has(self.managed) || ((!has(self.replicationFactor) || self.replicationFactor <= ${brokers}) && (!has(self.topics) || (${perTopic.join(' && ')})))`,
    message:
      'a replicationFactor is larger than the number of managed brokers: raise spec.kafka.managed.replicas or lower the replicationFactor',
    messageExpression: celFormat(
      'a replicationFactor is larger than the %d managed broker(s): raise spec.kafka.managed.replicas or lower the replicationFactor',
      brokers,
    ),
  };
}

const hostPort = patternString({
  pattern: '^(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?):[0-9]{1,5}$',
  max: 261,
  what: 'bootstrap server',
  hint: 'must be host:port without a scheme, e.g. kafka-0.kafka.svc:9092',
});

const kafkaManagedSchema = z
  .object({
    image: image(`Redpanda image. Default: ${DEFAULT_MANAGED_KAFKA.image}.`).optional(),
    imagePullPolicy: imagePullPolicySchema.optional(),
    replicas: z
      .int()
      .min(1)
      .max(9)
      .optional()
      .describe(
        `Number of Redpanda brokers (default ${DEFAULT_MANAGED_KAFKA_REPLICAS}); 3 or more for production.`,
      ),
    storage: storageSchema.optional(),
    resources: resourceRequirementsSchema
      .optional()
      .describe(
        `CPU and memory of each broker. Default: ${describeResources(DEFAULT_MANAGED_KAFKA.resources)}.`,
      ),
  })
  .describe("A Redpanda StatefulSet the operator runs in the MemoryCluster's namespace.");

const kafkaExternalSchema = z
  .object({
    bootstrapServers: z
      .array(hostPort)
      .min(1)
      .max(16)
      .describe('Brokers to bootstrap from, as host:port, e.g. [kafka-0.kafka:9092, kafka-1.kafka:9092].'),
    tls: z
      .object({
        caSecretRef: secretKeyRef(
          "CA bundle (PEM) that signs the brokers' certificates. Default: the system trust store.",
        ).optional(),
        clientCertSecretRef: z
          .object({
            name: objectName('clientCertSecretRef.name').describe(
              'Name of a kubernetes.io/tls Secret (keys tls.crt and tls.key) in the same namespace.',
            ),
          })
          .optional()
          .describe('Client certificate for mutual TLS.'),
        serverName: z
          .string()
          .max(253)
          .optional()
          .describe("Server name to verify in the brokers' certificates, when it differs from the host."),
      })
      .optional()
      .describe('Connect with TLS. Presence enables TLS; all fields are optional.'),
    sasl: z
      .object({
        mechanism: z
          .enum(KAFKA_SASL_MECHANISMS)
          .describe('SASL mechanism the brokers expect, spelt as Kafka does (sasl.mechanism).'),
        credentialsSecretRef: credentialsSecretRef('Secret with the SASL username and password.'),
      })
      .optional()
      .describe('SASL authentication. Use it with tls unless the network is trusted.'),
  })
  .describe('A Kafka-compatible cluster you run (Apache Kafka, Redpanda, MSK, Confluent, ...).');

const kafkaSchema = z
  .object({
    topicPrefix: patternString({
      pattern: '^[a-zA-Z0-9._-]+$',
      max: 200,
      what: 'topicPrefix',
      hint: "may contain only letters, digits, '.', '_' and '-' (Kafka topic name characters)",
    })
      .optional()
      .describe(
        'Prefix of every topic name: <topicPrefix>.<topic>, e.g. engram.prod.ingest.raw. Default: engram.<namespace>.<name>. Immutable.',
      ),
    replicationFactor: z
      .int()
      .min(1)
      .max(MAX_REPLICATION_FACTOR)
      .meta(
        cel({
          rule: 'self == oldSelf',
          message: 'spec.kafka.replicationFactor is immutable: restore the old value',
          messageExpression: celFormat(
            'spec.kafka.replicationFactor is immutable (was %d, now %d): the operator does not reassign replicas; restore %d',
            'oldSelf',
            'self',
            'oldSelf',
          ),
        }),
      )
      .optional()
      .describe(
        'Replicas of each partition for every topic without its own override. Default: min(3, brokers) for managed Kafka, the broker default for external Kafka. Use 3 in production; 1 only on a single broker. Immutable.',
      ),
    topics: z
      .object(topicsShape)
      .optional()
      .describe(
        `Per-topic overrides, keyed by topic: ${TOPIC_KEYS.join(', ')}. Default partitions: ${TOPIC_KEYS.map((k) => `${k} ${DEFAULT_TOPIC_PARTITIONS[k]}`).join(', ')}.`,
      ),
    managed: kafkaManagedSchema.optional(),
    external: kafkaExternalSchema.optional(),
  })
  .meta(
    cel(
      {
        rule: 'has(self.managed) != has(self.external)',
        message:
          'spec.kafka needs exactly one of managed (the operator runs Redpanda) or external (your brokers)',
        messageExpression:
          "has(self.managed) ? 'spec.kafka sets both managed and external: keep exactly one' : 'spec.kafka needs one of managed (the operator runs Redpanda) or external (bootstrapServers of your Kafka)'",
      },
      {
        rule: 'has(self.managed) == has(oldSelf.managed)',
        message:
          'spec.kafka cannot switch between managed and external: the topics and their offsets would be left behind; create a new MemoryCluster instead',
      },
      {
        rule: 'has(self.topicPrefix) == has(oldSelf.topicPrefix) && (!has(self.topicPrefix) || self.topicPrefix == oldSelf.topicPrefix)',
        message:
          'spec.kafka.topicPrefix is immutable: the topics exist under the old prefix; restore it or create a new MemoryCluster',
        messageExpression: celFormat(
          'spec.kafka.topicPrefix is immutable (was %s, now %s): the topics exist under the old prefix; restore it or create a new MemoryCluster',
          "has(oldSelf.topicPrefix) ? oldSelf.topicPrefix : 'unset, i.e. the default'",
          "has(self.topicPrefix) ? self.topicPrefix : 'unset'",
        ),
        fieldPath: '.topicPrefix',
      },
      ...TOPIC_KEYS.map(partitionsNeverDecrease),
      replicationFitsBrokers(),
    ),
  )
  .describe(
    'The Kafka-compatible log the pipeline runs on: managed (Redpanda run by the operator) or external, and the seven topics the operator creates on it.',
  );

const neo4jManagedSchema = z
  .object({
    image: image(
      `Neo4j image. Default: ${DEFAULT_MANAGED_NEO4J.image}. An enterprise image is needed for more than one replica.`,
    ).optional(),
    imagePullPolicy: imagePullPolicySchema.optional(),
    replicas: z
      .int()
      .min(1)
      .max(7)
      .optional()
      .describe(
        'Neo4j servers (default 1). Neo4j Community runs exactly one; more need an enterprise image.',
      ),
    storage: storageSchema.optional(),
    resources: resourceRequirementsSchema
      .optional()
      .describe(
        `CPU and memory of each server. Default: ${describeResources(DEFAULT_MANAGED_NEO4J.resources)}.`,
      ),
    memory: z
      .object({
        heap: sizeQuantity('memory.heap')
          .optional()
          .describe(
            `JVM heap (initial = max), e.g. 4Gi. Default: ${percent(DEFAULT_MANAGED_NEO4J.heapFraction)} of the memory limit.`,
          ),
        pageCache: sizeQuantity('memory.pageCache')
          .optional()
          .describe(
            `Page cache for the graph store files, e.g. 2Gi. Default: ${percent(DEFAULT_MANAGED_NEO4J.pageCacheFraction)} of the memory limit.`,
          ),
      })
      .optional()
      .describe('Neo4j memory settings; heap + pageCache must stay below the memory limit.'),
    credentialsSecretRef: credentialsSecretRef(
      'Existing Secret with the neo4j user password (key password). Default: the operator generates one and never overwrites it.',
    ).optional(),
  })
  .meta(
    cel(
      {
        rule: "!has(self.replicas) || self.replicas == 1 || (has(self.image) && self.image.contains('enterprise'))",
        message:
          'Neo4j Community runs a single server: set replicas to 1, or use a Neo4j enterprise image to run more',
      },
      {
        rule: "!has(self.memory) || !has(self.resources) || !has(self.resources.limits) || !('memory' in self.resources.limits) || quantity(has(self.memory.heap) ? self.memory.heap : '0').add(quantity(has(self.memory.pageCache) ? self.memory.pageCache : '0')).isLessThan(quantity(string(self.resources.limits['memory'])))",
        message:
          'memory.heap + memory.pageCache must be less than resources.limits.memory: raise the limit or lower them',
        messageExpression: celFormat(
          'memory.heap (%s) + memory.pageCache (%s) must be less than resources.limits.memory (%s): Neo4j needs native memory beyond both; raise the limit or lower them',
          "has(self.memory.heap) ? self.memory.heap : '0'",
          "has(self.memory.pageCache) ? self.memory.pageCache : '0'",
          "self.resources.limits['memory']",
        ),
        fieldPath: '.memory',
      },
    ),
  )
  .describe('A Neo4j StatefulSet run by the operator.');

const boltUri = withRules(
  z.string().min(1).max(2048),
  {
    rule: "self.matches('^(neo4j|bolt)([+]s|[+]ssc)?://')",
    message:
      'uri must start with neo4j://, neo4j+s://, neo4j+ssc://, bolt://, bolt+s:// or bolt+ssc://, e.g. neo4j+s://abcd1234.databases.neo4j.io',
  },
  {
    rule: "!self.contains('@')",
    message: 'uri must not carry credentials: put the user and password in credentialsSecretRef',
  },
);

const neo4jExternalSchema = z
  .object({
    uri: boltUri.describe(
      'Bolt or neo4j URI of the server or cluster, e.g. neo4j+s://abcd1234.databases.neo4j.io.',
    ),
    database: z
      .string()
      .max(63)
      .optional()
      .describe(
        `Database to use. Default: ${DEFAULT_MANAGED_NEO4J.database} (with tenantIsolation Database, the per-tenant databases).`,
      ),
    credentialsSecretRef: credentialsSecretRef('Secret with the Neo4j username and password.'),
    caSecretRef: secretKeyRef(
      'CA bundle (PEM) for a +ssc or self-signed server certificate. Default: the system trust store.',
    ).optional(),
  })
  .describe('A Neo4j you run (Neo4j Aura, a self-managed cluster, ...).');

const neo4jSchema = z
  .object({
    tenantIsolation: z
      .enum(['Label', 'Database'])
      .meta(
        cel({
          rule: 'self == oldSelf',
          message:
            "spec.neo4j.tenantIsolation is immutable: the tenants' data already lives in the old layout",
          messageExpression: celFormat(
            "spec.neo4j.tenantIsolation is immutable (was %s, now %s): the tenants' data already lives in the old layout; restore %s",
            'oldSelf',
            'self',
            'oldSelf',
          ),
        }),
      )
      .optional()
      .describe(
        'How tenants are kept apart in the graph: Label (tenant property and labels, works on Community) or Database (one database per tenant, needs Enterprise or Aura). Default: Label. Immutable.',
      ),
    managed: neo4jManagedSchema.optional(),
    external: neo4jExternalSchema.optional(),
  })
  .meta(
    cel({
      rule: 'has(self.managed) != has(self.external)',
      message: 'spec.neo4j needs exactly one of managed or external',
      messageExpression:
        "has(self.managed) ? 'spec.neo4j sets both managed and external: keep exactly one' : 'spec.neo4j needs one of managed (the operator runs Neo4j) or external (uri and credentials of your Neo4j)'",
    }),
  )
  .describe('The graph store holding entities, relations and chunk vectors: managed or external Neo4j.');

const redisManagedSchema = z
  .object({
    image: image(`Redis image. Default: ${DEFAULT_MANAGED_REDIS.image}.`).optional(),
    imagePullPolicy: imagePullPolicySchema.optional(),
    replicas: z
      .int()
      .min(1)
      .max(5)
      .optional()
      .describe('Redis servers (default 1): one primary, the rest read replicas of it.'),
    storage: storageSchema.optional(),
    resources: resourceRequirementsSchema
      .optional()
      .describe(
        `CPU and memory of each server. Default: ${describeResources(DEFAULT_MANAGED_REDIS.resources)}.`,
      ),
    maxMemory: sizeQuantity('maxMemory')
      .optional()
      .describe(
        `Redis maxmemory, e.g. 1Gi. Default: ${percent(DEFAULT_MANAGED_REDIS.maxMemoryFraction)} of the memory limit.`,
      ),
    maxMemoryPolicy: z
      .enum([
        'noeviction',
        'allkeys-lru',
        'allkeys-lfu',
        'allkeys-random',
        'volatile-lru',
        'volatile-lfu',
        'volatile-random',
        'volatile-ttl',
      ])
      .optional()
      .describe(
        `What Redis evicts at maxMemory. Default: ${DEFAULT_MANAGED_REDIS.maxMemoryPolicy} (it is a cache).`,
      ),
    appendOnly: z
      .boolean()
      .optional()
      .describe(
        `Persist with an append-only file so rate-limit counters survive restarts. Default: ${DEFAULT_MANAGED_REDIS.appendOnly}.`,
      ),
    credentialsSecretRef: credentialsSecretRef(
      'Existing Secret with the default user password (key password). Default: generated by the operator.',
    ).optional(),
  })
  .meta(
    cel({
      rule: "!has(self.maxMemory) || !has(self.resources) || !has(self.resources.limits) || !('memory' in self.resources.limits) || quantity(self.maxMemory).isLessThan(quantity(string(self.resources.limits['memory'])))",
      message: 'maxMemory must be less than resources.limits.memory: raise the limit or lower maxMemory',
      messageExpression: celFormat(
        'maxMemory (%s) must be less than resources.limits.memory (%s): Redis needs headroom to fork and buffer; raise the limit or lower maxMemory',
        'self.maxMemory',
        "self.resources.limits['memory']",
      ),
      fieldPath: '.maxMemory',
    }),
  )
  .describe('A Redis StatefulSet run by the operator.');

const redisUri = withRules(
  z.string().min(1).max(2048),
  {
    rule: "self.startsWith('redis://') || self.startsWith('rediss://')",
    message: 'uri must start with redis:// or rediss:// (TLS), e.g. rediss://cache.example.com:6380',
  },
  {
    rule: "!self.contains('@')",
    message: 'uri must not carry credentials: put the user and password in credentialsSecretRef',
  },
);

const redisExternalSchema = z
  .object({
    uri: redisUri.describe('redis:// or rediss:// (TLS) address, e.g. rediss://my-cache.example.com:6380.'),
    database: z.int().min(0).max(15).optional().describe('Logical database number. Default: 0.'),
    credentialsSecretRef: credentialsSecretRef(
      'Secret with the Redis ACL username (optional key) and password. Omit for a server without auth.',
    ).optional(),
    caSecretRef: secretKeyRef(
      'CA bundle (PEM) for rediss:// with a private CA. Default: the system trust store.',
    ).optional(),
  })
  .describe('A Redis you run (ElastiCache, Memorystore, a self-managed server, ...).');

const redisSchema = z
  .object({
    managed: redisManagedSchema.optional(),
    external: redisExternalSchema.optional(),
  })
  .meta(
    cel({
      rule: 'has(self.managed) != has(self.external)',
      message: 'spec.redis needs exactly one of managed or external',
      messageExpression:
        "has(self.managed) ? 'spec.redis sets both managed and external: keep exactly one' : 'spec.redis needs one of managed (the operator runs Redis) or external (uri of your Redis)'",
    }),
  )
  .describe(
    'The cache (embeddings by content hash, query results) and rate-limit store: managed or external Redis.',
  );

const embeddingSchema = z
  .object({
    model: z
      .string()
      .min(1)
      .max(253)
      .describe(
        `Name of the sentence-embedding model, e.g. ${DEFAULT_EMBEDDING.model}; part of the cache key.`,
      ),
    dimensions: z
      .int()
      .min(8)
      .max(4096)
      .describe(
        `Vector size the model produces (${DEFAULT_EMBEDDING.dimensions} for ${DEFAULT_EMBEDDING.model}); the Neo4j vector index is built for it. Immutable.`,
      ),
    maxSequenceLength: z
      .int()
      .min(8)
      .max(8192)
      .optional()
      .describe('Tokens per input before truncation. Default: the model configuration.'),
    quantization: z
      .enum(MODEL_VARIANTS)
      .optional()
      .describe(
        `ONNX model variant: fp32, or int8 (faster on CPU, slightly different vectors). Default: ${DEFAULT_EMBEDDING.quantization}.`,
      ),
    modelVolume: z
      .object({
        claimName: objectName('modelVolume.claimName').describe(
          'PersistentVolumeClaim (same namespace) holding the exported ONNX model and tokenizer.json.',
        ),
        subPath: z
          .string()
          .max(253)
          .optional()
          .describe('Directory inside the volume that holds the model. Default: the volume root.'),
      })
      .optional()
      .describe(
        'Where the workers that embed load the model from. Default: the model baked into the runtime image.',
      ),
  })
  .describe('The embedding model the workers run (ONNX Runtime).');

const extractionSchema = z
  .object({
    endpoint: withRules(z.string().min(1).max(2048), {
      rule: "self.startsWith('https://') || self.startsWith('http://')",
      message:
        'extraction.endpoint must be an http(s) URL of an OpenAI-compatible API, e.g. https://api.openai.com/v1',
    }).describe(
      'Base URL of an OpenAI-compatible API, e.g. https://api.openai.com/v1 or http://vllm:8000/v1.',
    ),
    model: z.string().min(1).max(253).describe('Model name sent to the endpoint, e.g. gpt-4o-mini.'),
    apiKeySecretRef: secretKeyRef(
      'Secret key holding the API key. Omit for an endpoint without auth.',
    ).optional(),
    requestsPerMinute: z
      .int()
      .min(1)
      .max(1_000_000)
      .optional()
      .describe(
        `Cluster-wide request rate limit towards the endpoint. Default: ${DEFAULT_EXTRACTION.requestsPerMinute}.`,
      ),
    tokensPerMinute: z
      .int()
      .min(1)
      .max(1_000_000_000)
      .optional()
      .describe('Cluster-wide token rate limit towards the endpoint. Default: none.'),
    maxConcurrentRequests: z
      .int()
      .min(1)
      .max(1024)
      .optional()
      .describe(
        `Requests in flight per extract worker. Default: ${DEFAULT_EXTRACTION.maxConcurrentRequests}.`,
      ),
    timeoutSeconds: z
      .int()
      .min(1)
      .max(600)
      .optional()
      .describe(`Timeout of one request in seconds. Default: ${DEFAULT_EXTRACTION.timeoutSeconds}.`),
  })
  .describe('The LLM that extracts entities and relations from chunks (OpenAI-compatible chat completions).');

const runtimeSchema = z
  .object({
    image: image(`Image of the engram-runtime workers. Default: ${DEFAULT_RUNTIME_IMAGE}.`).optional(),
    imagePullPolicy: imagePullPolicySchema.optional(),
    imagePullSecrets: z
      .array(
        z.object({ name: objectName('imagePullSecrets.name').describe('Name of a docker-registry Secret.') }),
      )
      .max(8)
      .optional()
      .describe('Secrets to pull the runtime image with.'),
    logLevel: z
      .enum(['debug', 'info', 'warn', 'error'])
      .optional()
      .describe('Log level of every worker. Default: info.'),
  })
  .describe('Settings every WorkerPool of this cluster inherits.');

export const memoryClusterSpecSchema = z
  .object({
    paused: z
      .boolean()
      .optional()
      .describe(
        'Stop reconciling this cluster (no writes to Kubernetes or Kafka) and report Paused; the annotation engram.dev/paused: "true" does the same.',
      ),
    topicDeletionPolicy: z
      .enum(['Retain', 'Delete'])
      .default('Retain')
      .describe(
        'What happens to the Kafka topics when the MemoryCluster is deleted: Retain keeps them, Delete removes them (through a finalizer that gives up after a timeout or when annotated engram.dev/skip-topic-deletion: "true").',
      ),
    kafka: kafkaSchema,
    neo4j: neo4jSchema,
    redis: redisSchema,
    embedding: embeddingSchema.optional(),
    extraction: extractionSchema.optional(),
    runtime: runtimeSchema.optional(),
  })
  .meta(
    cel({
      rule: `(has(self.embedding) ? self.embedding.dimensions : ${DEFAULT_EMBEDDING.dimensions}) == (has(oldSelf.embedding) ? oldSelf.embedding.dimensions : ${DEFAULT_EMBEDDING.dimensions})`,
      message:
        'spec.embedding.dimensions is immutable: the vector index holds vectors of the old size; create a new MemoryCluster for another model size',
      messageExpression: celFormat(
        'spec.embedding.dimensions is immutable (was %d, now %d): the vector index holds vectors of the old size; create a new MemoryCluster for another model size',
        `has(oldSelf.embedding) ? oldSelf.embedding.dimensions : ${DEFAULT_EMBEDDING.dimensions}`,
        `has(self.embedding) ? self.embedding.dimensions : ${DEFAULT_EMBEDDING.dimensions}`,
      ),
      fieldPath: '.embedding',
    }),
  )
  .describe('Desired state of the memory cluster.');

const topicStatusSchema = z.object({
  key: z.string().max(64).describe('Pipeline topic key, e.g. ingest.raw.'),
  name: z.string().max(249).describe('Full topic name on the broker.'),
  partitions: z.int().min(0).describe('Partitions the topic has on the broker.'),
  replicationFactor: z.int().min(0).describe('Replicas of each partition on the broker.'),
  config: z
    .record(z.string().max(249), z.string().max(1024))
    .meta({ maxProperties: 64 })
    .optional()
    .describe('Topic configs the operator set (retention.ms, ...).'),
  ownership: z
    .enum(['Created', 'Adopted'])
    .optional()
    .describe(
      "Created: this MemoryCluster created the topic (topicDeletionPolicy Delete deletes it). Adopted: it existed and was taken over (annotation engram.dev/adopt-topics, or the cluster's own managed broker); adopted topics are never deleted.",
    ),
  defaults: z
    .object({
      partitions: z.int().min(1).optional().describe('Partitions the default gave the topic.'),
      replicationFactor: z
        .int()
        .min(1)
        .optional()
        .describe('Replication factor the default (or the broker) gave the topic.'),
      config: z
        .record(z.string().max(249), z.string().max(1024))
        .meta({ maxProperties: 64 })
        .optional()
        .describe('Topic configs the defaults set.'),
    })
    .optional()
    .describe(
      'Values the operator filled in from its defaults when it created the topic, kept for the life of the topic: a newer default or more brokers never changes an existing topic.',
    ),
});

export const memoryClusterStatusSchema = z
  .object({
    observedGeneration: observedGenerationSchema,
    conditions: conditionsSchema([...MEMORY_CLUSTER_CONDITIONS, 'Paused']),
    topicPrefix: z.string().max(249).optional().describe('The topic prefix in effect (spec or default).'),
    kafkaClusterId: z
      .string()
      .max(255)
      .optional()
      .describe(
        'Cluster id the Kafka brokers report: MemoryClusters on the same Kafka cluster never share topics.',
      ),
    topics: z
      .array(topicStatusSchema)
      .max(64)
      .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] })
      .optional()
      .describe('The topics as they exist on the broker.'),
    endpoints: z
      .object({
        kafka: z.string().max(2048).optional().describe('Bootstrap servers, comma-separated.'),
        bolt: z.string().max(2048).optional().describe('Neo4j URI the workers use.'),
        redis: z.string().max(2048).optional().describe('Redis URI the workers use.'),
        gateway: z.string().max(2048).optional().describe('HTTP URL of the gateway (ingest and query API).'),
      })
      .optional()
      .describe('Where the cluster services are reachable from inside the Kubernetes cluster.'),
    credentials: z
      .object({
        neo4jSecretName: z.string().max(253).optional().describe('Secret with the Neo4j credentials in use.'),
        redisSecretName: z.string().max(253).optional().describe('Secret with the Redis credentials in use.'),
      })
      .optional()
      .describe('Secrets (same namespace) holding the credentials the workers use.'),
    tenants: z.int().min(0).optional().describe('Number of TenantMemories referencing this cluster.'),
    workers: z
      .object({
        pools: z.int().min(0).describe('Number of WorkerPools referencing this cluster.'),
        replicas: z.int().min(0).describe('Desired worker replicas across all pools.'),
        readyReplicas: z.int().min(0).describe('Ready worker replicas across all pools.'),
        summary: z.string().max(64).describe('readyReplicas/replicas, e.g. 5/6 (the WORKERS column).'),
      })
      .optional()
      .describe('Worker pools of this cluster, summed.'),
    totalLag: z
      .int()
      .min(0)
      .meta({ format: 'int64' })
      .optional()
      .describe('Consumer lag summed over all pools: messages produced but not yet processed.'),
  })
  .describe('Observed state of the memory cluster, written by the operator.');

export const memoryClusterSchema = z.object({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('MemoryCluster'),
  metadata: objectMetaSchema,
  spec: memoryClusterSpecSchema,
  status: memoryClusterStatusSchema.optional(),
});

export type MemoryClusterSpec = z.infer<typeof memoryClusterSpecSchema>;
export type MemoryClusterStatus = z.infer<typeof memoryClusterStatusSchema>;
export type MemoryCluster = z.infer<typeof memoryClusterSchema>;
export type TopicStatus = z.infer<typeof topicStatusSchema>;
