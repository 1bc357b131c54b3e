import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  normalizeBertText,
  parseVocab,
  splitBertWords,
  WORD_CACHE_MAX_BYTES,
  WordPieceTokenizer,
} from './tokenizer.ts';

const VOCAB = [
  '[PAD]',
  '[UNK]',
  '[CLS]',
  '[SEP]',
  '[MASK]',
  'hello',
  'world',
  'un',
  '##aff',
  '##able',
  ',',
  '!',
  'cafe',
  'naive',
  '中',
  '文',
  'a',
  '##a',
  'σ',
  '##σ',
  'ς',
  '##ς',
  '$',
  '5',
  'ab',
  'x',
  '##y',
];
const tokenizer = new WordPieceTokenizer(parseVocab(`${VOCAB.join('\n')}\n`));
const id = (token: string): number => VOCAB.indexOf(token);
const ids = (...tokens: string[]): number[] => tokens.map(id);

describe('normalizeBertText', () => {
  const cases: [string, string, string][] = [
    ['lowercases ASCII', 'Hello WORLD', 'hello world'],
    ['strips accents', 'Café NAÏVE', 'cafe naive'],
    ['turns every whitespace into one space', 'a\tb\nc\u3000d\u2028e', 'a b c d e'],
    ['drops control and format chars', 'a\u0000b\u200bc\u0085d\ufffde', 'abcde'],
    ['keeps unassigned code points', 'a\u0378b', 'a\u0378b'],
    ['spaces out CJK ideographs', '中文ok', ' 中  文 ok'],
    ['lowercases sigma char by char (no final form)', 'ΟΔΟΣ', 'οδοσ'],
    ['strips the dot of dotted capital I', 'İ', 'i'],
  ];
  for (const [name, input, expected] of cases) {
    test(name, () => assert.equal(normalizeBertText(input), expected));
  }
});

describe('splitBertWords', () => {
  test('splits on spaces and isolates each punctuation char', () => {
    assert.deepEqual(splitBertWords("don't stop... $5"), ['don', "'", 't', 'stop', '.', '.', '.', '$', '5']);
  });
  test('keeps symbols that are not punctuation inside the word', () => {
    assert.deepEqual(splitBertWords('a€b ©'), ['a€b', '©']);
  });
  test('returns nothing for empty or blank text', () => {
    assert.deepEqual(splitBertWords(''), []);
    assert.deepEqual(splitBertWords('   '), []);
  });
});

describe('WordPieceTokenizer.encode', () => {
  const cases: [string, string, number, string[]][] = [
    ['wraps in [CLS]/[SEP]', 'hello world', 16, ['[CLS]', 'hello', 'world', '[SEP]']],
    ['empty text', '', 16, ['[CLS]', '[SEP]']],
    ['continuation pieces', 'unaffable!', 16, ['[CLS]', 'un', '##aff', '##able', '!', '[SEP]']],
    ['unknown word becomes one [UNK]', 'hello unknowable', 16, ['[CLS]', 'hello', '[UNK]', '[SEP]']],
    ['accents and case', 'CAFÉ, Naïve', 16, ['[CLS]', 'cafe', ',', 'naive', '[SEP]']],
    ['CJK chars are words', '中文', 16, ['[CLS]', '中', '文', '[SEP]']],
    ['truncates to maxLength', 'hello world hello world', 4, ['[CLS]', 'hello', 'world', '[SEP]']],
    ['maxLength 2 keeps only the specials', 'hello', 2, ['[CLS]', '[SEP]']],
    ['literal special tokens stay special', 'x[MASK]xy', 16, ['[CLS]', 'x', '[MASK]', 'x', '##y', '[SEP]']],
    ['lowercase lookalikes are not special', '[mask]', 16, ['[CLS]', '[UNK]', '[UNK]', '[UNK]', '[SEP]']],
    ['sigma char by char', 'ΣΣ', 16, ['[CLS]', 'σ', '##σ', '[SEP]']],
    ['final sigma kept when written', 'σς', 16, ['[CLS]', 'σ', '##ς', '[SEP]']],
  ];
  for (const [name, text, maxLength, expected] of cases) {
    test(name, () => assert.deepEqual(tokenizer.encode(text, maxLength), ids(...expected)));
  }

  test('a word of more than 100 chars is [UNK] even when it would split', () => {
    assert.deepEqual(tokenizer.encode('a'.repeat(100), 200).length, 102);
    assert.deepEqual(tokenizer.encode('a'.repeat(101), 200), ids('[CLS]', '[UNK]', '[SEP]'));
  });

  test('counts the 100-char limit in code points, not UTF-16 units', () => {
    const vocab = parseVocab(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '😀', '##😀'].join('\n'));
    const emoji = new WordPieceTokenizer(vocab);
    assert.equal(emoji.encode('😀'.repeat(100), 300).length, 102);
    assert.deepEqual(emoji.encode('😀'.repeat(101), 300), [2, 1, 3]);
  });

  test('rejects a maxLength without room for the specials', () => {
    assert.throws(() => tokenizer.encode('hello', 1), RangeError);
  });

  test('a vocabulary without [UNK] is refused', () => {
    assert.throws(() => new WordPieceTokenizer(parseVocab('[PAD]\n[CLS]\n[SEP]\n')), /no \[UNK\] token/);
  });
});

