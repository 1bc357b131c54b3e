/** The model's own token count for chunking, from the tokenizer in the model directory. */
import type { TokenCounter } from './chunker.ts';

export async function loadTokenCounter(_modelDir: string): Promise<TokenCounter> {
  throw new Error('tokenizer-based chunking is not wired yet: unset ENGRAM_MODEL_DIR for the ingest role');
}
