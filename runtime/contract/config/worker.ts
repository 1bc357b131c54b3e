/** The consuming worker: batch sizes, concurrency, attempts, retry delays, deadlines. */
import type { Role } from '../roles.ts';
import { type EnvOutput, int, type Parsed, v } from './variables.ts';

export const WORKER_VARS = {
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
  fetchMinBytes: v(
    'ENGRAM_FETCH_MIN_BYTES',
    int(1, 16_777_216).optional(),
    'set how many bytes a Kafka fetch waits for (1-16777216), up to ENGRAM_FETCH_MAX_WAIT_MS, or leave it unset for the role default',
  ),
  fetchMaxWaitMs: v(
    'ENGRAM_FETCH_MAX_WAIT_MS',
    int(1, 10_000).optional(),
    'set how long a Kafka fetch may wait for ENGRAM_FETCH_MIN_BYTES in ms (1-10000), or leave it unset for the role default',
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
} as const;

/**
 * Per-role defaults. embed: one inference at a time (its thread count is the CPU budget), with
 * two groups and two partitions in flight so Neo4j writes and fetches overlap the next inference.
 *
 * Fetch: a Kafka fetch returns once it holds `fetchMinBytes` or after `fetchMaxWaitMs`. The roles
 * that write to Neo4j wait for fuller groups when they are caught up: Neo4j's cost per write
 * transaction (statements, commit, vector index refresh) dwarfs its cost per row, and a role that
 * keeps up with a trickle would otherwise commit a transaction of two or three messages at a time
 * (bench/runtime/ingest-throughput.ts: resolve costs Neo4j about 8 ms per extraction in groups of 4,
 * 2 ms in groups of 256). The others take what is there at once (latency first).
 */
interface RoleWorkerDefaults {
  batchSize: number;
  concurrency: number;
  partitionsConcurrently: number;
  fetchMinBytes: number;
  fetchMaxWaitMs: number;
}
const LATENCY_FIRST = { fetchMinBytes: 1, fetchMaxWaitMs: 500 };
const ROLE_BATCH_DEFAULTS: Record<Role, RoleWorkerDefaults> = {
  gateway: { batchSize: 1, concurrency: 1, partitionsConcurrently: 1, ...LATENCY_FIRST },
  ingest: { batchSize: 16, concurrency: 4, partitionsConcurrently: 2, ...LATENCY_FIRST },
  embed: {
    batchSize: 64,
    concurrency: 2,
    partitionsConcurrently: 2,
    fetchMinBytes: 32_768,
    fetchMaxWaitMs: 250,
  },
  extract: { batchSize: 8, concurrency: 8, partitionsConcurrently: 2, ...LATENCY_FIRST },
  resolve: {
    batchSize: 256,
    concurrency: 2,
    partitionsConcurrently: 1,
    fetchMinBytes: 131_072,
    fetchMaxWaitMs: 1000,
  },
  evolve: { batchSize: 64, concurrency: 1, partitionsConcurrently: 1, ...LATENCY_FIRST },
  query: { batchSize: 16, concurrency: 8, partitionsConcurrently: 2, ...LATENCY_FIRST },
};

export interface WorkerConfig {
  batchSize: number;
  concurrency: number;
  partitionsConcurrently: number;
  /** A Kafka fetch returns once it holds this many bytes, or after fetchMaxWaitMs. */
  fetchMinBytes: number;
  fetchMaxWaitMs: number;
  maxAttempts: number;
  maxTransientAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  shutdownTimeoutMs: number;
  /** /healthz fails when the worker has lag and finished no message for this long (0: never). */
  progressTimeoutMs: number;
}

export function checkWorker(p: Parsed<typeof WORKER_VARS>): string[] {
  if (p.retryBaseMs > p.retryMaxMs)
    return ['ENGRAM_RETRY_BASE_MS exceeds ENGRAM_RETRY_MAX_MS. Fix: lower the base or raise the maximum'];
  return [];
}

export function workerConfig(p: Parsed<typeof WORKER_VARS>, role: Role): WorkerConfig {
  const defaults = ROLE_BATCH_DEFAULTS[role];
  return {
    batchSize: p.batchSize ?? defaults.batchSize,
    concurrency: p.concurrency ?? defaults.concurrency,
    partitionsConcurrently: p.partitionsConcurrently ?? defaults.partitionsConcurrently,
    fetchMinBytes: p.fetchMinBytes ?? defaults.fetchMinBytes,
    fetchMaxWaitMs: p.fetchMaxWaitMs ?? defaults.fetchMaxWaitMs,
    maxAttempts: p.maxAttempts,
    maxTransientAttempts: p.maxTransientAttempts,
    retryBaseMs: p.retryBaseMs,
    retryMaxMs: p.retryMaxMs,
    shutdownTimeoutMs: p.shutdownTimeoutMs,
    progressTimeoutMs: p.progressTimeoutMs,
  };
}

export function writeWorkerEnv(input: Partial<WorkerConfig> | undefined, out: EnvOutput): void {
  out.setEach(WORKER_VARS, input);
}
