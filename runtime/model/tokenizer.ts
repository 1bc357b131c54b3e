/**
 * BERT WordPiece tokenizer (uncased), matching the Hugging Face fast tokenizer of
 * all-MiniLM-L6-v2: BertNormalizer (clean text, space around CJK ideographs, strip accents,
 * lowercase), BertPreTokenizer (whitespace, then each punctuation char alone), WordPiece
 * (greedy longest match, `##` continuations, `[UNK]` for a word with no split or longer than
 * 100 chars), `[CLS] ... [SEP]`. Special tokens written literally in the text (`[SEP]`) are
 * kept as such, as the Hugging Face tokenizer does by default.
 */
import { readFileSync } from 'node:fs';

export interface TokenizerOptions {
  unknownToken?: string;
  classifierToken?: string;
  separatorToken?: string;
  paddingToken?: string;
  /** Matched verbatim (case-sensitive) in the raw text before normalisation. */
  specialTokens?: readonly string[];
  continuationPrefix?: string;
  maxInputCharsPerWord?: number;
}

/** A padded batch, row-major `[batchSize, sequenceLength]`, ready for int64 tensors. */
export interface BatchEncoding {
  batchSize: number;
  sequenceLength: number;
  inputIds: BigInt64Array;
  attentionMask: BigInt64Array;
  tokenTypeIds: BigInt64Array;
  /** Tokens per row before padding, special tokens included. */
  lengths: number[];
}

