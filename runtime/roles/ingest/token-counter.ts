/** The model's own token count for chunking, from the vocabulary in the model directory. */
import { join } from 'node:path';
import { WordPieceTokenizer } from '../../model/tokenizer.ts';
import type { TokenCounter } from './chunker.ts';

export async function loadTokenCounter(modelDir: string): Promise<TokenCounter> {
  const tokenizer = WordPieceTokenizer.fromVocabFile(join(modelDir, 'vocab.txt'));
  return (text) => tokenizer.tokenize(text).length;
}
