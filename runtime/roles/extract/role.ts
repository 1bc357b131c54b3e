/**
 * The extract role: chunks from ingest.extract in, one extraction message per chunk to
 * graph.resolve (key `<tenantId>/<documentId>`). A group's chunks are extracted concurrently;
 * the LLM provider's limiter bounds what is in flight. A chunk whose model output stays malformed
 * is dead-lettered with the reason while its neighbours are produced; any other failure fails
 * the group (the worker retries, splits it, and dead-letters what keeps failing). Results of a
 * failed group are remembered for its retry, so a retry does not pay for the same call twice.
 */
import type { Redis } from 'ioredis';
import { Counter, Histogram, type Registry } from 'prom-client';
import { createRedis } from '../../adapters/redis.ts';
import { RedisTokenBucket } from '../../adapters/redis-token-bucket.ts';
import { METRICS } from '../../contract/metrics.ts';
import { redisKeys } from '../../contract/stores.ts';
import { topicName } from '../../contract/topics.ts';
import { failureReason } from '../../core/errors.ts';
import type { RoleContext, RunningRole } from '../../core/role-context.ts';
import type { OutboundMessage, ProducerTransport } from '../../core/transport.ts';
import type { Logger } from '../../observability/log.ts';
import { LATENCY_BUCKETS, type WorkerMetrics } from '../../observability/metrics.ts';
import {
  type ChunkMessage,
  chunkMessageSchema,
  decodeJson,
  EXTRACTION_LIMITS,
  type ExtractionMessage,
  extractionMessageSchema,
  messageKey,
} from '../../pipeline/messages.ts';
import { runConsumingRole } from '../../worker/consuming-role.ts';
import type { Processor, Rejection } from '../../worker/worker.ts';
import { BuiltInExtractor } from './built-in-extractor.ts';
import { ChatCompletionsExtractor } from './chat-completions.ts';
import { type Extraction, type Extractor, MalformedExtractionError } from './extractor.ts';
import type { SharedTake } from './request-limiter.ts';

/** Outcomes kept for a failed group's retry (bounded: oldest dropped first). */
const REMEMBERED = 4096;

export interface ExtractProcessorOptions {
  topicPrefix: string;
  registry: Registry;
  producer: ProducerTransport;
  extractor: Extractor;
  workerMetrics: WorkerMetrics;
  log: Logger;
  now?: () => number;
}

/** The graph.resolve message of one chunk, cut until it fits the message's byte bound. */
export function extractionMessage(
  chunk: ChunkMessage,
  extraction: Extraction,
  extractedAt: number,
): ExtractionMessage {
  let { entities, relations } = extraction;
  for (;;) {
    const message = {
      v: 1 as const,
      kind: 'extraction' as const,
      tenantId: chunk.tenantId,
      documentId: chunk.documentId,
      chunkId: chunk.chunkId,
      entities: entities.slice(0, EXTRACTION_LIMITS.entities),
      relations: relations.slice(0, EXTRACTION_LIMITS.relations),
      extractedAt,
      validFrom: chunk.observedAt ?? chunk.documentVersion.timestamp,
    };
    if (Buffer.byteLength(JSON.stringify(message)) <= EXTRACTION_LIMITS.bytes)
      return extractionMessageSchema.parse(message);
    // Relations go first (each names entities that stay), then entities no relation names.
    if (relations.length > 0) relations = relations.slice(0, Math.floor(relations.length * 0.8));
    else entities = entities.slice(0, Math.floor(entities.length * 0.8));
  }
}

/** A chunk's text is fixed by its id and its document's hash. */
const outcomeKey = (chunk: ChunkMessage) => `${chunk.chunkId}:${chunk.documentHash}`;

type Outcome = { extraction: Extraction; extractedAt: number } | { malformed: string };

