/**
 * The operator<->runtime configuration contract: every environment variable a runtime pod reads,
 * parsed by zod. The operator builds a container's env with `runtimeEnv()`; the runtime reads it
 * with `parseRuntimeConfig()`, which refuses bad input with a message naming the variable and
 * the fix. One table below is the only list of variables.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { z } from 'zod';
import { consumerGroupName, isRole, ROLE_SPECS, ROLES, type Role, type Store } from './roles.ts';
import { DEFAULT_TENANT_KEYS_DIR } from './tenants.ts';
import { MAX_METADATA_BYTES } from './topics.ts';

export const DEFAULT_HTTP_PORT = 8080;
/**
 * The ingest.raw topic's max.message.bytes as the operator creates it (DEFAULT_TOPIC_CONFIG in
 * operator/api/defaults.ts; a test keeps the two equal). The gateway never produces a request's
 * records beyond it, so the broker cannot refuse what the gateway accepted.
 */
export const DEFAULT_RAW_TOPIC_MAX_MESSAGE_BYTES = 10 * 1024 * 1024;
/** Room a Kafka record batch needs around one document's value and key (batch + record headers). */
export const RAW_RECORD_OVERHEAD_BYTES = 1024;
export const DEFAULT_METRICS_PORT = 9090;
/** Paths the operator mounts volumes at when it has to (the env vars carry them to the runtime). */
export const DEFAULT_MODEL_DIR = '/models';
export const HEALTH_PATHS = { liveness: '/healthz', readiness: '/readyz', metrics: '/metrics' } as const;

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;
export const MODEL_VARIANTS = ['fp32', 'int8'] as const;
export const EXECUTION_PROVIDERS = ['cpu', 'cuda'] as const;

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const TOPIC_PREFIX = /^[A-Za-z0-9._-]{1,200}$/;

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const list = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.string()).min(1));

interface VarSpec<S extends z.ZodType> {
  env: string;
  schema: S;
  /** What to set when the value is missing or wrong: the second half of the error message. */
  fix: string;
  /** Secrets may also come from `<env>_FILE` (a mounted Secret key), which wins when set. */
  secret?: boolean;
}

function v<S extends z.ZodType>(env: string, schema: S, fix: string, secret = false): VarSpec<S> {
  return { env, schema, fix, secret };
}

