/**
 * embed: `ingest.embed` -> vectors (ONNX Runtime, Redis cache by content hash) -> chunk nodes in
 * Neo4j. A group's offsets are resolved only after its Neo4j transaction committed; a replayed
 * chunk hits the cache and MERGEs onto its existing node; a chunk of a version older than the
 * stored document's is refused (chunk-store.ts). Deadlines: ENGRAM_INFERENCE_TIMEOUT_MS per model
 * call, ENGRAM_NEO4J_TX_TIMEOUT_MS per write transaction.
 */
import type { Driver } from 'neo4j-driver';
import { Counter, Histogram, type Registry } from 'prom-client';
import { createNeo4jDriver } from '../../adapters/neo4j.ts';
import { createRedis, redisReady } from '../../adapters/redis.ts';
import { requireSection } from '../../contract/config.ts';
import { METRICS } from '../../contract/metrics.ts';
import type { RoleContext, RunningRole } from '../../core/role-context.ts';
import { contentHash, type Embedder } from '../../model/embedder.ts';
import { LATENCY_BUCKETS, type WorkerMetrics } from '../../observability/metrics.ts';
import { type ChunkMessage, chunkMessageSchema, decodeJson } from '../../pipeline/messages.ts';
import { bumpTenantGenerations } from '../../pipeline/tenant-generation.ts';
import { runConsumingRole } from '../../worker/consuming-role.ts';
import type { Processor } from '../../worker/worker.ts';
import { ChunkStore, type ChunkWithVector } from './chunk-store.ts';
import { EmbeddingCache } from './embedding-cache.ts';
import { ThreadedEmbedder } from './inference-thread.ts';

export interface EmbedProcessorOptions {
  embedder: Embedder;
  cache: EmbeddingCache;
  store: Pick<ChunkStore, 'write'>;
  registry: Registry;
  workerMetrics: WorkerMetrics;
  variant: string;
  /** Names the store that cannot be reached, if any (Neo4j; the cache is optional). */
  unavailable?: () => Promise<string | undefined>;
  /** After a committed write: the tenants' cached query results are stale (runtime/pipeline/tenant-generation.ts). */
  bumpGenerations?: (tenantIds: string[]) => Promise<void>;
}

