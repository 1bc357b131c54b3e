/**
 * MemoryCluster (mc): one AI memory cluster: its Kafka topics, graph store (Neo4j), cache (Redis),
 * embedding and extraction settings. Worker pools and tenants point at it.
 */
import { z } from 'zod';
import { MODEL_VARIANTS, SASL_MECHANISMS } from '../../runtime/contract/config.ts';
import { DEFAULT_TOPIC_PARTITIONS, TOPIC_KEYS, type TopicKey } from '../../runtime/contract/topics.ts';
import { boltUri, bootstrapServer, httpUrl, redisUri, tlsServerName } from './addresses.ts';
import {
  type CelRule,
  cel,
  celField,
  celFormat,
  celString,
  checkedString,
  conditionsSchema,
  credentialsSecretRef,
  image,
  imagePullPolicySchema,
  matchesCheck,
  objectMetaSchema,
  objectName,
  observedGenerationSchema,
  secretKeyRef,
} from './common.ts';
import {
  DEFAULT_EMBEDDING,
  DEFAULT_EXTRACTION,
  DEFAULT_MANAGED_KAFKA,
  DEFAULT_MANAGED_KAFKA_REPLICAS,
  DEFAULT_MANAGED_NEO4J,
  DEFAULT_MANAGED_REDIS,
  DEFAULT_RUNTIME_IMAGE,
  PRODUCTION_REPLICATION_FACTOR,
} from './defaults.ts';
import { duration } from './durations.ts';
import {
  celDescribeMemoryLimit,
  celEffectiveMemoryLimit,
  celIsQuantity,
  celIsSize,
  resourceRequirementsSchema,
  sizeQuantity,
} from './quantities.ts';
import { storageRules, storageSchema } from './storage.ts';
import { TENANT_ID_MAX } from './tenantmemory.ts';
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
        .optional()
        .describe(
          `Replicas of each ${key} partition; overrides spec.kafka.replicationFactor. Immutable: adding, changing or removing it may not change the replicas the topic has.`,
        ),
      retention: duration('retention')
        .optional()
        .describe(
          `How long the ${key} topic keeps messages (Kafka retention.ms), e.g. 168h; at most 87600h. For unlimited retention set config retention.ms: "-1" instead.`,
        ),
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

const brokersExpr = (o: string) =>
  `(has(${o}.managed.replicas) ? ${o}.managed.replicas : ${DEFAULT_MANAGED_KAFKA_REPLICAS})`;

/**
 * Effective replication factor of topics without their own override, in a kafka object (`self` or
 * `oldSelf`): spec.kafka.replicationFactor, else min(3, brokers) for managed Kafka, else 0, meaning
 * the broker's default.replication.factor (which admission cannot know, so any change from it counts).
 */
function kafkaReplicationExpr(o: string): string {
  const b = brokersExpr(o);
  return `(has(${o}.replicationFactor) ? ${o}.replicationFactor : has(${o}.managed) ? (${b} < ${PRODUCTION_REPLICATION_FACTOR} ? ${b} : ${PRODUCTION_REPLICATION_FACTOR}) : 0)`;
}

/** The same for messages: "3", "1 (the default for the managed brokers)", "unset (the broker default)". */
function kafkaReplicationShown(o: string): string {
  return `(has(${o}.replicationFactor) ? string(${o}.replicationFactor) : has(${o}.managed) ? '%d (the default: min(3, managed brokers))'.format([${kafkaReplicationExpr(o)}]) : 'unset (the broker default)')`;
}

/**
 * The replication factor of topics without an override never changes: not by editing it, not by
 * setting or removing it. Left unset on both sides it may follow no rule here: the operator pins
 * the factor it defaulted in status when it creates a topic, so more managed brokers never
 * change an existing topic.
 */
function kafkaReplicationImmutable(): CelRule {
  return {
    rule: `(!has(self.replicationFactor) && !has(oldSelf.replicationFactor)) || ${kafkaReplicationExpr('self')} == ${kafkaReplicationExpr('oldSelf')}`,
    message:
      'spec.kafka.replicationFactor is immutable, set or unset: the operator does not reassign replicas of existing topics',
    messageExpression: celFormat(
      'spec.kafka.replicationFactor is immutable (was %s, now %s): the operator does not reassign replicas of existing topics; %s',
      kafkaReplicationShown('oldSelf'),
      kafkaReplicationShown('self'),
      `has(oldSelf.replicationFactor) ? 'restore %d'.format([oldSelf.replicationFactor]) : 'leave it unset (the factor the topics were created with stays)'`,
    ),
    fieldPath: '.replicationFactor',
  };
}

