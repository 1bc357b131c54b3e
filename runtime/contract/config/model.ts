/** The embedding model: where it is mounted, which variant, threads, deadlines and its cache. */
import { z } from 'zod';
import { type EnvOutput, int, type Parsed, v } from './variables.ts';

/** Paths the operator mounts volumes at when it has to (the env vars carry them to the runtime). */
export const DEFAULT_MODEL_DIR = '/models';
export const MODEL_VARIANTS = ['fp32', 'int8'] as const;
export const EXECUTION_PROVIDERS = ['cpu', 'cuda'] as const;

export const MODEL_VARS = {
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
} as const;

export const MODEL_REQUIRED = ['modelDir'] as const;

export interface ModelConfig {
  dir: string;
  variant: (typeof MODEL_VARIANTS)[number];
  threads: number;
  executionProvider: (typeof EXECUTION_PROVIDERS)[number];
  cacheTtlSeconds: number;
  inferenceTimeoutMs: number;
}

export interface ModelEnvInput {
  dir: string;
  variant?: (typeof MODEL_VARIANTS)[number];
  /** A number, or 'cpu-limit' to read the container's CPU limit in whole cores. */
  threads?: number | 'cpu-limit';
  executionProvider?: (typeof EXECUTION_PROVIDERS)[number];
  cacheTtlSeconds?: number;
  inferenceTimeoutMs?: number;
}

export function modelConfig(p: Parsed<typeof MODEL_VARS>): ModelConfig | undefined {
  if (!p.modelDir) return undefined;
  return {
    dir: p.modelDir,
    variant: p.modelVariant,
    threads: p.modelThreads,
    executionProvider: p.executionProvider,
    cacheTtlSeconds: p.embeddingCacheTtlSeconds,
    inferenceTimeoutMs: p.inferenceTimeoutMs,
  };
}

export function writeModelEnv(input: ModelEnvInput | undefined, out: EnvOutput): void {
  if (!input) return;
  out.set(MODEL_VARS.modelDir, input.dir);
  out.set(MODEL_VARS.modelVariant, input.variant);
  out.set(MODEL_VARS.executionProvider, input.executionProvider);
  out.set(MODEL_VARS.embeddingCacheTtlSeconds, input.cacheTtlSeconds);
  out.set(MODEL_VARS.inferenceTimeoutMs, input.inferenceTimeoutMs);
  if (input.threads === 'cpu-limit')
    out.setFrom(MODEL_VARS.modelThreads, { resourceFieldRef: { resource: 'limits.cpu', divisor: '1' } });
  else out.set(MODEL_VARS.modelThreads, input.threads);
}