const DEFAULT_SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
// Dropped by the normaliser: control, format, private-use and surrogate code points. The
// Rust tokenizer keeps unassigned ones (Cn), so \p{C} would be too wide.
const CONTROL = /[\p{Cc}\p{Cf}\p{Co}\p{Cs}]/u;
const WHITESPACE = /\p{White_Space}/u;
const NONSPACING_MARKS = /\p{Mn}/gu;
// BERT punctuation: Unicode P* plus every ASCII symbol that is not a letter or digit.
const WORD_OR_PUNCTUATION = /[\p{P}!-/:-@[-`{-~]|[^\s\p{P}!-/:-@[-`{-~]+/gu;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
/**
 * The word cache is bounded by an estimate of the bytes it holds (a count bound let 2,000
 * documents with one 256 KiB word each pin ~500 MiB): oldest entries go first.
 */
export const WORD_CACHE_MAX_BYTES = 8 * 1024 * 1024;
const ENTRY_OVERHEAD_BYTES = 96;

// Each char the cleaning step acts on: whitespace, control-like chars, and the CJK ideograph
// blocks BERT spaces out (Unified, extensions A-F as the Rust tokenizer bounds them, and the
// compatibility blocks).
const CLEANED_CHARS =
  /[\p{White_Space}\p{Cc}\p{Cf}\p{Co}\p{Cs}\uFFFD\u4E00-\u9FFF\u3400-\u4DBF\u{20000}-\u{2A6DF}\u{2A700}-\u{2B81F}\u{2B920}-\u{2CEAF}\uF900-\uFAFF\u{2F800}-\u{2FA1F}]/gu;

function cleanChar(ch: string): string {
  if (ch === '\t' || ch === '\n' || ch === '\r') return ' ';
  if (ch === '\uFFFD' || CONTROL.test(ch)) return '';
  if (WHITESPACE.test(ch)) return ' ';
  return ` ${ch} `;
}

/**
 * BertNormalizer with lowercase=true (so strip_accents=true). Every whitespace char becomes
 * one space; ideographs get a space on each side so that each is a word of its own.
 */
export function normalizeBertText(text: string): string {
  if (PRINTABLE_ASCII.test(text)) return text.toLowerCase();
  const cleaned = text.replace(CLEANED_CHARS, cleanChar);
  return lowercaseEachChar(cleaned.normalize('NFD').replace(NONSPACING_MARKS, ''));
}

/**
 * Lowercases code point by code point, as the Rust tokenizer does. String#toLowerCase differs
 * only by its final-sigma rule (word-final Σ -> ς), so only strings holding Σ take the slow path.
 */
function lowercaseEachChar(text: string): string {
  if (!text.includes('Σ')) return text.toLowerCase();
  let out = '';
  for (const ch of text) out += ch === 'Σ' ? 'σ' : ch.toLowerCase();
  return out;
}

/** Words and punctuation marks of normalised text, in order (BertPreTokenizer). */
export function splitBertWords(normalized: string): string[] {
  return normalized.match(WORD_OR_PUNCTUATION) ?? [];
}

export function parseVocab(text: string): Map<string, number> {
  const vocab = new Map<string, number>();
  const lines = text.split('\n');
  // A trailing newline ends the file; it is not an empty token.
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((line, id) => {
    const token = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (!vocab.has(token)) vocab.set(token, id);
  });
  return vocab;
}

export class WordPieceTokenizer {
  readonly vocab: ReadonlyMap<string, number>;
  readonly unknownId: number;
  readonly classifierId: number;
  readonly separatorId: number;
  readonly paddingId: number;
  private readonly continuationPrefix: string;
  private readonly maxInputCharsPerWord: number;
  private readonly specialIds: Map<string, number>;
  private readonly specialPattern: RegExp | undefined;
  private readonly wordCache = new Map<string, readonly number[]>();
  private wordCacheBytes = 0;

  constructor(vocab: ReadonlyMap<string, number>, options: TokenizerOptions = {}) {
    this.vocab = vocab;
    const idOf = (token: string): number => {
      const id = vocab.get(token);
      if (id === undefined) throw new Error(`vocabulary has no ${token} token`);
      return id;
    };
    this.unknownId = idOf(options.unknownToken ?? '[UNK]');
    this.classifierId = idOf(options.classifierToken ?? '[CLS]');
    this.separatorId = idOf(options.separatorToken ?? '[SEP]');
    this.paddingId = idOf(options.paddingToken ?? '[PAD]');
    this.continuationPrefix = options.continuationPrefix ?? '##';
    this.maxInputCharsPerWord = options.maxInputCharsPerWord ?? 100;
    const specials = (options.specialTokens ?? DEFAULT_SPECIAL_TOKENS).filter((t) => vocab.has(t));
    this.specialIds = new Map(specials.map((t) => [t, idOf(t)]));
    this.specialPattern =
      specials.length > 0
        ? new RegExp(
            specials
              .toSorted((a, b) => b.length - a.length)
              .map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
              .join('|'),
            'g',
          )
        : undefined;
  }

  static fromVocabFile(path: string, options?: TokenizerOptions): WordPieceTokenizer {
    return new WordPieceTokenizer(parseVocab(readFileSync(path, 'utf8')), options);
  }

  /** Token ids without [CLS]/[SEP] and without truncation. */
  tokenize(text: string): number[] {
    const ids: number[] = [];
    const pattern = this.specialPattern;
    if (!pattern || !text.includes('[')) {
      this.tokenizeSegment(text, ids);
      return ids;
    }
    let start = 0;
    for (const m of text.matchAll(pattern)) {
      this.tokenizeSegment(text.slice(start, m.index), ids);
      ids.push(this.specialIds.get(m[0])!);
      start = m.index + m[0].length;
    }
    this.tokenizeSegment(text.slice(start), ids);
    return ids;
  }

  /** `[CLS] tokens [SEP]`, the tokens cut so that the whole fits in maxLength. */
  encode(text: string, maxLength: number): number[] {
    if (!Number.isInteger(maxLength) || maxLength < 2) {
      throw new RangeError(`maxLength must be an integer >= 2 (room for [CLS] and [SEP]), got ${maxLength}`);
    }
    const tokens = this.tokenize(text);
    if (tokens.length > maxLength - 2) tokens.length = maxLength - 2;
    const ids = new Array<number>(tokens.length + 2);
    ids[0] = this.classifierId;
    for (let i = 0; i < tokens.length; i++) ids[i + 1] = tokens[i]!;
    ids[tokens.length + 1] = this.separatorId;
    return ids;
  }

  /** Encodes each text and pads the batch on the right to its longest row. */
  encodeBatch(texts: readonly string[], maxLength: number): BatchEncoding {
    return this.padBatch(texts.map((t) => this.encode(t, maxLength)));
  }

  padBatch(rows: readonly (readonly number[])[]): BatchEncoding {
    const batchSize = rows.length;
    const sequenceLength = rows.reduce((max, r) => Math.max(max, r.length), 0);
    const size = batchSize * sequenceLength;
    const inputIds = new BigInt64Array(size);
    const attentionMask = new BigInt64Array(size);
    const pad = BigInt(this.paddingId);
    if (pad !== 0n) inputIds.fill(pad);
    rows.forEach((row, r) => {
      const offset = r * sequenceLength;
      for (let i = 0; i < row.length; i++) {
        inputIds[offset + i] = BigInt(row[i]!);
        attentionMask[offset + i] = 1n;
      }
    });
    return {
      batchSize,
      sequenceLength,
      inputIds,
      attentionMask,
      tokenTypeIds: new BigInt64Array(size),
      lengths: rows.map((r) => r.length),
    };
  }

  private tokenizeSegment(segment: string, out: number[]): void {
    if (segment.length === 0) return;
    for (const word of splitBertWords(normalizeBertText(segment))) {
      for (const id of this.wordPieces(word)) out.push(id);
    }
  }

  private wordPieces(word: string): readonly number[] {
    const cached = this.wordCache.get(word);
    if (cached) return cached;
    const pieces = this.splitWord(word);
    // A word above the per-word limit is one [UNK] found in linear time: never worth its bytes.
    if (word.length <= this.maxInputCharsPerWord) this.remember(word, pieces);
    return pieces;
  }

  private remember(word: string, pieces: readonly number[]): void {
    this.wordCache.set(word, pieces);
    this.wordCacheBytes += entryBytes(word, pieces);
    while (this.wordCacheBytes > WORD_CACHE_MAX_BYTES) {
      const [oldest, value] = this.wordCache.entries().next().value!;
      this.wordCache.delete(oldest);
      this.wordCacheBytes -= entryBytes(oldest, value);
    }
  }

  /** Entries and estimated bytes of the word cache (for tests and benchmarks). */
  get wordCacheSize(): { entries: number; bytes: number } {
    return { entries: this.wordCache.size, bytes: this.wordCacheBytes };
  }

  /** Greedy longest-match-first; one unmatched remainder makes the whole word [UNK]. */
  private splitWord(word: string): readonly number[] {
    if (word.length > this.maxInputCharsPerWord && countCodePoints(word) > this.maxInputCharsPerWord) {
      return [this.unknownId];
    }
    const whole = this.vocab.get(word);
    if (whole !== undefined) return [whole];
    const pieces: number[] = [];
    let start = 0;
    while (start < word.length) {
      let end = word.length;
      let found: number | undefined;
      while (end > start) {
        const piece = word.slice(start, end);
        found = this.vocab.get(start > 0 ? this.continuationPrefix + piece : piece);
        if (found !== undefined) break;
        end--;
        // Never end inside a surrogate pair: such a piece cannot be in the vocabulary.
        if (end > start && isLowSurrogate(word.charCodeAt(end))) end--;
      }
      if (found === undefined) return [this.unknownId];
      pieces.push(found);
      start = end;
    }
    return pieces;
  }
}

function entryBytes(word: string, pieces: readonly number[]): number {
  return ENTRY_OVERHEAD_BYTES + word.length * 2 + pieces.length * 8;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

function countCodePoints(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    if (!isLowSurrogate(text.charCodeAt(i))) n++;
  }
  return n;
}