export function embedProcessor(options: EmbedProcessorOptions): Processor<ChunkMessage> {
  const { embedder, cache, store, workerMetrics } = options;
  const registers = [options.registry];
  const labels = { model: embedder.modelId, variant: options.variant };
  const computed = new Counter({
    name: METRICS.embeddingsComputed,
    help: 'Texts run through the model (cache misses)',
    labelNames: ['model', 'variant'],
    registers,
  });
  const duration = new Histogram({
    name: METRICS.embeddingDuration,
    help: 'Wall time of one embedder call',
    labelNames: ['model', 'variant'],
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const written = new Counter({
    name: METRICS.chunksWritten,
    help: 'Chunk nodes written (created or updated)',
    registers,
  });
  const stale = new Counter({
    name: METRICS.staleChunksSkipped,
    help: 'Chunk writes refused because the document already holds a newer version',
    registers,
  });
  const writeDuration = new Histogram({
    name: METRICS.graphWriteDuration,
    help: 'Wall time of one Neo4j write transaction',
    labelNames: ['operation'],
    buckets: LATENCY_BUCKETS,
    registers,
  });

  // One inference at a time: with ENGRAM_CONCURRENCY 2 the next group embeds while the previous
  // one is written to Neo4j, without running two models on the threads one is sized for.
  let inference: Promise<unknown> = Promise.resolve();
  const embedExclusive = (texts: string[]): Promise<Float32Array[]> => {
    const run = inference.then(async () => {
      const stop = duration.startTimer(labels);
      try {
        return await embedder.embed(texts);
      } finally {
        stop();
      }
    });
    inference = run.catch(() => undefined);
    return run;
  };

  return {
    decode: (message) => decodeJson(chunkMessageSchema, message.value),
    ...(options.unavailable && { unavailable: options.unavailable }),
    async process(items) {
      // Identical texts of one tenant are embedded once per group.
      const unique = new Map<string, { tenantId: string; contentHash: string; text: string }>();
      const keyOf = items.map(({ value: c }) => {
        const hash = contentHash(c.text, embedder.modelId);
        const key = `${c.tenantId}/${hash}`;
        if (!unique.has(key)) unique.set(key, { tenantId: c.tenantId, contentHash: hash, text: c.text });
        return key;
      });
      const entries = [...unique.entries()];
      const cached = await cache.get(entries.map(([, e]) => e));
      const vectors = new Map<string, Float32Array>();
      const misses: typeof entries = [];
      for (const [i, entry] of entries.entries()) {
        const hit = cached[i];
        if (hit) vectors.set(entry[0], hit);
        else misses.push(entry);
      }
      if (cache.enabled) {
        workerMetrics.cacheHits.inc({ role: 'embed', cache: 'embedding' }, entries.length - misses.length);
        workerMetrics.cacheMisses.inc({ role: 'embed', cache: 'embedding' }, misses.length);
      }
      if (misses.length > 0) {
        const fresh = await embedExclusive(misses.map(([, e]) => e.text));
        computed.inc(labels, misses.length);
        for (const [i, [key]] of misses.entries()) vectors.set(key, fresh[i]!);
        await cache.set(misses.map(([, e], i) => ({ lookup: e, vector: fresh[i]! })));
      }
      const rows: ChunkWithVector[] = items.map(({ value }, i) => ({
        chunk: value,
        vector: vectors.get(keyOf[i]!)!,
      }));
      const stopWrite = writeDuration.startTimer({ operation: 'write_chunks' });
      const result = await store.write(rows);
      stopWrite();
      if (result.written > 0) await options.bumpGenerations?.(items.map(({ value }) => value.tenantId));
      written.inc(result.written);
      stale.inc(result.stale);
    },
  };
}

export async function start(ctx: RoleContext): Promise<RunningRole> {
  const { config, log, health } = ctx;
  const model = requireSection(config, 'model');
  const neo4jConfig = requireSection(config, 'neo4j');
  const inferenceTimeouts = new Counter({
    name: METRICS.inferenceTimeouts,
    help: 'Inference calls past ENGRAM_INFERENCE_TIMEOUT_MS (each fails its group as transient)',
    registers: [ctx.metrics.registry],
  });
  const embedder = await ThreadedEmbedder.create(
    {
      modelDir: model.dir,
      variant: model.variant,
      intraOpNumThreads: model.threads,
      executionProvider: model.executionProvider,
    },
    {
      timeoutMs: model.inferenceTimeoutMs,
      onFatal: (error) => ctx.fatal(error),
      onTimeout: () => {
        inferenceTimeouts.inc();
        log.error(
          'inference passed its deadline; the group fails as transient and its result will be dropped',
          {
            timeoutMs: model.inferenceTimeoutMs,
          },
        );
      },
    },
  );
  log.info('model loaded', {
    model: embedder.modelId,
    dimensions: embedder.dimensions,
    threads: model.threads,
    provider: model.executionProvider,
  });
  const driver = createNeo4jDriver(neo4jConfig, `engram-${config.cluster}-embed`);
  await driver.verifyConnectivity({ database: neo4jConfig.database });
  const store = new ChunkStore(driver, {
    database: neo4jConfig.database,
    dimensions: embedder.dimensions,
    model: embedder.modelId,
    maxConcurrentWrites: neo4jConfig.maxConcurrentWrites,
    transactionTimeoutMs: neo4jConfig.transactionTimeoutMs,
  });
  await store.ensureSchema();
  const redis = createRedis(requireSection(config, 'redis'), `engram-${config.cluster}-embed`);
  health.addCheck({ name: 'redis', check: () => redisReady(redis) });
  const cache = new EmbeddingCache(redis, {
    cluster: config.cluster,
    dimensions: embedder.dimensions,
    ttlSeconds: model.cacheTtlSeconds,
    log,
  });
  return runConsumingRole(ctx, async () => ({
    processor: embedProcessor({
      embedder,
      cache,
      store,
      registry: ctx.metrics.registry,
      workerMetrics: ctx.metrics.worker,
      variant: model.variant,
      unavailable: () => neo4jUnreachable(driver, neo4jConfig.database),
      bumpGenerations: (tenantIds) => bumpTenantGenerations(redis, config.cluster, tenantIds),
    }),
    close: async () => {
      await embedder.close();
      await driver.close();
      await redis.quit();
    },
  }));
}

/** Whether Neo4j answers at all within a few seconds: a failure then is not the message's fault. */
async function neo4jUnreachable(driver: Driver, database: string): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve('neo4j: no answer within 5 s'), 5000);
  });
  try {
    return await Promise.race([driver.verifyConnectivity({ database }).then(() => undefined), timeout]);
  } catch (err) {
    return `neo4j: ${(err as Error).message}`;
  } finally {
    clearTimeout(timer);
  }
}