/** A topic's effective replication factor never changes, whether its override is edited, added or removed. */
function topicReplicationImmutable(key: TopicKey): CelRule {
  const has = (o: string) =>
    `(has(${o}.topics) && has(${o}.topics.${celField(key)}) && has(${o}.topics.${celField(key)}.replicationFactor))`;
  const eff = (o: string) =>
    `(${has(o)} ? ${o}.topics.${celField(key)}.replicationFactor : ${kafkaReplicationExpr(o)})`;
  const shown = (o: string) =>
    `(${has(o)} ? string(${o}.topics.${celField(key)}.replicationFactor) : ${kafkaReplicationExpr(o)} == 0 ? 'unset (the broker default)' : '%d (from spec.kafka)'.format([${kafkaReplicationExpr(o)}]))`;
  return {
    // Neither side overrides: the kafka-level rule speaks for the topic.
    rule: `(!${has('self')} && !${has('oldSelf')}) || ${eff('self')} == ${eff('oldSelf')}`,
    message: `replicationFactor of topic ${key} is immutable: the operator does not reassign replicas; restore the old value`,
    messageExpression: celFormat(
      `replicationFactor of topic ${key} is immutable (was %s, now %s): the operator does not reassign replicas; %s`,
      shown('oldSelf'),
      shown('self'),
      `${has('oldSelf')} ? 'restore %d'.format([oldSelf.topics.${celField(key)}.replicationFactor]) : 'remove the override'`,
    ),
    fieldPath: `.topics[${celString(key)}].replicationFactor`,
  };
}

