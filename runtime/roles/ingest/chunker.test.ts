import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chunkText, estimateTokens, type TokenCounter } from './chunker.ts';

/** One token per whitespace-separated word: easy to reason about in tests. */
const words: TokenCounter = (t) => t.split(/\s+/).filter(Boolean).length;

const sentence = (n: number, w: number) => `W${Array.from({ length: w }, (_, i) => `${n}x${i}`).join(' w')}.`;

describe('chunkText', () => {
  it('keeps a short text as one chunk with exact offsets', () => {
    const src = '  Hello world. Second sentence here.  ';
    const chunks = chunkText(src, { maxTokens: 50, overlapTokens: 5, countTokens: words });
    assert.equal(chunks.length, 1);
    assert.equal(chunks[0]!.text, 'Hello world. Second sentence here.');
    assert.equal(src.slice(chunks[0]!.start, chunks[0]!.end), chunks[0]!.text);
    assert.equal(chunks[0]!.tokens, 5);
  });

  it('packs whole sentences, never above maxTokens, with sentence overlap', () => {
    const src = Array.from({ length: 20 }, (_, i) => sentence(i, 7)).join(' ');
    const chunks = chunkText(src, { maxTokens: 30, overlapTokens: 8, countTokens: words });
    assert.ok(chunks.length > 4);
    for (const c of chunks) {
      assert.ok(c.tokens <= 30, `chunk ${c.index} has ${c.tokens} tokens`);
      assert.equal(src.slice(c.start, c.end), c.text);
      assert.match(c.text, /^W\d+x0 .*\.$/, 'chunks start and end on sentence boundaries');
    }
    // Overlap: each chunk after the first starts with the last sentence of the previous one.
    for (let i = 1; i < chunks.length; i++)
      assert.ok(chunks[i]!.start < chunks[i - 1]!.end, `no overlap at ${i}`);
    // Coverage: every sentence appears in some chunk.
    for (let n = 0; n < 20; n++)
      assert.ok(
        chunks.some((c) => c.text.includes(`w${n}x6.`)),
        `sentence ${n} lost`,
      );
    assert.deepEqual(
      chunks.map((c) => c.index),
      chunks.map((_, i) => i),
    );
  });

  it('without overlap, chunks partition the sentences', () => {
    const src = Array.from({ length: 10 }, (_, i) => sentence(i, 5)).join(' ');
    const chunks = chunkText(src, { maxTokens: 12, overlapTokens: 0, countTokens: words });
    for (let i = 1; i < chunks.length; i++) assert.ok(chunks[i]!.start >= chunks[i - 1]!.end);
    assert.equal(
      chunks.reduce((n, c) => n + c.tokens, 0),
      50,
    );
  });

  it('splits a sentence longer than maxTokens at words, and a giant word at characters', () => {
    const long = sentence(1, 45);
    const giant = 'x'.repeat(100);
    const src = `Short one. ${long} ${giant} End.`;
    const perChars: TokenCounter = (t) =>
      t
        .split(/\s+/)
        .filter(Boolean)
        .reduce((n, w) => n + Math.ceil(w.length / 10), 0);
    const chunks = chunkText(src, { maxTokens: 20, overlapTokens: 0, countTokens: perChars });
    for (const c of chunks) assert.ok(c.tokens <= 20, `chunk ${c.index}: ${c.tokens}`);
    const joined = chunks.map((c) => c.text).join(' ');
    assert.ok(joined.includes('w1x44.'));
    assert.equal(
      chunks
        .map((c) => c.text)
        .join('')
        .replaceAll(/[^x]/g, '').length >= 100,
      true,
    );
  });

  it('makes progress when the overlap is as large as a sentence', () => {
    const src = Array.from({ length: 6 }, (_, i) => sentence(i, 10)).join(' ');
    const chunks = chunkText(src, { maxTokens: 20, overlapTokens: 19, countTokens: words });
    assert.ok(chunks.length >= 3 && chunks.length <= 6, `got ${chunks.length}`);
  });

  it('returns nothing for blank text and is deterministic', () => {
    assert.deepEqual(chunkText(' \n\t ', { maxTokens: 10, overlapTokens: 2, countTokens: words }), []);
    const src = Array.from({ length: 30 }, (_, i) => sentence(i, 4)).join('\n');
    const opts = { maxTokens: 25, overlapTokens: 5, countTokens: words };
    assert.deepEqual(chunkText(src, opts), chunkText(src, opts));
  });
});

describe('estimateTokens', () => {
  it('over-counts ordinary English and counts CJK per character', () => {
    assert.ok(estimateTokens('The quick brown fox jumps over the lazy dog.') >= 10);
    assert.equal(estimateTokens('你好世界'), 4);
    assert.equal(estimateTokens(''), 0);
  });
});
