/**
 * The exported model and the Python fixtures written beside it by hack/model/build-model.sh.
 * A missing model fails the tests (never skips them) with what to run.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { requireModelDir } from '../../runtime/model/model-location.ts';

const tokenizerFixtureSchema = z.object({
  tokenizer: z.string(),
  strings: z.number().int(),
  cases: z.array(
    z.object({
      text: z.string(),
      maxLength: z.number().int(),
      inputIds: z.array(z.number().int()),
      attentionMask: z.array(z.number().int()),
    }),
  ),
  batches: z.array(
    z.object({
      texts: z.array(z.string()),
      maxLength: z.number().int(),
      inputIds: z.array(z.array(z.number().int())),
      attentionMask: z.array(z.array(z.number().int())),
      tokenTypeIds: z.array(z.array(z.number().int())),
    }),
  ),
});

const embeddingFixtureSchema = z.object({
  maxLength: z.number().int(),
  dimensions: z.number().int(),
  texts: z.array(z.string()),
  embeddings: z.array(z.array(z.number())),
});

export type TokenizerFixture = z.infer<typeof tokenizerFixtureSchema>;
export type EmbeddingFixture = z.infer<typeof embeddingFixtureSchema>;

export const modelDir = requireModelDir();

function readJson<T>(file: string, schema: z.ZodType<T>): T {
  return schema.parse(JSON.parse(readFileSync(join(modelDir, file), 'utf8')));
}

export const readTokenizerFixture = (): TokenizerFixture =>
  readJson('tokenizer-fixture.json', tokenizerFixtureSchema);
export const readEmbeddingFixture = (): EmbeddingFixture =>
  readJson('embedding-fixture.json', embeddingFixtureSchema);

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
}

export function summarize(values: readonly number[]): { min: number; mean: number } {
  return {
    min: Math.min(...values),
    mean: values.reduce((s, v) => s + v, 0) / values.length,
  };
}