describe('WordPieceTokenizer.encodeBatch', () => {
  test('pads to the longest row with masks and zero token types', () => {
    const batch = tokenizer.encodeBatch(['hello world', 'a', ''], 16);
    assert.equal(batch.batchSize, 3);
    assert.equal(batch.sequenceLength, 4);
    assert.deepEqual(batch.lengths, [4, 3, 2]);
    const row = (a: BigInt64Array, r: number) => [...a.subarray(r * 4, r * 4 + 4)].map(Number);
    assert.deepEqual(row(batch.inputIds, 0), ids('[CLS]', 'hello', 'world', '[SEP]'));
    assert.deepEqual(row(batch.inputIds, 1), ids('[CLS]', 'a', '[SEP]', '[PAD]'));
    assert.deepEqual(row(batch.inputIds, 2), ids('[CLS]', '[SEP]', '[PAD]', '[PAD]'));
    assert.deepEqual(row(batch.attentionMask, 1), [1, 1, 1, 0]);
    assert.deepEqual(row(batch.attentionMask, 2), [1, 1, 0, 0]);
    assert.deepEqual([...batch.tokenTypeIds].map(Number), new Array(12).fill(0));
  });

  test('an empty batch has no rows', () => {
    const batch = tokenizer.encodeBatch([], 16);
    assert.equal(batch.batchSize, 0);
    assert.equal(batch.inputIds.length, 0);
  });
});

describe('parseVocab', () => {
  test('ids are line numbers; CRLF and the final newline are tolerated', () => {
    const vocab = parseVocab('[PAD]\r\nhello\r\n');
    assert.deepEqual(
      [...vocab],
      [
        ['[PAD]', 0],
        ['hello', 1],
      ],
    );
  });
});

describe('word cache', () => {
  test('never holds a word above the per-word limit (it is [UNK] in linear time)', () => {
    const t = new WordPieceTokenizer(parseVocab(`${VOCAB.join('\n')}\n`));
    for (let i = 0; i < 50; i++) assert.deepEqual(t.tokenize(`x${i}${'a'.repeat(64 * 1024)}`), ids('[UNK]'));
    assert.equal(t.wordCacheSize.entries, 0);
  });

  test('stays within its byte bound however many distinct words it sees', () => {
    const t = new WordPieceTokenizer(parseVocab(`${VOCAB.join('\n')}\n`));
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 60_000; i++) t.tokenize(`${i}${'y'.repeat(90)}`);
    const { entries, bytes } = t.wordCacheSize;
    assert.ok(bytes <= WORD_CACHE_MAX_BYTES, `cache holds ${bytes} bytes`);
    assert.ok(entries > 1000 && entries < 60_000, `cache keeps recent words (${entries})`);
    // The hello -> id path still answers from a warm cache after evictions.
    assert.deepEqual(t.tokenize('hello'), ids('hello'));
    const grown = (process.memoryUsage().heapUsed - before) / 1048576;
    process.stdout.write(
      `# word cache after 60,000 distinct 95-char words: ${entries} entries, ~${(bytes / 1048576).toFixed(1)} MiB estimated, heap +${grown.toFixed(0)} MiB\n`,
    );
  });
});