/** The table. Optional variables have defaults or are checked per role after parsing. */
export const RUNTIME_VARS = {
  role: v('ENGRAM_ROLE', z.enum(ROLES).optional(), `set it to one of ${ROLES.join(', ')} (or pass the role)`),
  cluster: v(
    'ENGRAM_CLUSTER',
    z.string().regex(DNS_LABEL),
    'set it to the MemoryCluster name (a DNS label, e.g. "demo")',
  ),
  topicPrefix: v(
    'ENGRAM_TOPIC_PREFIX',
    z.string().regex(TOPIC_PREFIX),
    'set it to the MemoryCluster topic prefix (letters, digits, ".", "_", "-"), e.g. "engram.demo"',
  ),
  consumerGroup: v(
    'ENGRAM_CONSUMER_GROUP',
    z.string().min(1).max(255).optional(),
    'leave it unset for `<topicPrefix>.<role>` or set a group id',
  ),
  logLevel: v(
    'ENGRAM_LOG_LEVEL',
    z.enum(LOG_LEVELS).default('info'),
    `set it to one of ${LOG_LEVELS.join(', ')}`,
  ),
  httpPort: v('ENGRAM_HTTP_PORT', int(1, 65535).default(DEFAULT_HTTP_PORT), 'set it to a TCP port (1-65535)'),
  metricsPort: v(
    'ENGRAM_METRICS_PORT',
    int(0, 65535).default(DEFAULT_METRICS_PORT),
    'set it to a TCP port (1-65535; 0 picks a free one)',
  ),

  kafkaBrokers: v(
    'ENGRAM_KAFKA_BROKERS',
    list.pipe(z.array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port'))),
    'set it to a comma-separated list of host:port, e.g. "kafka-0.kafka:9092,kafka-1.kafka:9092"',
  ),
  kafkaClientId: v(
    'ENGRAM_KAFKA_CLIENT_ID',
    z.string().min(1).optional(),
    'set a client id or leave it unset',
  ),
  kafkaTls: v('ENGRAM_KAFKA_TLS', bool.default(false), 'set it to "true" or "false"'),
  kafkaTlsCaFile: v(
    'ENGRAM_KAFKA_TLS_CA_FILE',
    z.string().min(1).optional(),
    'set it to the mounted CA bundle path',
  ),
  kafkaTlsCertFile: v(
    'ENGRAM_KAFKA_TLS_CERT_FILE',
    z.string().min(1).optional(),
    'set it to the mounted client certificate path',
  ),
  kafkaTlsKeyFile: v(
    'ENGRAM_KAFKA_TLS_KEY_FILE',
    z.string().min(1).optional(),
    'set it to the mounted client key path',
  ),
  kafkaSaslMechanism: v(
    'ENGRAM_KAFKA_SASL_MECHANISM',
    z.enum(SASL_MECHANISMS).optional(),
    `set it to one of ${SASL_MECHANISMS.join(', ')}, or unset it to disable SASL`,
  ),
  kafkaSaslUsername: v(
    'ENGRAM_KAFKA_SASL_USERNAME',
    z.string().min(1).optional(),
    'set it (or ENGRAM_KAFKA_SASL_USERNAME_FILE) from the Kafka credentials Secret',
    true,
  ),
  kafkaSaslPassword: v(
    'ENGRAM_KAFKA_SASL_PASSWORD',
    z.string().min(1).optional(),
    'set it (or ENGRAM_KAFKA_SASL_PASSWORD_FILE) from the Kafka credentials Secret',
    true,
  ),
  kafkaSessionTimeoutMs: v(
    'ENGRAM_KAFKA_SESSION_TIMEOUT_MS',
    int(6000, 300_000).default(30_000),
    'set it between 6000 and 300000 (the broker bounds it by group.min/max.session.timeout.ms)',
  ),
  kafkaRebalanceTimeoutMs: v(
    'ENGRAM_KAFKA_REBALANCE_TIMEOUT_MS',
    int(1000, 600_000).default(60_000),
    'set it above the slowest handler call (engram_handler_duration_seconds), e.g. 60000',
  ),
  kafkaHeartbeatIntervalMs: v(
    'ENGRAM_KAFKA_HEARTBEAT_INTERVAL_MS',
    int(100, 60_000).default(3000),
    'set it to about a third of the session timeout or less, e.g. 3000',
  ),

  neo4jUri: v(
    'ENGRAM_NEO4J_URI',
    z
      .string()
      .regex(/^(neo4j|bolt)(\+s|\+ssc)?:\/\/.+/, 'expected a neo4j:// or bolt:// URI')
      .optional(),
    'set it to the Bolt URI, e.g. "bolt://demo-neo4j:7687" or "neo4j+s://<id>.databases.neo4j.io"',
  ),
  neo4jUser: v('ENGRAM_NEO4J_USER', z.string().min(1).default('neo4j'), 'set it to the Neo4j user', true),
  neo4jPassword: v(
    'ENGRAM_NEO4J_PASSWORD',
    z.string().min(1).optional(),
    'set it (or ENGRAM_NEO4J_PASSWORD_FILE) from the Neo4j credentials Secret',
    true,
  ),
  neo4jDatabase: v(
    'ENGRAM_NEO4J_DATABASE',
    z.string().min(1).default('neo4j'),
    'set it to the database name',
  ),
  neo4jMaxConcurrentWrites: v(
    'ENGRAM_NEO4J_MAX_CONCURRENT_WRITES',
    int(1, 64).default(4),
    'set it between 1 and 64 (4-8 avoids lock contention)',
  ),
  neo4jTransactionTimeoutMs: v(
    'ENGRAM_NEO4J_TX_TIMEOUT_MS',
    int(1000, 3_600_000).default(30_000),
    'set the deadline of one Neo4j write transaction in ms (1000-3600000), e.g. 30000',
  ),

  redisUrl: v(
    'ENGRAM_REDIS_URL',
    z
      .string()
      .regex(/^rediss?:\/\/.+/, 'expected a redis:// or rediss:// URL')
      .optional(),
    'set it to the Redis URL without credentials, e.g. "redis://demo-redis:6379"',
  ),
  redisUsername: v(
    'ENGRAM_REDIS_USERNAME',
    z.string().min(1).optional(),
    'set it (or ENGRAM_REDIS_USERNAME_FILE) or leave it unset',
    true,
  ),
  redisPassword: v(
    'ENGRAM_REDIS_PASSWORD',
    z.string().min(1).optional(),
    'set it (or ENGRAM_REDIS_PASSWORD_FILE) from the Redis credentials Secret, or leave it unset',
    true,
  ),

  batchSize: v(
    'ENGRAM_BATCH_SIZE',
    int(1, 10_000).optional(),
    'set the number of messages handed to the processor at once (1-10000)',
  ),
  concurrency: v(
    'ENGRAM_CONCURRENCY',
    int(1, 256).optional(),
    'set how many groups of one partition batch run at once (1-256)',
  ),
  partitionsConcurrently: v(
    'ENGRAM_PARTITIONS_CONCURRENTLY',
    int(1, 256).optional(),
    'set how many partitions are processed at once (1-256), or leave it unset for the role default',
  ),
  maxAttempts: v(
    'ENGRAM_MAX_ATTEMPTS',
    int(1, 100).default(5),
    'set how many times a failing message is tried before it goes to the dlq (1-100)',
  ),
  maxTransientAttempts: v(
    'ENGRAM_MAX_TRANSIENT_ATTEMPTS',
    int(1, 1000).default(8),
    'set how many transient failures (timeouts, Neo4j transient errors) a message may cause before it goes to the dlq (1-1000); failures while a store is down do not count',
  ),
  progressTimeoutMs: v(
    'ENGRAM_PROGRESS_TIMEOUT_MS',
    int(0, 86_400_000).default(600_000),
    'set how long a worker with lag may finish no message before /healthz fails, in ms (0 disables), e.g. 600000',
  ),
  retryBaseMs: v('ENGRAM_RETRY_BASE_MS', int(1, 60_000).default(200), 'set the first retry delay in ms'),
  retryMaxMs: v('ENGRAM_RETRY_MAX_MS', int(1, 600_000).default(30_000), 'set the longest retry delay in ms'),
  shutdownTimeoutMs: v(
    'ENGRAM_SHUTDOWN_TIMEOUT_MS',
    int(0, 3_600_000).default(25_000),
    "set it below the pod's terminationGracePeriodSeconds, e.g. 25000",
  ),

  modelDir: v(
    'ENGRAM_MODEL_DIR',
    z.string().min(1).optional(),
    'set it to the directory holding the exported model (model.onnx / model.int8.onnx, tokenizer)',
  ),
  modelVariant: v(
    'ENGRAM_MODEL_VARIANT',
    z.enum(MODEL_VARIANTS).default('fp32'),
    `set it to one of ${MODEL_VARIANTS.join(', ')}`,
  ),
  modelThreads: v(
    'ENGRAM_MODEL_THREADS',
    int(1, 256).default(1),
    "set it to the pod's CPU limit in whole cores (resourceFieldRef limits.cpu, divisor 1)",
  ),
  executionProvider: v(
    'ENGRAM_EXECUTION_PROVIDER',
    z.enum(EXECUTION_PROVIDERS).default('cpu'),
    `set it to one of ${EXECUTION_PROVIDERS.join(', ')} (cuda needs a CUDA image and a GPU)`,
  ),
  inferenceTimeoutMs: v(
    'ENGRAM_INFERENCE_TIMEOUT_MS',
    int(1000, 3_600_000).default(60_000),
    'set the deadline of one model call in ms (1000-3600000); a call past it fails as transient and counts against its messages',
  ),
  embeddingCacheTtlSeconds: v(
    'ENGRAM_EMBEDDING_CACHE_TTL_SECONDS',
    int(0, 365 * 86_400).default(7 * 86_400),
    'set the embedding cache TTL in seconds (0 disables the cache)',
  ),

  chunkMaxTokens: v(
    'ENGRAM_CHUNK_MAX_TOKENS',
    // all-MiniLM-L6-v2 reads 256 tokens, [CLS] and [SEP] included: 254 is the most a chunk may hold.
    int(16, 8192).default(254),
    "set it to at most the model's sequence length minus 2, e.g. 254 for all-MiniLM-L6-v2",
  ),
  chunkOverlapTokens: v(
    'ENGRAM_CHUNK_OVERLAP_TOKENS',
    int(0, 4096).default(32),
    'set it below ENGRAM_CHUNK_MAX_TOKENS, e.g. 32',
  ),
  maxChunksPerDocument: v(
    'ENGRAM_MAX_CHUNKS_PER_DOCUMENT',
    int(1, 1_000_000).default(4096),
    'set the most chunks one document may yield (1-1000000); a document above it goes to the dlq',
  ),

  tenantKeysDir: v(
    'ENGRAM_TENANT_KEYS_DIR',
    z.string().min(1).default(DEFAULT_TENANT_KEYS_DIR),
    'set it to the directory where the tenant API-key Secret is mounted',
  ),
  tenantQuotasFile: v(
    'ENGRAM_TENANT_QUOTAS_FILE',
    z.string().min(1).optional(),
    'set it to the mounted per-tenant quota JSON, or leave it unset',
  ),
  rateLimitPerSecond: v(
    'ENGRAM_RATE_LIMIT_PER_SECOND',
    z.coerce.number().positive().default(100),
    'set the default documents per second per tenant (> 0)',
  ),
  rateLimitBurst: v(
    'ENGRAM_RATE_LIMIT_BURST',
    int(1, 10_000_000).default(500),
    'set the default burst (documents) per tenant',
  ),
  maxBodyBytes: v(
    'ENGRAM_MAX_BODY_BYTES',
    int(1024, 64 * 1024 * 1024).default(4 * 1024 * 1024),
    'set the largest accepted request body in bytes',
  ),
  maxDocumentBytes: v(
    'ENGRAM_MAX_DOCUMENT_BYTES',
    int(1024, 16 * 1024 * 1024).default(512 * 1024),
    'set the largest ingest.raw message of one document in bytes, as produced (content and metadata JSON-encoded, escapes included)',
  ),
  maxMetadataBytes: v(
    'ENGRAM_MAX_METADATA_BYTES',
    int(64, MAX_METADATA_BYTES).default(8 * 1024),
    'set the largest metadata of one document in bytes, JSON-encoded (at most 64 keys either way)',
  ),
  maxBatchDocuments: v(
    'ENGRAM_MAX_BATCH_DOCUMENTS',
    int(1, 10_000).default(500),
    'set the most documents one batch request may carry',
  ),
  rawTopicMaxMessageBytes: v(
    'ENGRAM_RAW_TOPIC_MAX_MESSAGE_BYTES',
    int(4096, 1024 * 1024 * 1024).default(DEFAULT_RAW_TOPIC_MAX_MESSAGE_BYTES),
    "set it to the ingest.raw topic's max.message.bytes (the gateway keeps every request's records below it)",
  ),
  maxConcurrentRequests: v(
    'ENGRAM_MAX_CONCURRENT_REQUESTS',
    int(1, 100_000).default(64),
    'set how many API requests one gateway serves at once (more get 503 with Retry-After); memory grows by up to ENGRAM_MAX_BODY_BYTES per request',
  ),
  idempotencyTtlSeconds: v(
    'ENGRAM_IDEMPOTENCY_TTL_SECONDS',
    int(60, 365 * 86_400).default(7 * 86_400),
    'set how long a document id + content hash is remembered, in seconds',
  ),
} as const;

type Vars = typeof RUNTIME_VARS;
type Parsed = { [K in keyof Vars]: z.output<Vars[K]['schema']> };

/** Variable names, for the operator and for messages: `ENV.neo4jUri === 'ENGRAM_NEO4J_URI'`. */
export const ENV = Object.fromEntries(Object.entries(RUNTIME_VARS).map(([k, s]) => [k, s.env])) as {
  [K in keyof Vars]: Vars[K]['env'];
};

const STORE_VARS: Record<Exclude<Store, 'kafka'>, (keyof Vars)[]> = {
  neo4j: ['neo4jUri', 'neo4jPassword'],
  redis: ['redisUrl'],
  model: ['modelDir'],
};

/**
 * Per-role defaults. embed: one inference at a time (its thread count is the CPU budget), with
 * two groups and two partitions in flight so Neo4j writes and fetches overlap the next inference.
 */
const ROLE_BATCH_DEFAULTS: Record<
  Role,
  { batchSize: number; concurrency: number; partitionsConcurrently: number }
> = {
  gateway: { batchSize: 1, concurrency: 1, partitionsConcurrently: 1 },
  ingest: { batchSize: 16, concurrency: 4, partitionsConcurrently: 2 },
  embed: { batchSize: 64, concurrency: 2, partitionsConcurrently: 2 },
  extract: { batchSize: 8, concurrency: 8, partitionsConcurrently: 2 },
  resolve: { batchSize: 256, concurrency: 2, partitionsConcurrently: 1 },
  evolve: { batchSize: 64, concurrency: 1, partitionsConcurrently: 1 },
  query: { batchSize: 16, concurrency: 8, partitionsConcurrently: 2 },
};

export interface KafkaConfig {
  brokers: string[];
  clientId: string;
  tls: false | { caFile?: string; certFile?: string; keyFile?: string };
  sasl?: { mechanism: (typeof SASL_MECHANISMS)[number]; username: string; password: string };
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  heartbeatIntervalMs: number;
}

export interface RuntimeConfig {
  role: Role;
  cluster: string;
  topicPrefix: string;
  consumerGroup: string;
  logLevel: (typeof LOG_LEVELS)[number];
  httpPort: number;
  metricsPort: number;
  kafka: KafkaConfig;
  worker: {
    batchSize: number;
    concurrency: number;
    partitionsConcurrently: number;
    maxAttempts: number;
    maxTransientAttempts: number;
    retryBaseMs: number;
    retryMaxMs: number;
    shutdownTimeoutMs: number;
    /** /healthz fails when the worker has lag and finished no message for this long (0: never). */
    progressTimeoutMs: number;
  };
  neo4j?: {
    uri: string;
    user: string;
    password: string;
    database: string;
    maxConcurrentWrites: number;
    transactionTimeoutMs: number;
  };
  redis?: { url: string; username?: string; password?: string };
  model?: {
    dir: string;
    variant: (typeof MODEL_VARIANTS)[number];
    threads: number;
    executionProvider: (typeof EXECUTION_PROVIDERS)[number];
    cacheTtlSeconds: number;
    inferenceTimeoutMs: number;
  };
  /** Ingest: the tokenizer comes from the model dir when it is set, else a conservative estimate. */
  chunking: { maxTokens: number; overlapTokens: number; maxChunksPerDocument: number; tokenizerDir?: string };
  gateway: {
    tenantKeysDir: string;
    tenantQuotasFile?: string;
    rateLimitPerSecond: number;
    rateLimitBurst: number;
    maxBodyBytes: number;
    maxDocumentBytes: number;
    maxMetadataBytes: number;
    maxBatchDocuments: number;
    rawTopicMaxMessageBytes: number;
    maxConcurrentRequests: number;
    idempotencyTtlSeconds: number;
  };
}

export class RuntimeConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid runtime configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'RuntimeConfigError';
    this.problems = problems;
  }
}

