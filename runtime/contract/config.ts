/**
 * The operator<->runtime configuration contract: every environment variable a runtime pod reads,
 * parsed by zod. The operator builds a container's env with `runtimeEnv()`; the runtime reads it
 * with `parseRuntimeConfig()`, which refuses bad input with a message naming the variable and
 * the fix. Each section under config/ owns its variables, checks, config and env output; this
 * index only composes them (a new role's settings: one module, one line in each list below).
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import {
  EVOLVE_VARS,
  type EvolveConfig,
  type EvolveEnvInput,
  evolveConfig,
  writeEvolveEnv,
} from './config/evolve.ts';
import {
  checkExtract,
  EXTRACT_VARS,
  type ExtractConfig,
  type ExtractEnvInput,
  extractConfig,
  writeExtractEnv,
} from './config/extract.ts';
import {
  checkGateway,
  GATEWAY_VARS,
  type GatewayConfig,
  gatewayConfig,
  writeGatewayEnv,
} from './config/gateway.ts';
import {
  type ChunkingConfig,
  type ChunkingEnvInput,
  checkIngest,
  chunkingConfig,
  INGEST_VARS,
  writeIngestEnv,
} from './config/ingest.ts';
import {
  checkKafka,
  KAFKA_VARS,
  type KafkaConfig,
  type KafkaEnvInput,
  kafkaConfig,
  writeKafkaEnv,
} from './config/kafka.ts';
import {
  MODEL_REQUIRED,
  MODEL_VARS,
  type ModelConfig,
  type ModelEnvInput,
  modelConfig,
  writeModelEnv,
} from './config/model.ts';
import {
  POD_VARS,
  type PodConfig,
  type PodEnvInput,
  podConfig,
  resolveRole,
  writePodEnv,
} from './config/pod.ts';
import {
  checkQuery,
  QUERY_VARS,
  type QueryConfig,
  type QueryEnvInput,
  queryConfig,
  writeQueryEnv,
} from './config/query.ts';
import {
  checkResolve,
  RESOLVE_VARS,
  type ResolveConfig,
  type ResolveEnvInput,
  resolveConfig,
  writeResolveEnv,
} from './config/resolve.ts';
import {
  NEO4J_REQUIRED,
  NEO4J_VARS,
  type Neo4jConfig,
  type Neo4jEnvInput,
  neo4jConfig,
  REDIS_REQUIRED,
  REDIS_VARS,
  type RedisConfig,
  type RedisEnvInput,
  redisConfig,
  writeNeo4jEnv,
  writeRedisEnv,
} from './config/stores.ts';
import {
  EnvOutput,
  type EnvVar,
  missingFor,
  type Parsed,
  readVariables,
  type VarTable,
} from './config/variables.ts';
import {
  checkWorker,
  WORKER_VARS,
  type WorkerConfig,
  workerConfig,
  writeWorkerEnv,
} from './config/worker.ts';
import { ROLE_SPECS, type Role, type Store } from './roles.ts';

export { DEFAULT_RAW_TOPIC_MAX_MESSAGE_BYTES, RAW_RECORD_OVERHEAD_BYTES } from './config/gateway.ts';
export type { KafkaConfig } from './config/kafka.ts';
export { SASL_MECHANISMS } from './config/kafka.ts';
export { DEFAULT_MODEL_DIR, EXECUTION_PROVIDERS, MODEL_VARIANTS } from './config/model.ts';
export { DEFAULT_HTTP_PORT, DEFAULT_METRICS_PORT, HEALTH_PATHS, LOG_LEVELS } from './config/pod.ts';
export type { EnvVar, SecretKeyRef, ValueSource, VarSpec } from './config/variables.ts';

/** The table of every variable, for `engram-runtime env` and for messages. */
export const RUNTIME_VARS = {
  ...POD_VARS,
  ...KAFKA_VARS,
  ...NEO4J_VARS,
  ...REDIS_VARS,
  ...WORKER_VARS,
  ...MODEL_VARS,
  ...INGEST_VARS,
  ...GATEWAY_VARS,
  ...EXTRACT_VARS,
  ...RESOLVE_VARS,
  ...QUERY_VARS,
  ...EVOLVE_VARS,
} as const;

type Vars = typeof RUNTIME_VARS;

/** Variable names, for the operator and for messages: `ENV.neo4jUri === 'ENGRAM_NEO4J_URI'`. */
export const ENV = Object.fromEntries(Object.entries(RUNTIME_VARS).map(([k, s]) => [k, s.env])) as {
  [K in keyof Vars]: Vars[K]['env'];
};

