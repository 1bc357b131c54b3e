/** Ingest's chunking: chunk size and overlap in tokens, and the most chunks one document yields. */
import { type EnvOutput, int, type Parsed, v } from './variables.ts';

export const INGEST_VARS = {
  chunkMaxTokens: v(
    'ENGRAM_CHUNK_MAX_TOKENS',
    // all-MiniLM-L6-v2 reads 256 tokens, [CLS] and [SEP] included: 254 is the most a chunk may hold.
    int(16, 8192).default(254),
    "set it to at most the model's sequence length minus 2, e.g. 254 for all-MiniLM-L6-v2",
  ),
  chunkOverlapTokens: v(
    'ENGRAM_CHUNK_OVERLAP_TOKENS',
    int(0, 4096).default(32),
    'set it below ENGRAM_CHUNK_MAX_TOKENS, e.g. 32',
  ),
  maxChunksPerDocument: v(
    'ENGRAM_MAX_CHUNKS_PER_DOCUMENT',
    int(1, 1_000_000).default(4096),
    'set the most chunks one document may yield (1-1000000); a document above it goes to the dlq',
  ),
} as const;

/** The tokenizer comes from the model dir when it is set, else a conservative estimate. */
export interface ChunkingConfig {
  maxTokens: number;
  overlapTokens: number;
  maxChunksPerDocument: number;
  tokenizerDir?: string;
}

export interface ChunkingEnvInput {
  maxTokens?: number;
  overlapTokens?: number;
  maxChunksPerDocument?: number;
}

export function checkIngest(p: Parsed<typeof INGEST_VARS>): string[] {
  if (p.chunkOverlapTokens >= p.chunkMaxTokens)
    return [
      `ENGRAM_CHUNK_OVERLAP_TOKENS (${p.chunkOverlapTokens}) must be below ENGRAM_CHUNK_MAX_TOKENS (${p.chunkMaxTokens}). ` +
        'Fix: lower the overlap',
    ];
  return [];
}

export function chunkingConfig(
  p: Parsed<typeof INGEST_VARS>,
  tokenizerDir: string | undefined,
): ChunkingConfig {
  return {
    maxTokens: p.chunkMaxTokens,
    overlapTokens: p.chunkOverlapTokens,
    maxChunksPerDocument: p.maxChunksPerDocument,
    ...(tokenizerDir && { tokenizerDir }),
  };
}

export function writeIngestEnv(input: ChunkingEnvInput | undefined, out: EnvOutput): void {
  out.set(INGEST_VARS.chunkMaxTokens, input?.maxTokens);
  out.set(INGEST_VARS.chunkOverlapTokens, input?.overlapTokens);
  out.set(INGEST_VARS.maxChunksPerDocument, input?.maxChunksPerDocument);
}