export function extractProcessor(options: ExtractProcessorOptions): Processor<ChunkMessage> {
  const resolveTopic = topicName(options.topicPrefix, 'graph.resolve');
  const { producer, extractor, log } = options;
  const now = options.now ?? Date.now;
  const registers = [options.registry];
  const entitiesExtracted = new Counter({
    name: METRICS.entitiesExtracted,
    help: 'Entities produced to graph.resolve',
    labelNames: ['extractor'],
    registers,
  });
  const relationsExtracted = new Counter({
    name: METRICS.relationsExtracted,
    help: 'Relations produced to graph.resolve',
    labelNames: ['extractor'],
    registers,
  });
  const remembered = new Map<string, Outcome>();
  const remember = (key: string, outcome: Outcome) => {
    remembered.set(key, outcome);
    if (remembered.size > REMEMBERED) remembered.delete(remembered.keys().next().value!);
  };

  return {
    decode: (message) => decodeJson(chunkMessageSchema, message.value),
    ...(producer.unreachable && { unavailable: () => producer.unreachable!([resolveTopic]) }),
    async process(items, { signal }) {
      const settled = await Promise.allSettled(
        items.map(async ({ value: chunk }) => {
          const key = outcomeKey(chunk);
          const known = remembered.get(key);
          if (known) return known;
          let outcome: Outcome;
          try {
            outcome = { extraction: await extractor.extract(chunk.text, signal), extractedAt: now() };
          } catch (err) {
            if (!(err instanceof MalformedExtractionError)) throw err;
            outcome = { malformed: failureReason(err) };
          }
          remember(key, outcome);
          return outcome;
        }),
      );
      const out: OutboundMessage[] = [];
      const rejected: Rejection[] = [];
      const counts = { entities: 0, relations: 0 };
      let failure: unknown;
      for (const [i, s] of settled.entries()) {
        const { value: chunk, message } = items[i]!;
        if (s.status === 'rejected') failure ??= s.reason;
        else if ('malformed' in s.value) rejected.push({ message, error: s.value.malformed });
        else {
          const extracted = extractionMessage(chunk, s.value.extraction, s.value.extractedAt);
          counts.entities += extracted.entities.length;
          counts.relations += extracted.relations.length;
          out.push({ key: messageKey(chunk.tenantId, chunk.documentId), value: JSON.stringify(extracted) });
        }
      }
      if (failure !== undefined) {
        log.debug('extraction failed for part of a group', {
          failed: settled.filter((s) => s.status === 'rejected').length,
          messages: items.length,
          error: failureReason(failure),
        });
        throw failure;
      }
      if (out.length > 0) {
        await producer.send([{ topic: resolveTopic, messages: out }]);
        options.workerMetrics.produced.inc({ role: 'extract', topic: resolveTopic }, out.length);
        entitiesExtracted.inc({ extractor: extractor.kind }, counts.entities);
        relationsExtracted.inc({ extractor: extractor.kind }, counts.relations);
      }
      for (const { value: chunk } of items) remembered.delete(outcomeKey(chunk));
      return rejected;
    },
  };
}

/** One token from the pool's bucket in Redis: the pool shares its requests-per-minute budget. */
export function sharedRequestBucket(redis: Redis, cluster: string): SharedTake {
  const bucket = new RedisTokenBucket(redis);
  const key = redisKeys.extractionRequests(cluster);
  const expiry = redisKeys.controlExpiry(cluster);
  return async (limits) => {
    const { allowed, waitMs } = await bucket.take(key, expiry, limits, 1);
    return allowed ? 0 : Math.max(1, waitMs);
  };
}

export async function start(ctx: RoleContext): Promise<RunningRole> {
  const { config, log } = ctx;
  const llm = config.extract.llm;
  const redis =
    llm && config.redis ? createRedis(config.redis, `engram-${config.cluster}-extract`) : undefined;
  const registers = [ctx.metrics.registry];
  const extractor: Extractor = llm
    ? new ChatCompletionsExtractor(llm, {
        log,
        metrics: {
          requests: new Counter({
            name: METRICS.extractionRequests,
            help: 'Requests to the chat-completions endpoint by outcome',
            labelNames: ['outcome'],
            registers,
          }),
          duration: new Histogram({
            name: METRICS.extractionRequestDuration,
            help: 'Wall time of one chat-completions request',
            buckets: LATENCY_BUCKETS,
            registers,
          }),
        },
        ...(redis && { shared: sharedRequestBucket(redis, config.cluster) }),
      })
    : new BuiltInExtractor();
  log.info('extracting', {
    extractor: extractor.kind,
    ...(llm && {
      endpoint: new URL(llm.endpoint).host,
      model: llm.model,
      requestsPerMinute: llm.requestsPerMinute,
      maxConcurrentRequests: llm.maxConcurrentRequests,
      timeoutMs: llm.timeoutMs,
      maxRetries: llm.maxRetries,
    }),
  });
  return runConsumingRole(ctx, async (producer) => ({
    processor: extractProcessor({
      topicPrefix: config.topicPrefix,
      registry: ctx.metrics.registry,
      producer,
      extractor,
      workerMetrics: ctx.metrics.worker,
      log,
    }),
    ...(redis && { close: async () => void (await redis.quit()) }),
  }));
}
