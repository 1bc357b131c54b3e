/**
 * The extract role: an OpenAI-compatible chat-completions endpoint (from the MemoryCluster's
 * spec.extraction), or none, and then the deterministic built-in extractor. The API key comes
 * from a Secret (secretKeyRef or a mounted `_FILE`) and is never echoed.
 */
import { z } from 'zod';
import { type EnvOutput, int, type Parsed, type ValueSource, v } from './variables.ts';

export const EXTRACT_VARS = {
  extractionEndpoint: v(
    'ENGRAM_EXTRACTION_ENDPOINT',
    z
      .string()
      .regex(/^https?:\/\/[^\s]+$/, 'expected an http:// or https:// URL')
      .optional(),
    'set it to the base URL of an OpenAI-compatible API (e.g. "https://api.openai.com/v1"), or leave it unset for the built-in extractor',
  ),
  extractionModel: v(
    'ENGRAM_EXTRACTION_MODEL',
    z.string().min(1).max(253).optional(),
    'set it to the model name the endpoint serves, e.g. "gpt-4o-mini"',
  ),
  extractionApiKey: v(
    'ENGRAM_EXTRACTION_API_KEY',
    z.string().min(1).optional(),
    'set it (or ENGRAM_EXTRACTION_API_KEY_FILE) from the Secret of spec.extraction.apiKeySecretRef, or leave it unset for an endpoint without auth',
    true,
  ),
  extractionRequestsPerMinute: v(
    'ENGRAM_EXTRACTION_REQUESTS_PER_MINUTE',
    int(1, 1_000_000).default(60),
    'set the requests per minute one extract worker sends to the endpoint (1-1000000)',
  ),
  extractionMaxConcurrentRequests: v(
    'ENGRAM_EXTRACTION_MAX_CONCURRENT_REQUESTS',
    int(1, 1024).default(4),
    'set how many requests one extract worker has in flight (1-1024)',
  ),
  extractionTimeoutMs: v(
    'ENGRAM_EXTRACTION_TIMEOUT_MS',
    int(100, 600_000).default(60_000),
    'set the deadline of one chat-completions request in ms (100-600000)',
  ),
  extractionMaxRetries: v(
    'ENGRAM_EXTRACTION_MAX_RETRIES',
    int(0, 20).default(3),
    'set how many times one chunk is re-requested after a timeout, a 429, a 5xx or malformed output (0-20) before the failure goes to the worker',
  ),
  extractionRetryBaseMs: v(
    'ENGRAM_EXTRACTION_RETRY_BASE_MS',
    int(1, 60_000).default(1000),
    'set the first retry delay towards the endpoint in ms (doubling, with jitter)',
  ),
  extractionRetryMaxMs: v(
    'ENGRAM_EXTRACTION_RETRY_MAX_MS',
    int(1, 600_000).default(30_000),
    'set the longest retry delay towards the endpoint in ms (also caps a Retry-After)',
  ),
} as const;

export interface ChatCompletionsConfig {
  endpoint: string;
  model: string;
  apiKey?: string;
  requestsPerMinute: number;
  maxConcurrentRequests: number;
  timeoutMs: number;
  maxRetries: number;
  retryBaseMs: number;
  retryMaxMs: number;
}

/** No `llm`: the built-in extractor runs. */
export interface ExtractConfig {
  llm?: ChatCompletionsConfig;
}

export interface ExtractEnvInput {
  endpoint: string;
  model: string;
  apiKey?: ValueSource;
  requestsPerMinute?: number;
  maxConcurrentRequests?: number;
  timeoutMs?: number;
  maxRetries?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
}

/** The fields of a MemoryCluster's spec.extraction the workers need (operator/api/memorycluster.ts). */
export interface ExtractionSpec {
  endpoint: string;
  model: string;
  apiKeySecretRef?: { name: string; key: string };
  requestsPerMinute?: number;
  maxConcurrentRequests?: number;
  timeoutSeconds?: number;
}

/** What the operator passes as runtimeEnv's `extract` for a cluster's extract pool. */
export function extractionEnvInput(spec: ExtractionSpec | undefined): ExtractEnvInput | undefined {
  if (!spec) return undefined;
  return {
    endpoint: spec.endpoint,
    model: spec.model,
    ...(spec.apiKeySecretRef && { apiKey: { secretKeyRef: spec.apiKeySecretRef } }),
    ...(spec.requestsPerMinute !== undefined && { requestsPerMinute: spec.requestsPerMinute }),
    ...(spec.maxConcurrentRequests !== undefined && { maxConcurrentRequests: spec.maxConcurrentRequests }),
    ...(spec.timeoutSeconds !== undefined && { timeoutMs: spec.timeoutSeconds * 1000 }),
  };
}

export function checkExtract(p: Parsed<typeof EXTRACT_VARS>): string[] {
  const problems: string[] = [];
  if (p.extractionEndpoint && !p.extractionModel)
    problems.push(
      'ENGRAM_EXTRACTION_ENDPOINT is set but ENGRAM_EXTRACTION_MODEL is not. Fix: set the model name (spec.extraction.model)',
    );
  if (p.extractionRetryBaseMs > p.extractionRetryMaxMs)
    problems.push(
      'ENGRAM_EXTRACTION_RETRY_BASE_MS exceeds ENGRAM_EXTRACTION_RETRY_MAX_MS. Fix: lower the base or raise the maximum',
    );
  return problems;
}

export function extractConfig(p: Parsed<typeof EXTRACT_VARS>): ExtractConfig {
  if (!p.extractionEndpoint || !p.extractionModel) return {};
  return {
    llm: {
      endpoint: p.extractionEndpoint.replace(/\/+$/, ''),
      model: p.extractionModel,
      ...(p.extractionApiKey && { apiKey: p.extractionApiKey }),
      requestsPerMinute: p.extractionRequestsPerMinute,
      maxConcurrentRequests: p.extractionMaxConcurrentRequests,
      timeoutMs: p.extractionTimeoutMs,
      maxRetries: p.extractionMaxRetries,
      retryBaseMs: p.extractionRetryBaseMs,
      retryMaxMs: p.extractionRetryMaxMs,
    },
  };
}

/** Nothing written without an endpoint: the pods run the built-in extractor. */
export function writeExtractEnv(input: ExtractEnvInput | undefined, out: EnvOutput): void {
  if (!input) return;
  out.set(EXTRACT_VARS.extractionEndpoint, input.endpoint);
  out.set(EXTRACT_VARS.extractionModel, input.model);
  out.setSource(EXTRACT_VARS.extractionApiKey, input.apiKey);
  out.set(EXTRACT_VARS.extractionRequestsPerMinute, input.requestsPerMinute);
  out.set(EXTRACT_VARS.extractionMaxConcurrentRequests, input.maxConcurrentRequests);
  out.set(EXTRACT_VARS.extractionTimeoutMs, input.timeoutMs);
  out.set(EXTRACT_VARS.extractionMaxRetries, input.maxRetries);
  out.set(EXTRACT_VARS.extractionRetryBaseMs, input.retryBaseMs);
  out.set(EXTRACT_VARS.extractionRetryMaxMs, input.retryMaxMs);
}
