/**
 * OnnxEmbedder against the PyTorch model's sentence embeddings (mean pooling + L2, computed
 * one text at a time by hack/model/export_model.py).
 *
 * Measured (62 texts, 1 thread): fp32 cosine to PyTorch >= 0.99999; batched == one at a time.
 * int8 (dynamic, per-channel 7-bit weights): cosine to PyTorch min 0.968-0.975 / mean 0.988 for
 * batch sizes 1-32. Its activations are quantised with one scale per tensor, i.e. per batch,
 * so a text's int8 vector also depends on the texts batched with it: batched vs one at a time
 * measured min 0.965 / mean 0.988. The lowest are degenerate inputs ("aaa…", "", digits mixed
 * with CJK); sentences stay above 0.98. The floors below leave a small margin under that.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  type Embedder,
  ExecutionProviderUnavailableError,
  type ModelVariant,
  OnnxEmbedder,
} from '../../runtime/model/embedder.ts';
import { cosine, modelDir, readEmbeddingFixture, summarize } from './fixtures.ts';

const fixture = readEmbeddingFixture();
type Floor = { min: number; mean: number };
const vsPyTorch: Record<ModelVariant, Floor> = {
  fp32: { min: 0.999, mean: 0.9999 },
  int8: { min: 0.96, mean: 0.985 },
};
const batchedVsSingle: Record<ModelVariant, Floor> = {
  fp32: { min: 0.9999, mean: 0.9999 },
  int8: { min: 0.955, mean: 0.985 },
};
const show = (s: Floor) =>
  `min ${s.min.toFixed(6)} (1-min ${(1 - s.min).toExponential(1)}) mean ${s.mean.toFixed(6)}`;

test('the fixture has at least 60 texts of the model dimension', () => {
  assert.ok(fixture.texts.length >= 60, `only ${fixture.texts.length} texts`);
  assert.equal(fixture.embeddings.length, fixture.texts.length);
  for (const e of fixture.embeddings) assert.equal(e.length, 384);
});

for (const variant of ['fp32', 'int8'] as const) {
  describe(`${variant} embeddings`, () => {
    let embedder: OnnxEmbedder;
    before(async () => {
      embedder = await OnnxEmbedder.create({
        modelDir,
        variant,
        intraOpNumThreads: 1,
        batchSize: 8,
        maxLength: fixture.maxLength,
      });
    });
    after(() => embedder.close());

    test('match PyTorch within the tolerance of the variant', async (t) => {
      const vectors = await embedder.embed(fixture.texts);
      const cosines = vectors.map((v, i) => cosine(v, fixture.embeddings[i]!));
      const stats = summarize(cosines);
      t.diagnostic(`${variant} cosine to PyTorch: ${show(stats)}`);
      const worst = cosines.indexOf(stats.min);
      assert.ok(
        stats.min > vsPyTorch[variant].min,
        `min cosine ${stats.min} on ${JSON.stringify(fixture.texts[worst]!.slice(0, 60))}`,
      );
      assert.ok(stats.mean > vsPyTorch[variant].mean, `mean cosine ${stats.mean}`);
    });

    test('are unit-length vectors of 384 dimensions, with a model id naming the variant', async () => {
      assert.equal(embedder.dimensions, 384);
      assert.match(embedder.modelId, new RegExp(`/${variant}$`));
      for (const v of await embedder.embed(['hello', '', 'a longer sentence about memory graphs'])) {
        assert.equal(v.length, 384);
        assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-5);
      }
    });

    test('batched and bucketed give the vectors of one-at-a-time, in input order', async (t) => {
      // All fixture texts (lengths 2-256 tokens) plus a duplicate: buckets reorder and pad.
      const texts = [...fixture.texts, fixture.texts[3]!];
      const batched = await embedder.embed(texts);
      assert.equal(batched.length, texts.length);
      const cosines: number[] = [];
      for (const [i, text] of texts.entries()) {
        const [single] = await embedder.embed([text]);
        cosines.push(cosine(batched[i]!, single!));
      }
      const stats = summarize(cosines);
      t.diagnostic(`${variant} batched vs one at a time: ${show(stats)}`);
      assert.ok(stats.min > batchedVsSingle[variant].min, `min cosine batched vs single ${stats.min}`);
      assert.ok(stats.mean > batchedVsSingle[variant].mean, `mean cosine batched vs single ${stats.mean}`);
      // Order is restored: each text lands nearer its own reference than any other text's.
      for (const [i, v] of batched.slice(0, fixture.texts.length).entries()) {
        assert.ok(cosine(v, fixture.embeddings[i]!) > 0.95, `text ${i} out of place`);
      }
    });

    test('an empty list embeds to an empty list', async () => {
      assert.deepEqual(await embedder.embed([]), []);
    });
  });
}

test('cuda is either usable or refused with a clear error', async (t) => {
  let embedder: Embedder | undefined;
  try {
    embedder = await OnnxEmbedder.create({ modelDir, intraOpNumThreads: 1, executionProvider: 'cuda' });
  } catch (err) {
    assert.ok(err instanceof ExecutionProviderUnavailableError, String(err));
    assert.match(err.message, /'cuda' is unavailable .* use 'cpu'/);
    t.diagnostic('cuda unavailable in this onnxruntime-node build (expected without a GPU image)');
    return;
  }
  try {
    const [v] = await embedder.embed([fixture.texts[2]!]);
    assert.ok(cosine(v!, fixture.embeddings[2]!) > 0.999);
  } finally {
    await embedder.close();
  }
});