export interface ParseOptions {
  /** Role from the command line; wins over ENGRAM_ROLE, which must agree when both are set. */
  role?: string;
  readFile?: (path: string) => string;
  hostname?: string;
}

/**
 * Parses the runtime's environment. Empty strings count as unset (Kubernetes renders an empty
 * ConfigMap value as ""). Throws RuntimeConfigError listing every problem with its fix.
 */
export function parseRuntimeConfig(
  env: Record<string, string | undefined>,
  opts: ParseOptions = {},
): RuntimeConfig {
  const readFile = opts.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const problems: string[] = [];
  const values: Record<string, unknown> = {};

  for (const [key, spec] of Object.entries(RUNTIME_VARS) as [keyof Vars, VarSpec<z.ZodType>][]) {
    let raw = env[spec.env] === '' ? undefined : env[spec.env];
    const fileVar = `${spec.env}_FILE`;
    if (spec.secret && env[fileVar]) {
      try {
        raw = readFile(env[fileVar]!).trim();
      } catch (err) {
        problems.push(
          `${fileVar}: cannot read ${env[fileVar]} (${(err as Error).message}). ` +
            `Fix: mount the Secret at that path or set ${spec.env} instead`,
        );
        continue;
      }
    }
    const result = spec.schema.safeParse(raw);
    if (result.success) {
      values[key] = result.data;
    } else {
      const shown = spec.secret ? '' : raw === undefined ? ' (unset)' : ` (got ${JSON.stringify(raw)})`;
      const why = raw === undefined ? 'is required' : (result.error.issues[0]?.message ?? 'is invalid');
      problems.push(`${spec.env}${shown}: ${why}. Fix: ${spec.fix}`);
    }
  }

  let role: Role | undefined;
  const envRole = values['role'] as Role | undefined;
  if (opts.role !== undefined) {
    if (!isRole(opts.role))
      problems.push(`role "${opts.role}" is unknown. Fix: use one of ${ROLES.join(', ')}`);
    else if (envRole && envRole !== opts.role)
      problems.push(
        `ENGRAM_ROLE (got "${envRole}") disagrees with the command-line role "${opts.role}". Fix: unset one of them`,
      );
    else role = opts.role;
  } else if (envRole) {
    role = envRole;
  } else if (!problems.some((p) => p.startsWith('ENGRAM_ROLE'))) {
    problems.push(
      `no role given. Fix: pass it (engram-runtime <role>) or set ENGRAM_ROLE to one of ${ROLES.join(', ')}`,
    );
  }
  if (problems.length > 0 || !role) throw new RuntimeConfigError(problems);

  const p = values as Parsed;
  for (const store of ROLE_SPECS[role].needs) {
    if (store === 'kafka') continue;
    for (const key of STORE_VARS[store]) {
      if (p[key] === undefined) {
        const spec = RUNTIME_VARS[key];
        problems.push(`${spec.env} is required for role ${role}. Fix: ${spec.fix}`);
      }
    }
  }
  if (p.kafkaSaslMechanism && (!p.kafkaSaslUsername || !p.kafkaSaslPassword)) {
    problems.push(
      `ENGRAM_KAFKA_SASL_MECHANISM is ${p.kafkaSaslMechanism} but the username or password is missing. ` +
        'Fix: set ENGRAM_KAFKA_SASL_USERNAME and ENGRAM_KAFKA_SASL_PASSWORD (or their _FILE variants)',
    );
  }
  if ((p.kafkaTlsCertFile === undefined) !== (p.kafkaTlsKeyFile === undefined)) {
    problems.push(
      'ENGRAM_KAFKA_TLS_CERT_FILE and ENGRAM_KAFKA_TLS_KEY_FILE must be set together. Fix: set both or neither',
    );
  }
  if (p.chunkOverlapTokens >= p.chunkMaxTokens) {
    problems.push(
      `ENGRAM_CHUNK_OVERLAP_TOKENS (${p.chunkOverlapTokens}) must be below ENGRAM_CHUNK_MAX_TOKENS (${p.chunkMaxTokens}). ` +
        'Fix: lower the overlap',
    );
  }
  if (p.retryBaseMs > p.retryMaxMs) {
    problems.push(
      'ENGRAM_RETRY_BASE_MS exceeds ENGRAM_RETRY_MAX_MS. Fix: lower the base or raise the maximum',
    );
  }
  if (p.kafkaHeartbeatIntervalMs * 3 > p.kafkaSessionTimeoutMs) {
    problems.push(
      'ENGRAM_KAFKA_HEARTBEAT_INTERVAL_MS must be at most a third of ENGRAM_KAFKA_SESSION_TIMEOUT_MS. ' +
        'Fix: lower the interval or raise the session timeout',
    );
  }
  if (p.maxDocumentBytes + RAW_RECORD_OVERHEAD_BYTES > p.rawTopicMaxMessageBytes) {
    problems.push(
      `ENGRAM_MAX_DOCUMENT_BYTES (${p.maxDocumentBytes}) plus ${RAW_RECORD_OVERHEAD_BYTES} bytes of record envelope exceeds ` +
        `ENGRAM_RAW_TOPIC_MAX_MESSAGE_BYTES (${p.rawTopicMaxMessageBytes}): the broker would refuse such a document. ` +
        "Fix: lower ENGRAM_MAX_DOCUMENT_BYTES or raise the ingest.raw topic's max.message.bytes and this variable with it",
    );
  }
  if (p.maxMetadataBytes >= p.maxDocumentBytes) {
    problems.push(
      `ENGRAM_MAX_METADATA_BYTES (${p.maxMetadataBytes}) must be below ENGRAM_MAX_DOCUMENT_BYTES (${p.maxDocumentBytes}). ` +
        'Fix: lower the metadata bound',
    );
  }
  if (problems.length > 0) throw new RuntimeConfigError(problems);

  const defaults = ROLE_BATCH_DEFAULTS[role];
  const tlsOn = p.kafkaTls || p.kafkaTlsCaFile !== undefined || p.kafkaTlsCertFile !== undefined;
  const config: RuntimeConfig = {
    role,
    cluster: p.cluster,
    topicPrefix: p.topicPrefix,
    consumerGroup: p.consumerGroup ?? consumerGroupName(p.topicPrefix, role),
    logLevel: p.logLevel,
    httpPort: p.httpPort,
    metricsPort: p.metricsPort,
    kafka: {
      brokers: p.kafkaBrokers,
      clientId: p.kafkaClientId ?? `engram-${p.cluster}-${role}-${opts.hostname ?? hostname()}`,
      tls: tlsOn
        ? {
            ...(p.kafkaTlsCaFile && { caFile: p.kafkaTlsCaFile }),
            ...(p.kafkaTlsCertFile && { certFile: p.kafkaTlsCertFile }),
            ...(p.kafkaTlsKeyFile && { keyFile: p.kafkaTlsKeyFile }),
          }
        : false,
      ...(p.kafkaSaslMechanism && {
        sasl: {
          mechanism: p.kafkaSaslMechanism,
          username: p.kafkaSaslUsername!,
          password: p.kafkaSaslPassword!,
        },
      }),
      sessionTimeoutMs: p.kafkaSessionTimeoutMs,
      rebalanceTimeoutMs: p.kafkaRebalanceTimeoutMs,
      heartbeatIntervalMs: p.kafkaHeartbeatIntervalMs,
    },
    worker: {
      batchSize: p.batchSize ?? defaults.batchSize,
      concurrency: p.concurrency ?? defaults.concurrency,
      partitionsConcurrently: p.partitionsConcurrently ?? defaults.partitionsConcurrently,
      maxAttempts: p.maxAttempts,
      maxTransientAttempts: p.maxTransientAttempts,
      retryBaseMs: p.retryBaseMs,
      retryMaxMs: p.retryMaxMs,
      shutdownTimeoutMs: p.shutdownTimeoutMs,
      progressTimeoutMs: p.progressTimeoutMs,
    },
    chunking: {
      maxTokens: p.chunkMaxTokens,
      overlapTokens: p.chunkOverlapTokens,
      maxChunksPerDocument: p.maxChunksPerDocument,
      ...(p.modelDir && { tokenizerDir: p.modelDir }),
    },
    gateway: {
      tenantKeysDir: p.tenantKeysDir,
      ...(p.tenantQuotasFile && { tenantQuotasFile: p.tenantQuotasFile }),
      rateLimitPerSecond: p.rateLimitPerSecond,
      rateLimitBurst: p.rateLimitBurst,
      maxBodyBytes: p.maxBodyBytes,
      maxDocumentBytes: p.maxDocumentBytes,
      maxMetadataBytes: p.maxMetadataBytes,
      maxBatchDocuments: p.maxBatchDocuments,
      rawTopicMaxMessageBytes: p.rawTopicMaxMessageBytes,
      maxConcurrentRequests: p.maxConcurrentRequests,
      idempotencyTtlSeconds: p.idempotencyTtlSeconds,
    },
  };
  if (p.neo4jUri && p.neo4jPassword) {
    config.neo4j = {
      uri: p.neo4jUri,
      user: p.neo4jUser,
      password: p.neo4jPassword,
      database: p.neo4jDatabase,
      maxConcurrentWrites: p.neo4jMaxConcurrentWrites,
      transactionTimeoutMs: p.neo4jTransactionTimeoutMs,
    };
  }
  if (p.redisUrl) {
    config.redis = {
      url: p.redisUrl,
      ...(p.redisUsername && { username: p.redisUsername }),
      ...(p.redisPassword && { password: p.redisPassword }),
    };
  }
  if (p.modelDir) {
    config.model = {
      dir: p.modelDir,
      variant: p.modelVariant,
      threads: p.modelThreads,
      executionProvider: p.executionProvider,
      cacheTtlSeconds: p.embeddingCacheTtlSeconds,
      inferenceTimeoutMs: p.inferenceTimeoutMs,
    };
  }
  return config;
}

