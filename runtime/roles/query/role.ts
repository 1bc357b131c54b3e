/**
 * query: `query.pending` -> answers (query-engine.ts) written to the query's Redis key
 * (redisKeys.query, which the gateway set to `pending`), retrievable by id through
 * `GET /v1/tenants/{tenant}/queries/{id}` for ENGRAM_QUERY_RESULT_TTL_SECONDS.
 */
import { Histogram } from 'prom-client';
import { createNeo4jDriver } from '../../adapters/neo4j.ts';
import { createRedis, redisReady } from '../../adapters/redis.ts';
import type { QueryConfig as QuerySettings } from '../../contract/config/query.ts';
import { type RuntimeConfig, requireSection } from '../../contract/config.ts';
import { METRICS } from '../../contract/metrics.ts';
import { redisKeys } from '../../contract/stores.ts';
import type { RoleContext, RunningRole } from '../../core/role-context.ts';
import type { Logger } from '../../observability/log.ts';
import { LATENCY_BUCKETS, type RuntimeMetrics } from '../../observability/metrics.ts';
import { decodeJson, type QueryRequest, queryRequestSchema } from '../../pipeline/messages.ts';
import { runConsumingRole } from '../../worker/consuming-role.ts';
import type { Processor } from '../../worker/worker.ts';
import { EmbeddingCache } from '../embed/embedding-cache.ts';
import { ThreadedEmbedder } from '../embed/inference-thread.ts';
import { QueryEngine } from './query-engine.ts';
import { QuestionEmbedder } from './question-embedder.ts';

export interface QueryStack {
  engine: QueryEngine;
  settings: QuerySettings;
  redis: ReturnType<typeof createRedis>;
  close(): Promise<void>;
}

/** The engine with its model, Neo4j driver and Redis client: the query role and the gateway's sync route use it. */
export async function openQueryStack(
  config: RuntimeConfig,
  log: Logger,
  metrics: RuntimeMetrics,
  fatal: (error: Error) => void,
): Promise<QueryStack> {
  const settings = config.query;
  const model = requireSection(config, 'model');
  const neo4jConfig = requireSection(config, 'neo4j');
  const embedder = await ThreadedEmbedder.create(
    {
      modelDir: model.dir,
      variant: model.variant,
      intraOpNumThreads: model.threads,
      executionProvider: model.executionProvider,
    },
    { timeoutMs: model.inferenceTimeoutMs, onFatal: fatal },
  );
  const driver = createNeo4jDriver(neo4jConfig, `engram-${config.cluster}-${config.role}-query`, 32);
  await driver.verifyConnectivity({ database: neo4jConfig.database });
  const redis = createRedis(requireSection(config, 'redis'), `engram-${config.cluster}-${config.role}-query`);
  const cache = new EmbeddingCache(redis, {
    cluster: config.cluster,
    dimensions: embedder.dimensions,
    ttlSeconds: model.cacheTtlSeconds,
    log,
  });
  const duration = new Histogram({
    name: METRICS.queryDuration,
    help: 'Wall time of one query, cache lookup included',
    labelNames: ['cached'],
    buckets: LATENCY_BUCKETS,
    registers: [metrics.registry],
  });
  const engine = new QueryEngine(driver, redis, new QuestionEmbedder(embedder, cache), {
    cluster: config.cluster,
    database: neo4jConfig.database,
    settings,
    log,
    observe: (seconds, cached) => duration.observe({ cached: String(cached) }, seconds),
  });
  return {
    engine,
    settings,
    redis,
    close: async () => {
      await embedder.close();
      await driver.close();
      await redis.quit();
    },
  };
}

export function queryProcessor(
  stack: Pick<QueryStack, 'engine' | 'settings' | 'redis'>,
  cluster: string,
): Processor<QueryRequest> {
  return {
    decode: (message) => decodeJson(queryRequestSchema, message.value),
    async process(items) {
      await Promise.all(
        items.map(async ({ value: q }) => {
          const answer = await stack.engine.answer(q.tenantId, q.text, q.topK);
          await stack.redis.set(
            redisKeys.query(cluster, q.tenantId, q.queryId),
            JSON.stringify({ ...answer, queryId: q.queryId }),
            'EX',
            stack.settings.resultTtlSeconds,
          );
        }),
      );
    },
  };
}

export async function start(ctx: RoleContext): Promise<RunningRole> {
  const { config, log, metrics, health } = ctx;
  const stack = await openQueryStack(config, log, metrics, (e) => ctx.fatal(e));
  health.addCheck({ name: 'redis', check: () => redisReady(stack.redis) });
  log.info('query settings', { settings: stack.settings });
  return runConsumingRole(ctx, async () => ({
    processor: queryProcessor(stack, config.cluster),
    close: () => stack.close(),
  }));
}
