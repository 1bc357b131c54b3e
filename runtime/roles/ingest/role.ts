/**
 * ingest: `ingest.raw` -> chunks -> `ingest.embed` and `ingest.extract`. Stateless: a document's
 * chunks are produced (acknowledged by the broker) before its offset is resolved, and their ids
 * are deterministic, so a redelivered document produces the same chunks and downstream writes
 * dedupe them. The document version is the raw message's log position (never a producer's
 * clock), and the document's metadata rides on chunk 0 only.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { Counter, Histogram, type Registry } from 'prom-client';
import { METRICS } from '../../contract/metrics.ts';
import { topicName } from '../../contract/topics.ts';
import { failureReason, PoisonMessageError } from '../../core/errors.ts';
import type { RoleContext, RunningRole } from '../../core/role-context.ts';
import type { OutboundMessage, ProducerTransport } from '../../core/transport.ts';
import type { WorkerMetrics } from '../../observability/metrics.ts';
import {
  type ChunkMessage,
  chunkId,
  chunkMessageSchema,
  type DocumentVersion,
  decodeJson,
  messageKey,
  type RawDocument,
  rawDocumentSchema,
  versionAt,
} from '../../pipeline/messages.ts';
import { runConsumingRole } from '../../worker/consuming-role.ts';
import type { Processor, Rejection } from '../../worker/worker.ts';
import { chunkText, estimateTokens, type TokenCounter } from './chunker.ts';
import { loadTokenCounter } from './token-counter.ts';

export interface ChunkingSettings {
  maxTokens: number;
  overlapTokens: number;
  countTokens: TokenCounter;
  /** The most chunks one document may yield: bounds the work and bytes one request can cause. */
  maxChunksPerDocument: number;
  maxChars?: number;
}

export interface IngestProcessorOptions extends ChunkingSettings {
  topicPrefix: string;
  producer: ProducerTransport;
  registry: Registry;
  workerMetrics: WorkerMetrics;
}

/**
 * Builds the chunk messages of one document version (pure). Throws PoisonMessageError when the
 * document yields no chunk (only whitespace) or more than `maxChunksPerDocument`.
 */
export function chunkDocument(
  doc: RawDocument,
  version: DocumentVersion,
  options: ChunkingSettings,
): ChunkMessage[] {
  const chunks = chunkText(doc.content, options);
  if (chunks.length === 0) throw new PoisonMessageError('document has no text to chunk (only whitespace)');
  if (chunks.length > options.maxChunksPerDocument)
    throw new PoisonMessageError(
      `document yields ${chunks.length} chunks, more than ENGRAM_MAX_CHUNKS_PER_DOCUMENT ` +
        `(${options.maxChunksPerDocument}): split it into smaller documents or raise the limit`,
    );
  return chunks.map((c) =>
    chunkMessageSchema.parse({
      v: 2,
      kind: 'chunk',
      tenantId: doc.tenantId,
      documentId: doc.documentId,
      documentVersion: version,
      documentHash: doc.contentHash,
      chunkId: chunkId(doc.tenantId, doc.documentId, c.index),
      index: c.index,
      count: chunks.length,
      text: c.text,
      tokens: c.tokens,
      start: c.start,
      end: c.end,
      ...(c.index === 0 && doc.metadata && { metadata: doc.metadata }),
      ...(doc.observedAt !== undefined && { observedAt: doc.observedAt }),
    }),
  );
}

export function ingestProcessor(options: IngestProcessorOptions): Processor<RawDocument> {
  const chunksEmitted = new Counter({
    name: METRICS.chunksEmitted,
    help: 'Chunk messages emitted (counted once, though each goes to ingest.embed and ingest.extract)',
    labelNames: ['tenant'],
    registers: [options.registry],
  });
  const chunkTokens = new Histogram({
    name: METRICS.chunkTokens,
    help: 'Model tokens per emitted chunk',
    buckets: [16, 32, 64, 128, 192, 256, 384, 512],
    registers: [options.registry],
  });
  const embedTopic = topicName(options.topicPrefix, 'ingest.embed');
  const extractTopic = topicName(options.topicPrefix, 'ingest.extract');
  const { producer } = options;
  return {
    decode: (message) => decodeJson(rawDocumentSchema, message.value),
    // A chunk topic Kafka cannot serve (missing, leaderless) is everyone's problem, not a document's.
    ...(producer.unreachable && { unavailable: () => producer.unreachable!([embedTopic, extractTopic]) }),
    async process(items) {
      const out: OutboundMessage[] = [];
      const rejected: Rejection[] = [];
      const perTenant = new Map<string, number>();
      for (const [n, { value: doc, message }] of items.entries()) {
        // Chunking a large document takes tens of milliseconds: let heartbeats and I/O in between.
        if (n > 0) await yieldToEventLoop();
        let chunks: ChunkMessage[];
        try {
          chunks = chunkDocument(doc, versionAt(message), options);
        } catch (err) {
          if (!(err instanceof PoisonMessageError)) throw err;
          rejected.push({ message, error: failureReason(err) });
          continue;
        }
        for (const chunk of chunks) {
          out.push({ key: messageKey(doc.tenantId, doc.documentId), value: JSON.stringify(chunk) });
          chunkTokens.observe(chunk.tokens);
        }
        perTenant.set(doc.tenantId, (perTenant.get(doc.tenantId) ?? 0) + chunks.length);
      }
      if (out.length > 0) {
        await options.producer.send([
          { topic: embedTopic, messages: out },
          { topic: extractTopic, messages: out },
        ]);
        options.workerMetrics.produced.inc({ role: 'ingest', topic: embedTopic }, out.length);
        options.workerMetrics.produced.inc({ role: 'ingest', topic: extractTopic }, out.length);
      }
      for (const [tenant, n] of perTenant) chunksEmitted.inc({ tenant }, n);
      return rejected;
    },
  };
}

export async function start(ctx: RoleContext): Promise<RunningRole> {
  const { config, log } = ctx;
  const countTokens = config.chunking.tokenizerDir
    ? await loadTokenCounter(config.chunking.tokenizerDir)
    : estimateTokens;
  log.info('chunking', {
    maxTokens: config.chunking.maxTokens,
    overlapTokens: config.chunking.overlapTokens,
    maxChunksPerDocument: config.chunking.maxChunksPerDocument,
    tokenizer: config.chunking.tokenizerDir ?? 'estimate (ENGRAM_MODEL_DIR unset)',
  });
  return runConsumingRole(ctx, async (producer) => ({
    processor: ingestProcessor({
      topicPrefix: config.topicPrefix,
      maxTokens: config.chunking.maxTokens,
      overlapTokens: config.chunking.overlapTokens,
      maxChunksPerDocument: config.chunking.maxChunksPerDocument,
      countTokens,
      producer,
      registry: ctx.metrics.registry,
      workerMetrics: ctx.metrics.worker,
    }),
  }));
}