export interface RuntimeConfig extends PodConfig {
  kafka: KafkaConfig;
  worker: WorkerConfig;
  neo4j?: Neo4jConfig;
  redis?: RedisConfig;
  model?: ModelConfig;
  /** Ingest: the tokenizer comes from the model dir when it is set, else a conservative estimate. */
  chunking: ChunkingConfig;
  gateway: GatewayConfig;
  extract: ExtractConfig;
  resolve: ResolveConfig;
  query: QueryConfig;
  evolve: EvolveConfig;
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
 * Parses the runtime's environment, section by section. Throws RuntimeConfigError listing every
 * problem with its fix.
 */
export function parseRuntimeConfig(
  env: Record<string, string | undefined>,
  opts: ParseOptions = {},
): RuntimeConfig {
  const read = { readFile: opts.readFile ?? ((p: string) => readFileSync(p, 'utf8')) };
  const problems: string[] = [];
  const section = <V extends VarTable>(table: V): Parsed<V> => readVariables(table, env, read, problems);
  const pod = section(POD_VARS);
  const kafka = section(KAFKA_VARS);
  const neo4j = section(NEO4J_VARS);
  const redis = section(REDIS_VARS);
  const worker = section(WORKER_VARS);
  const model = section(MODEL_VARS);
  const ingest = section(INGEST_VARS);
  const gateway = section(GATEWAY_VARS);
  const extract = section(EXTRACT_VARS);
  const resolve = section(RESOLVE_VARS);
  const query = section(QUERY_VARS);
  const evolve = section(EVOLVE_VARS);

  const role = resolveRole(pod, opts.role, problems);
  if (problems.length > 0 || !role) throw new RuntimeConfigError(problems);

  const required: Record<Exclude<Store, 'kafka'>, () => string[]> = {
    neo4j: () => missingFor(NEO4J_VARS, neo4j, NEO4J_REQUIRED, role),
    redis: () => missingFor(REDIS_VARS, redis, REDIS_REQUIRED, role),
    model: () => missingFor(MODEL_VARS, model, MODEL_REQUIRED, role),
  };
  for (const store of ROLE_SPECS[role].needs) if (store !== 'kafka') problems.push(...required[store]());
  problems.push(
    ...checkKafka(kafka),
    ...checkIngest(ingest),
    ...checkWorker(worker),
    ...checkGateway(gateway),
    ...checkExtract(extract),
    ...checkResolve(resolve),
    ...checkQuery(query),
  );
  if (problems.length > 0) throw new RuntimeConfigError(problems);

  const podSettings = podConfig(pod, role);
  const modelSettings = modelConfig(model);
  const neo4jSettings = neo4jConfig(neo4j);
  const redisSettings = redisConfig(redis);
  return {
    ...podSettings,
    kafka: kafkaConfig(kafka, { cluster: podSettings.cluster, role, hostname: opts.hostname ?? hostname() }),
    worker: workerConfig(worker, role),
    chunking: chunkingConfig(ingest, modelSettings?.dir),
    gateway: gatewayConfig(gateway),
    extract: extractConfig(extract),
    resolve: resolveConfig(resolve),
    query: queryConfig(query),
    evolve: evolveConfig(evolve),
    ...(neo4jSettings && { neo4j: neo4jSettings }),
    ...(redisSettings && { redis: redisSettings }),
    ...(modelSettings && { model: modelSettings }),
  };
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

export interface RuntimeEnvInput extends PodEnvInput {
  role: Role;
  kafka: KafkaEnvInput;
  neo4j?: Neo4jEnvInput;
  redis?: RedisEnvInput;
  worker?: Partial<WorkerConfig>;
  model?: ModelEnvInput;
  chunking?: ChunkingEnvInput;
  gateway?: Partial<GatewayConfig>;
  extract?: ExtractEnvInput;
  resolve?: ResolveEnvInput;
  query?: QueryEnvInput;
  evolve?: EvolveEnvInput;
}

/**
 * The env list of a runtime container, sorted by name so a rebuilt Deployment is byte-identical
 * (no spurious server-side-apply diffs). Secrets stay references; nothing secret is inlined
 * unless the caller passed a plain string.
 */
export function runtimeEnv(input: RuntimeEnvInput): EnvVar[] {
  const out = new EnvOutput();
  writePodEnv(input, out);
  writeKafkaEnv(input.kafka, out);
  writeNeo4jEnv(input.neo4j, out);
  writeRedisEnv(input.redis, out);
  writeWorkerEnv(input.worker, out);
  writeModelEnv(input.model, out);
  writeIngestEnv(input.chunking, out);
  writeGatewayEnv(input.gateway, out);
  writeExtractEnv(input.extract, out);
  writeResolveEnv(input.resolve, out);
  writeQueryEnv(input.query, out);
  writeEvolveEnv(input.evolve, out);
  return out.sorted();
}
