/** The gateway's HTTP API: tenant keys and quotas, rate limits, body and document bounds. */
import { z } from 'zod';
import { DEFAULT_TENANT_KEYS_DIR } from '../tenants.ts';
import { MAX_METADATA_BYTES } from '../topics.ts';
import { type EnvOutput, int, type Parsed, v } from './variables.ts';

/**
 * The ingest.raw topic's max.message.bytes as the operator creates it (DEFAULT_TOPIC_CONFIG in
 * operator/api/defaults.ts; a test keeps the two equal). The gateway never produces a request's
 * records beyond it, so the broker cannot refuse what the gateway accepted.
 */
export const DEFAULT_RAW_TOPIC_MAX_MESSAGE_BYTES = 10 * 1024 * 1024;
/** Room a Kafka record batch needs around one document's value and key (batch + record headers). */
export const RAW_RECORD_OVERHEAD_BYTES = 1024;

export const GATEWAY_VARS = {
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

export interface GatewayConfig {
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
}

export function checkGateway(p: Parsed<typeof GATEWAY_VARS>): string[] {
  const problems: string[] = [];
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
  return problems;
}

export function gatewayConfig(p: Parsed<typeof GATEWAY_VARS>): GatewayConfig {
  return {
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
  };
}

export function writeGatewayEnv(input: Partial<GatewayConfig> | undefined, out: EnvOutput): void {
  out.setEach(GATEWAY_VARS, input);
}
