/**
 * ingest: `ingest.raw` -> chunks -> `ingest.embed` and `ingest.extract`. Stateless: a document's
 * chunks are produced (acknowledged by the broker) before its offset is resolved, and their ids
 * are deterministic, so a redelivered document produces the same chunks and downstream MERGEs
 * dedupe them.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import { METRICS } from '../../contract/metrics.ts';
import { topicName } from '../../contract/topics.ts';
import type { WorkerMetrics } from '../../observability/metrics.ts';
import {
  type ChunkMessage,
  chunkId,
  chunkMessageSchema,
  decodeJson,
  messageKey,
  type RawDocument,
  rawDocumentSchema,
} from '../../pipeline/messages.ts';
import { runConsumingRole } from '../../worker/consuming-role.ts';
import type { OutboundMessage, ProducerTransport } from '../../worker/transport.ts';
import type { Processor } from '../../worker/worker.ts';
import type { RoleContext, RunningRole } from '../context.ts';
import { chunkText, estimateTokens, type TokenCounter } from './chunker.ts';
import { loadTokenCounter } from './token-counter.ts';

export interface IngestProcessorOptions {
  topicPrefix: string;
  maxTokens: number;
  overlapTokens: number;
  countTokens: TokenCounter;
  producer: ProducerTransport;
  registry: Registry;
  workerMetrics: WorkerMetrics;
}

/** Builds the chunk messages of one document (pure). */
export function chunkDocument(
  doc: RawDocument,
  options: Pick<IngestProcessorOptions, 'maxTokens' | 'overlapTokens' | 'countTokens'>,
): ChunkMessage[] {
  const chunks = chunkText(doc.content, options);
  return chunks.map((c) =>
    chunkMessageSchema.parse({
      v: 1,
      kind: 'chunk',
      tenantId: doc.tenantId,
      documentId: doc.documentId,
      documentVersion: doc.acceptedAt,
      documentHash: doc.contentHash,
      chunkId: chunkId(doc.tenantId, doc.documentId, c.index),
      index: c.index,
      count: chunks.length,
      text: c.text,
      tokens: c.tokens,
      start: c.start,
      end: c.end,
      ...(doc.metadata && { metadata: doc.metadata }),
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
  return {
    decode: (message) => decodeJson(rawDocumentSchema, message.value),
    async process(items) {
      const out: OutboundMessage[] = [];
      const perTenant = new Map<string, number>();
      for (const { value: doc } of items) {
        const chunks = chunkDocument(doc, options);
        for (const chunk of chunks) {
          out.push({ key: messageKey(doc.tenantId, doc.documentId), value: JSON.stringify(chunk) });
          chunkTokens.observe(chunk.tokens);
        }
        perTenant.set(doc.tenantId, (perTenant.get(doc.tenantId) ?? 0) + chunks.length);
      }
      await options.producer.send([
        { topic: embedTopic, messages: out },
        { topic: extractTopic, messages: out },
      ]);
      options.workerMetrics.produced.inc({ role: 'ingest', topic: embedTopic }, out.length);
      options.workerMetrics.produced.inc({ role: 'ingest', topic: extractTopic }, out.length);
      for (const [tenant, n] of perTenant) chunksEmitted.inc({ tenant }, n);
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
    tokenizer: config.chunking.tokenizerDir ?? 'estimate (ENGRAM_MODEL_DIR unset)',
  });
  return runConsumingRole(ctx, async (producer) => ({
    processor: ingestProcessor({
      topicPrefix: config.topicPrefix,
      maxTokens: config.chunking.maxTokens,
      overlapTokens: config.chunking.overlapTokens,
      countTokens,
      producer,
      registry: ctx.metrics.registry,
      workerMetrics: ctx.metrics.worker,
    }),
  }));
}