/** Returns the named section or throws (for code paths the role table guarantees). */
export function requireSection<K extends 'neo4j' | 'redis' | 'model'>(
  config: RuntimeConfig,
  section: K,
): NonNullable<RuntimeConfig[K]> {
  const value = config[section];
  if (!value) throw new RuntimeConfigError([`role ${config.role} needs the ${section} settings`]);
  return value as NonNullable<RuntimeConfig[K]>;
}

// ---------------------------------------------------------------------------------------------
// The operator's side: build a container's env from what it knows.

/** A Secret key reference, as in a Pod spec. */
export interface SecretKeyRef {
  secretKeyRef: { name: string; key: string };
}

/** Shape-compatible with Kubernetes' V1EnvVar. */
export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?:
    | SecretKeyRef
    | { resourceFieldRef: { resource: string; divisor?: string; containerName?: string } }
    | { fieldRef: { fieldPath: string } };
}

export type ValueSource = string | SecretKeyRef;

export interface RuntimeEnvInput {
  role: Role;
  cluster: string;
  topicPrefix: string;
  consumerGroup?: string;
  logLevel?: (typeof LOG_LEVELS)[number];
  httpPort?: number;
  metricsPort?: number;
  kafka: {
    brokers: string[];
    tls?: boolean | { caFile?: string; certFile?: string; keyFile?: string };
    sasl?: { mechanism: (typeof SASL_MECHANISMS)[number]; username: ValueSource; password: ValueSource };
    sessionTimeoutMs?: number;
    rebalanceTimeoutMs?: number;
    heartbeatIntervalMs?: number;
  };
  neo4j?: {
    uri: string;
    user?: ValueSource;
    password: ValueSource;
    database?: string;
    maxConcurrentWrites?: number;
    transactionTimeoutMs?: number;
  };
  redis?: { url: string; username?: ValueSource; password?: ValueSource };
  worker?: Partial<RuntimeConfig['worker']>;
  model?: {
    dir: string;
    variant?: (typeof MODEL_VARIANTS)[number];
    /** A number, or 'cpu-limit' to read the container's CPU limit in whole cores. */
    threads?: number | 'cpu-limit';
    executionProvider?: (typeof EXECUTION_PROVIDERS)[number];
    cacheTtlSeconds?: number;
    inferenceTimeoutMs?: number;
  };
  chunking?: { maxTokens?: number; overlapTokens?: number; maxChunksPerDocument?: number };
  gateway?: Partial<RuntimeConfig['gateway']>;
}