/** A managed cluster cannot replicate a topic more times than it has brokers. */
function replicationFitsBrokers(): CelRule {
  const brokers = brokersExpr('self');
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

/** Kafka's limit on topic names. */
const KAFKA_MAX_TOPIC_NAME = 249;
const LONGEST_TOPIC_KEY = Math.max(...TOPIC_KEYS.map((k) => k.length));
/**
 * The longest topic a cluster gets is a dedicated topic of a tenant with the longest id,
 * `<topicPrefix>.tenant.<tenantId>.<topic>` (TenantMemory.spec.dedicatedTopics): the prefix must
 * leave room for it within Kafka's 249 characters. The default prefix (engram.<namespace>.<name>,
 * at most 111) always fits.
 */
const TENANT_SEGMENT = '(^|[.])tenant([.]|$)';
export const MAX_TOPIC_PREFIX =
  KAFKA_MAX_TOPIC_NAME - '.tenant.'.length - TENANT_ID_MAX - '.'.length - LONGEST_TOPIC_KEY;

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
  .meta(cel(...storageRules(DEFAULT_MANAGED_KAFKA.storage.size)))
  .describe("A Redpanda StatefulSet the operator runs in the MemoryCluster's namespace.");

const kafkaExternalSchema = z
  .object({
    bootstrapServers: z
      .array(bootstrapServer)
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
        serverName: tlsServerName
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
    topicPrefix: checkedString(
      KAFKA_MAX_TOPIC_NAME,
      matchesCheck(
        '^[a-zA-Z0-9._-]+$',
        "topicPrefix may contain only letters, digits, '.', '_' and '-' (Kafka topic name characters)",
      ),
      {
        cel: `self.size() <= ${MAX_TOPIC_PREFIX}`,
        test: (v) => v.length <= MAX_TOPIC_PREFIX,
        message: `topicPrefix must be at most ${MAX_TOPIC_PREFIX} characters: the longest topic name, <topicPrefix>.tenant.<tenantId of up to ${TENANT_ID_MAX}>.<topic>, must fit in Kafka's ${KAFKA_MAX_TOPIC_NAME}`,
      },
      {
        // <a>.tenant.<t>.<topic> is tenant t's dedicated topic of the cluster with prefix a: a prefix
        // with a tenant segment would make another cluster's topics the same names.
        cel: `!self.matches(${celString(TENANT_SEGMENT)})`,
        test: (v) => !new RegExp(TENANT_SEGMENT).test(v),
        message:
          "topicPrefix must not contain the segment 'tenant': <prefix>.tenant.<tenantId>.<topic> are the dedicated topics of a cluster's tenants, so this prefix could name another cluster's topics",
      },
    )
      .optional()
      .describe(
        `Prefix of every topic name: <topicPrefix>.<topic>, e.g. engram.prod.ingest.raw; at most ${MAX_TOPIC_PREFIX} characters so that tenant topics fit in Kafka's ${KAFKA_MAX_TOPIC_NAME}. Default: engram.<namespace>.<name>. Immutable.`,
      ),
    replicationFactor: z
      .int()
      .min(1)
      .max(MAX_REPLICATION_FACTOR)
      .optional()
      .describe(
        'Replicas of each partition for every topic without its own override. Default: min(3, brokers) for managed Kafka, the broker default for external Kafka. Use 3 in production; 1 only on a single broker. Immutable, default included: to change managed.replicas while it is unset, set it to the replicas the topics have.',
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
      kafkaReplicationImmutable(),
      ...TOPIC_KEYS.map(topicReplicationImmutable),
      replicationFitsBrokers(),
    ),
  )
  .describe(
    'The Kafka-compatible log the pipeline runs on: managed (Redpanda run by the operator) or external, and the seven topics the operator creates on it.',
  );

/**
 * Replicas of a store the operator does not cluster yet: more than one would be independent servers
 * behind one Service, each holding part of the data. Real topologies come in a later release.
 */
function singleReplicaRule(store: string, what: string): CelRule {
  return {
    rule: '!has(self.replicas) || self.replicas <= 1',
    message: `${store}.replicas must be 1: the operator does not set up ${what} replication yet, so more replicas would be independent servers behind one Service, each holding part of the data; set replicas: 1`,
    messageExpression: celFormat(
      `${store}.replicas must be 1, not %d: the operator does not set up ${what} replication yet, so more replicas would be independent servers behind one Service, each holding part of the data; set replicas: 1`,
      'self.replicas',
    ),
    fieldPath: '.replicas',
  };
}

const NEO4J_LIMIT = celEffectiveMemoryLimit('self', DEFAULT_MANAGED_NEO4J.resources.limits.memory);

/** Bytes of an optional Neo4j memory setting, or its default fraction of the limit. */
function neo4jSettingBytes(field: 'heap' | 'pageCache', fraction: number): string {
  const f = `self.memory.${field}`;
  return `(has(self.memory) && has(${f}) ? quantity(${f}).asApproximateFloat() : quantity(${NEO4J_LIMIT}).asApproximateFloat() * ${fraction})`;
}
function neo4jSettingShown(field: 'heap' | 'pageCache', fraction: number): string {
  const f = `self.memory.${field}`;
  return `(has(self.memory) && has(${f}) ? ${f} : '${percent(fraction)} of the limit by default')`;
}
const neo4jSettingValid = (field: 'heap' | 'pageCache') =>
  `(!has(self.memory) || !has(self.memory.${field}) || ${celIsSize(`self.memory.${field}`)})`;

const neo4jManagedSchema = z
  .object({
    image: image(
      `Neo4j image. Default: ${DEFAULT_MANAGED_NEO4J.image}. tenantIsolation Database needs an enterprise image.`,
    ).optional(),
    imagePullPolicy: imagePullPolicySchema.optional(),
    replicas: z
      .int()
      .min(1)
      .max(7)
      .optional()
      .describe(
        'Neo4j servers: 1 (the default and, for now, the only value). The operator does not set up Neo4j clustering yet; more replicas are refused.',
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
      .describe(
        `Neo4j memory settings; heap + pageCache must stay below the memory limit (the default limit ${DEFAULT_MANAGED_NEO4J.resources.limits.memory} when resources is unset).`,
      ),
    credentialsSecretRef: credentialsSecretRef(
      'Existing Secret with the neo4j user password (key password). Default: the operator generates one and never overwrites it.',
    ).optional(),
  })
  .meta(
    cel(
      singleReplicaRule('spec.neo4j.managed', 'Neo4j'),
      {
        // With the defaults filled in: unset heap / page cache are fractions of the limit, and an
        // unset resources means the default limit. No memory limit at all (resources without one): no bound.
        rule: `${NEO4J_LIMIT} == '' || !${celIsQuantity(NEO4J_LIMIT)} || !${neo4jSettingValid('heap')} || !${neo4jSettingValid('pageCache')} || ${neo4jSettingBytes('heap', DEFAULT_MANAGED_NEO4J.heapFraction)} + ${neo4jSettingBytes('pageCache', DEFAULT_MANAGED_NEO4J.pageCacheFraction)} < quantity(${NEO4J_LIMIT}).asApproximateFloat()`,
        message:
          'memory.heap + memory.pageCache must be less than resources.limits.memory (2Gi when resources is unset): raise the limit or lower them',
        messageExpression: celFormat(
          'memory.heap (%s) + memory.pageCache (%s) must be less than resources.limits.memory (%s): Neo4j needs native memory beyond both; raise the limit or lower them',
          neo4jSettingShown('heap', DEFAULT_MANAGED_NEO4J.heapFraction),
          neo4jSettingShown('pageCache', DEFAULT_MANAGED_NEO4J.pageCacheFraction),
          celDescribeMemoryLimit('self', DEFAULT_MANAGED_NEO4J.resources.limits.memory),
        ),
        fieldPath: '.memory',
      },
      ...storageRules(DEFAULT_MANAGED_NEO4J.storage.size),
    ),
  )
  .describe('A Neo4j StatefulSet run by the operator.');

/**
 * Neo4j 5's database names: 3-63 characters, ASCII letters, digits, '.' and '-', starting with a
 * letter, not ending with '.' or '-'; names starting with "system" are reserved. Neo4j folds case,
 * so lowercase is required here to keep the name the operator and workers use the one Neo4j reports.
 */
export const NEO4J_DATABASE_PATTERN = '^[a-z][a-z0-9.-]{1,61}[a-z0-9]$';

const neo4jDatabaseName = checkedString(
  63,
  matchesCheck(
    NEO4J_DATABASE_PATTERN,
    "database must be a Neo4j database name: 3-63 lowercase letters, digits, '.' and '-', starting with a letter and ending with a letter or digit, e.g. neo4j or memory-prod",
  ),
  {
    cel: "!self.startsWith('system')",
    test: (v) => !v.startsWith('system'),
    message: 'database names starting with system are reserved by Neo4j: choose another name',
  },
);

const neo4jExternalSchema = z
  .object({
    uri: boltUri.describe(
      'Bolt or neo4j URI of the server or cluster, e.g. neo4j+s://abcd1234.databases.neo4j.io.',
    ),
    database: neo4jDatabaseName
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

const isolationExpr = (o: string) =>
  `(has(${o}.tenantIsolation) ? ${o}.tenantIsolation : '${DEFAULT_MANAGED_NEO4J.tenantIsolation}')`;
const isolationShown = (o: string) =>
  `(has(${o}.tenantIsolation) ? ${o}.tenantIsolation : '${DEFAULT_MANAGED_NEO4J.tenantIsolation} (the default)')`;

const neo4jSchema = z
  .object({
    tenantIsolation: z
      .enum(['Label', 'Database'])
      .optional()
      .describe(
        `How tenants are kept apart in the graph: Label (tenant property and labels, works on Community) or Database (one database per tenant, needs Enterprise or Aura). Default: ${DEFAULT_MANAGED_NEO4J.tenantIsolation}. Immutable, set or unset.`,
      ),
    managed: neo4jManagedSchema.optional(),
    external: neo4jExternalSchema.optional(),
  })
  .meta(
    cel(
      {
        rule: 'has(self.managed) != has(self.external)',
        message: 'spec.neo4j needs exactly one of managed or external',
        messageExpression:
          "has(self.managed) ? 'spec.neo4j sets both managed and external: keep exactly one' : 'spec.neo4j needs one of managed (the operator runs Neo4j) or external (uri and credentials of your Neo4j)'",
      },
      {
        rule: `${isolationExpr('self')} == ${isolationExpr('oldSelf')}`,
        message:
          "spec.neo4j.tenantIsolation is immutable, set or unset: the tenants' data already lives in the old layout",
        messageExpression: celFormat(
          "spec.neo4j.tenantIsolation is immutable (was %s, now %s): the tenants' data already lives in the old layout; restore %s",
          isolationShown('oldSelf'),
          isolationShown('self'),
          isolationExpr('oldSelf'),
        ),
        fieldPath: '.tenantIsolation',
      },
      {
        rule: `!has(self.managed) || ${isolationExpr('self')} != 'Database' || (has(self.managed.image) && self.managed.image.contains('enterprise'))`,
        message:
          'tenantIsolation Database gives each tenant its own database, which needs Neo4j Enterprise; Neo4j Community has one user database: use tenantIsolation Label, or set spec.neo4j.managed.image to an enterprise image',
        fieldPath: '.tenantIsolation',
      },
    ),
  )
  .describe('The graph store holding entities, relations and chunk vectors: managed or external Neo4j.');

const REDIS_LIMIT = celEffectiveMemoryLimit('self', DEFAULT_MANAGED_REDIS.resources.limits.memory);

const redisManagedSchema = z
  .object({
    image: image(`Redis image. Default: ${DEFAULT_MANAGED_REDIS.image}.`).optional(),
    imagePullPolicy: imagePullPolicySchema.optional(),
    replicas: z
      .int()
      .min(1)
      .max(5)
      .optional()
      .describe(
        'Redis servers: 1 (the default and, for now, the only value). The operator does not set up Redis replication yet; more replicas are refused.',
      ),
    storage: storageSchema.optional(),
    resources: resourceRequirementsSchema
      .optional()
      .describe(
        `CPU and memory of each server. Default: ${describeResources(DEFAULT_MANAGED_REDIS.resources)}.`,
      ),
    maxMemory: sizeQuantity('maxMemory')
      .optional()
      .describe(
        `Redis maxmemory, e.g. 1Gi; below the memory limit (the default limit ${DEFAULT_MANAGED_REDIS.resources.limits.memory} when resources is unset). Default: ${percent(DEFAULT_MANAGED_REDIS.maxMemoryFraction)} of the memory limit.`,
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
        `What Redis evicts at maxMemory. Default: ${DEFAULT_MANAGED_REDIS.maxMemoryPolicy} (the cache's keys carry a TTL; the gateway's idempotency records and rate limits carry none and an allkeys-* policy could evict them).`,
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
    cel(
      singleReplicaRule('spec.redis.managed', 'Redis'),
      {
        // Against the limit the pod really gets: the default one when resources is unset.
        rule: `!has(self.maxMemory) || ${REDIS_LIMIT} == '' || !${celIsSize('self.maxMemory')} || !${celIsQuantity(REDIS_LIMIT)} || quantity(self.maxMemory).isLessThan(quantity(${REDIS_LIMIT}))`,
        message: `maxMemory must be less than resources.limits.memory (${DEFAULT_MANAGED_REDIS.resources.limits.memory} when resources is unset): raise the limit or lower maxMemory`,
        messageExpression: celFormat(
          'maxMemory (%s) must be less than resources.limits.memory (%s): Redis needs headroom to fork and buffer; raise the limit or lower maxMemory',
          'self.maxMemory',
          celDescribeMemoryLimit('self', DEFAULT_MANAGED_REDIS.resources.limits.memory),
        ),
        fieldPath: '.maxMemory',
      },
      ...storageRules(DEFAULT_MANAGED_REDIS.storage.size),
    ),
  )
  .describe('A Redis StatefulSet run by the operator.');

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

/** A '..' path segment: Pod validation refuses it in a volume mount's subPath (it would leave the volume). */
const PARENT_SEGMENT = '(^|/)[.][.](/|$)';
const SUB_PATH_MESSAGE =
  "modelVolume.subPath must be a relative path inside the volume: no leading '/' and no '..' segment, e.g. models/all-MiniLM-L6-v2";
const isLocalDescendingPath = (v: string) => !v.startsWith('/') && !new RegExp(PARENT_SEGMENT).test(v);

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
          .refine((v) => isLocalDescendingPath(v), SUB_PATH_MESSAGE)
          .meta(
            cel({
              rule: `!self.startsWith('/') && !self.matches(${celString(PARENT_SEGMENT)})`,
              message: SUB_PATH_MESSAGE,
            }),
          )
          .optional()
          .describe(
            "Directory inside the volume that holds the model, relative and without '..'. Default: the volume root.",
          ),
      })
      .optional()
      .describe(
        'Where the workers that embed load the model from. Default: the model baked into the runtime image.',
      ),
  })
  .describe('The embedding model the workers run (ONNX Runtime).');

const extractionSchema = z
  .object({
    endpoint: httpUrl('extraction.endpoint').describe(
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
