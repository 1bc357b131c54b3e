import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_CHUNK_TEXT_CHARS } from '../../pipeline/messages.ts';
import { chunkCharBound, chunkText, estimateTokens, type TokenCounter } from './chunker.ts';

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

describe('chunkText bounds what one chunk can hold, whatever the text', () => {
  // What the model's tokenizer does to these inputs: control characters vanish (0 tokens) and a
  // word above 100 characters is one [UNK], so a token bound alone lets a chunk grow unbounded.
  const modelLike: TokenCounter = (t) =>
    (t.replace(/\p{Cc}/gu, ' ').match(/[a-z0-9]+|[^\sa-z0-9]/gi) ?? []).length;
  const cases: [string, string][] = [
    ['512 KiB of control characters', '\u0001'.repeat(512 * 1024)],
    ['one 256 KiB word', 'a'.repeat(256 * 1024)],
    ['control characters between words', 'word\u0002'.repeat(64 * 1024)],
    ['a word of 256 KiB of "a." (one token per character)', 'a.'.repeat(128 * 1024)],
    ['astral characters', '😀'.repeat(100 * 1024)],
  ];
  for (const [name, src] of cases) {
    it(name, () => {
      const maxTokens = 254;
      const t0 = performance.now();
      const chunks = chunkText(src, { maxTokens, overlapTokens: 32, countTokens: modelLike });
      const ms = performance.now() - t0;
      const bound = chunkCharBound(maxTokens);
      assert.ok(chunks.length > 0);
      let covered = 0;
      for (const c of chunks) {
        assert.ok(c.text.length <= bound, `chunk ${c.index} has ${c.text.length} chars (bound ${bound})`);
        assert.ok(c.tokens <= maxTokens);
        assert.equal(src.slice(c.start, c.end), c.text);
        assert.ok(!/^[\uDC00-\uDFFF]|[\uD800-\uDBFF]$/.test(c.text), 'no split surrogate pair');
        assert.ok(c.start >= covered - bound, 'overlap stays bounded');
        covered = Math.max(covered, c.end);
        // JSON escaping grows a code unit to at most 6 bytes: a chunk message stays small.
        assert.ok(Buffer.byteLength(JSON.stringify(c.text)) <= 6 * MAX_CHUNK_TEXT_CHARS + 2);
      }
      assert.ok(covered >= src.trimEnd().length - 1, 'the whole text is covered');
      // A bounded overlap means the chunk count grows with the text, not with its square.
      assert.ok(chunks.length <= (4 * src.length) / Math.min(bound, 64) + 4, `${chunks.length} chunks`);
      process.stdout.write(`# ${name}: ${chunks.length} chunks in ${ms.toFixed(0)} ms\n`);
    });
  }
});

describe('estimateTokens', () => {
  it('over-counts ordinary English and counts CJK per character', () => {
    assert.ok(estimateTokens('The quick brown fox jumps over the lazy dog.') >= 10);
    assert.equal(estimateTokens('你好世界'), 4);
    assert.equal(estimateTokens(''), 0);
  });
});
