/** The TypeScript WordPiece tokenizer against the Hugging Face tokenizer's ids. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { WordPieceTokenizer } from '../../runtime/model/tokenizer.ts';
import { modelDir, readTokenizerFixture } from './fixtures.ts';

const fixture = readTokenizerFixture();
const tokenizer = WordPieceTokenizer.fromVocabFile(join(modelDir, 'vocab.txt'));

test('the fixture covers at least 300 strings, both truncation lengths and padded batches', () => {
  assert.ok(fixture.strings >= 300, `only ${fixture.strings} strings`);
  assert.deepEqual(new Set(fixture.cases.map((c) => c.maxLength)), new Set([128, 256]));
  assert.ok(fixture.cases.some((c) => c.maxLength === 256 && c.inputIds.length === 256));
  assert.ok(fixture.cases.some((c) => c.maxLength === 128 && c.inputIds.length === 128));
  assert.ok(fixture.batches.length >= 3);
});

test('single encodings equal the Hugging Face ids for every string', () => {
  const mismatches: string[] = [];
  for (const c of fixture.cases) {
    const ids = tokenizer.encode(c.text, c.maxLength);
    try {
      assert.deepEqual(ids, c.inputIds);
      assert.deepEqual(new Array(ids.length).fill(1), c.attentionMask);
    } catch {
      mismatches.push(`${JSON.stringify(c.text.slice(0, 60))} @${c.maxLength}: got ${ids.slice(0, 12)}…`);
    }
  }
  assert.deepEqual(mismatches, [], `${mismatches.length} of ${fixture.cases.length} differ`);
});

test('padded batches equal the Hugging Face ids, masks and token types', () => {
  for (const b of fixture.batches) {
    const got = tokenizer.encodeBatch(b.texts, b.maxLength);
    const rows = (a: BigInt64Array) =>
      Array.from({ length: got.batchSize }, (_, r) =>
        Array.from(a.subarray(r * got.sequenceLength, (r + 1) * got.sequenceLength), Number),
      );
    assert.deepEqual(rows(got.inputIds), b.inputIds);
    assert.deepEqual(rows(got.attentionMask), b.attentionMask);
    assert.deepEqual(rows(got.tokenTypeIds), b.tokenTypeIds);
  }
});