/**
 * The env list of a runtime container, sorted by name so a rebuilt Deployment is byte-identical
 * (no spurious server-side-apply diffs). Secrets stay references; nothing secret is inlined
 * unless the caller passed a plain string.
 */
export function runtimeEnv(input: RuntimeEnvInput): EnvVar[] {
  const out = new Map<string, EnvVar>();
  const set = (key: keyof Vars, value: string | number | boolean | undefined) => {
    if (value === undefined) return;
    const name = RUNTIME_VARS[key].env;
    out.set(name, { name, value: String(value) });
  };
  const setSource = (key: keyof Vars, source: ValueSource | undefined) => {
    if (source === undefined) return;
    const name = RUNTIME_VARS[key].env;
    out.set(name, typeof source === 'string' ? { name, value: source } : { name, valueFrom: source });
  };

  set('role', input.role);
  set('cluster', input.cluster);
  set('topicPrefix', input.topicPrefix);
  set('consumerGroup', input.consumerGroup);
  set('logLevel', input.logLevel);
  set('httpPort', input.httpPort);
  set('metricsPort', input.metricsPort);
  set('kafkaBrokers', input.kafka.brokers.join(','));
  const tls = input.kafka.tls;
  if (tls) {
    set('kafkaTls', true);
    if (typeof tls === 'object') {
      set('kafkaTlsCaFile', tls.caFile);
      set('kafkaTlsCertFile', tls.certFile);
      set('kafkaTlsKeyFile', tls.keyFile);
    }
  }
  if (input.kafka.sasl) {
    set('kafkaSaslMechanism', input.kafka.sasl.mechanism);
    setSource('kafkaSaslUsername', input.kafka.sasl.username);
    setSource('kafkaSaslPassword', input.kafka.sasl.password);
  }
  set('kafkaSessionTimeoutMs', input.kafka.sessionTimeoutMs);
  set('kafkaRebalanceTimeoutMs', input.kafka.rebalanceTimeoutMs);
  set('kafkaHeartbeatIntervalMs', input.kafka.heartbeatIntervalMs);
  if (input.neo4j) {
    set('neo4jUri', input.neo4j.uri);
    setSource('neo4jUser', input.neo4j.user);
    setSource('neo4jPassword', input.neo4j.password);
    set('neo4jDatabase', input.neo4j.database);
    set('neo4jMaxConcurrentWrites', input.neo4j.maxConcurrentWrites);
    set('neo4jTransactionTimeoutMs', input.neo4j.transactionTimeoutMs);
  }
  if (input.redis) {
    set('redisUrl', input.redis.url);
    setSource('redisUsername', input.redis.username);
    setSource('redisPassword', input.redis.password);
  }
  const w = input.worker ?? {};
  set('batchSize', w.batchSize);
  set('concurrency', w.concurrency);
  set('partitionsConcurrently', w.partitionsConcurrently);
  set('maxAttempts', w.maxAttempts);
  set('maxTransientAttempts', w.maxTransientAttempts);
  set('progressTimeoutMs', w.progressTimeoutMs);
  set('retryBaseMs', w.retryBaseMs);
  set('retryMaxMs', w.retryMaxMs);
  set('shutdownTimeoutMs', w.shutdownTimeoutMs);
  if (input.model) {
    set('modelDir', input.model.dir);
    set('modelVariant', input.model.variant);
    set('executionProvider', input.model.executionProvider);
    set('embeddingCacheTtlSeconds', input.model.cacheTtlSeconds);
    set('inferenceTimeoutMs', input.model.inferenceTimeoutMs);
    if (input.model.threads === 'cpu-limit') {
      const name = RUNTIME_VARS.modelThreads.env;
      out.set(name, { name, valueFrom: { resourceFieldRef: { resource: 'limits.cpu', divisor: '1' } } });
    } else {
      set('modelThreads', input.model.threads);
    }
  }
  set('chunkMaxTokens', input.chunking?.maxTokens);
  set('chunkOverlapTokens', input.chunking?.overlapTokens);
  set('maxChunksPerDocument', input.chunking?.maxChunksPerDocument);
  const g = input.gateway ?? {};
  set('tenantKeysDir', g.tenantKeysDir);
  set('tenantQuotasFile', g.tenantQuotasFile);
  set('rateLimitPerSecond', g.rateLimitPerSecond);
  set('rateLimitBurst', g.rateLimitBurst);
  set('maxBodyBytes', g.maxBodyBytes);
  set('maxDocumentBytes', g.maxDocumentBytes);
  set('maxMetadataBytes', g.maxMetadataBytes);
  set('maxBatchDocuments', g.maxBatchDocuments);
  set('rawTopicMaxMessageBytes', g.rawTopicMaxMessageBytes);
  set('maxConcurrentRequests', g.maxConcurrentRequests);
  set('idempotencyTtlSeconds', g.idempotencyTtlSeconds);

  return [...out.values()].sort((a, b) => a.name.localeCompare(b.name));
}
