/**
 * Sentence-aware chunking bounded by model tokens and by characters. Sentences (Intl.Segmenter)
 * are packed greedily into chunks of at most `maxTokens` and `maxChars`; the next chunk repeats
 * the trailing sentences of the previous one up to `overlapTokens` (and a proportional share of
 * `maxChars`). A sentence above either bound is split at word boundaries, and a word above it at
 * character boundaries, so no chunk is ever truncated by the model and no chunk message grows
 * with a word the tokenizer reads as one token ([UNK] for a 100 KiB word, nothing for control
 * characters). Every step is linear or n log n in the text length.
 */
import { MAX_CHUNK_TEXT_CHARS } from '../../pipeline/messages.ts';

/** Counts model tokens of a text, without the [CLS]/[SEP] the model adds. */
export type TokenCounter = (text: string) => number;

export interface ChunkingOptions {
  maxTokens: number;
  overlapTokens: number;
  countTokens: TokenCounter;
  /** Longest chunk text in UTF-16 code units; `chunkCharBound(maxTokens)` when unset. */
  maxChars?: number;
  locale?: string;
}

export interface TextChunk {
  index: number;
  text: string;
  /** Character offsets in the source text, `text === source.slice(start, end)`. */
  start: number;
  end: number;
  tokens: number;
}

interface Unit {
  start: number;
  end: number;
  tokens: number;
}

interface Bounds {
  maxTokens: number;
  maxChars: number;
  countTokens: TokenCounter;
  locale: string;
}

/** 32 characters per token is far above any real text (English runs ~4-5), well below the schema's cap. */
export function chunkCharBound(maxTokens: number): number {
  return Math.min(MAX_CHUNK_TEXT_CHARS, Math.max(1024, maxTokens * 32));
}

export function chunkText(source: string, options: ChunkingOptions): TextChunk[] {
  const { maxTokens, overlapTokens, countTokens } = options;
  if (maxTokens < 1) throw new Error('maxTokens must be positive');
  if (overlapTokens >= maxTokens) throw new Error('overlapTokens must be below maxTokens');
  const maxChars = Math.min(options.maxChars ?? chunkCharBound(maxTokens), MAX_CHUNK_TEXT_CHARS);
  if (maxChars < 2) throw new Error('maxChars must be at least 2');
  const bounds: Bounds = { maxTokens, maxChars, countTokens, locale: options.locale ?? 'en' };
  const overlapChars = Math.floor((maxChars * overlapTokens) / maxTokens);

  const units: Unit[] = [];
  const sentences = new Intl.Segmenter(bounds.locale, { granularity: 'sentence' });
  for (const s of sentences.segment(source)) {
    const start = s.index;
    const end = s.index + s.segment.length;
    const tokens = end - start <= maxChars ? countTokens(s.segment) : Number.POSITIVE_INFINITY;
    if (tokens <= maxTokens) {
      if (s.segment.trim() !== '') units.push({ start, end, tokens });
    } else {
      for (const u of splitOversized(source, start, end, bounds)) units.push(u);
    }
  }

  const chunks: TextChunk[] = [];
  let i = 0;
  while (i < units.length) {
    const from = units[i]!.start;
    let j = i;
    let total = 0;
    while (j < units.length && total + units[j]!.tokens <= maxTokens && units[j]!.end - from <= maxChars)
      total += units[j++]!.tokens;
    if (j === i) j = i + 1; // a unit is never above the bounds; defensive progress guarantee

    // Sum of parts can differ from the whole at odd boundaries: verify, drop units until it fits.
    let chunk = makeChunk(source, from, units[j - 1]!.end, countTokens);
    while (chunk.tokens > maxTokens && j - 1 > i) {
      j--;
      chunk = makeChunk(source, from, units[j - 1]!.end, countTokens);
    }
    if (chunk.text !== '') chunks.push({ ...chunk, index: chunks.length });
    if (j >= units.length) break;

    // Overlap bounded in tokens and characters, and always at least one new unit per chunk.
    const end = units[j - 1]!.end;
    let k = j;
    let overlap = 0;
    while (
      k - 1 > i &&
      overlap + units[k - 1]!.tokens <= overlapTokens &&
      end - units[k - 1]!.start <= overlapChars
    )
      overlap += units[--k]!.tokens;
    i = k;
  }
  return chunks;
}

function makeChunk(
  source: string,
  from: number,
  to: number,
  countTokens: TokenCounter,
): Omit<TextChunk, 'index'> {
  let start = from;
  let end = to;
  while (start < end && /\s/.test(source[start]!)) start++;
  while (end > start && /\s/.test(source[end - 1]!)) end--;
  const text = source.slice(start, end);
  return { text, start, end, tokens: text === '' ? 0 : countTokens(text) };
}

/** Splits [start, end) into pieces within the bounds: by words, then by characters. */
function splitOversized(source: string, start: number, end: number, bounds: Bounds): Unit[] {
  const { maxTokens, maxChars, countTokens } = bounds;
  const out: Unit[] = [];
  const words = new Intl.Segmenter(bounds.locale, { granularity: 'word' });
  let pieceStart = start;
  let pieceTokens = 0;
  let pieceEnd = start;
  const flush = () => {
    if (pieceEnd > pieceStart && source.slice(pieceStart, pieceEnd).trim() !== '')
      out.push({ start: pieceStart, end: pieceEnd, tokens: pieceTokens });
    pieceStart = pieceEnd;
    pieceTokens = 0;
  };
  for (const w of words.segment(source.slice(start, end))) {
    const wStart = start + w.index;
    const wEnd = wStart + w.segment.length;
    const wTokens =
      wEnd - wStart > maxChars
        ? Number.POSITIVE_INFINITY
        : w.segment.trim() === ''
          ? 0
          : countTokens(w.segment);
    if (wTokens > maxTokens) {
      flush();
      for (const u of splitByCharacters(source, wStart, wEnd, bounds)) out.push(u);
      pieceStart = pieceEnd = wEnd;
      continue;
    }
    if (pieceTokens + wTokens > maxTokens || wEnd - pieceStart > maxChars) flush();
    pieceTokens += wTokens;
    pieceEnd = wEnd;
  }
  flush();
  return out;
}

/**
 * Cuts [start, end) into the longest prefixes within the bounds. Each cut gallops (64, 128, ...
 * characters) to the first prefix that does not fit, then bisects between the last two probes:
 * O(piece log piece) per piece, so O(n log n) for the whole word, where bisecting over the rest of
 * the word each time was quadratic (7.5 s for 256 KiB of "a.a.a.").
 */
function splitByCharacters(source: string, start: number, end: number, bounds: Bounds): Unit[] {
  const { maxTokens, maxChars, countTokens } = bounds;
  const out: Unit[] = [];
  const fits = (from: number, length: number) => countTokens(source.slice(from, from + length)) <= maxTokens;
  let from = start;
  while (from < end) {
    const limit = Math.min(end - from, maxChars);
    let lo = 0; // longest length known to fit
    let hi = limit + 1; // shortest length known not to fit
    for (let probe = Math.min(64, limit); ; probe = Math.min(limit, probe * 2)) {
      if (!fits(from, probe)) {
        hi = probe;
        break;
      }
      lo = probe;
      if (probe === limit) break;
    }
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1;
      if (fits(from, mid)) lo = mid;
      else hi = mid;
    }
    let to = from + Math.max(1, lo);
    // Never split a surrogate pair.
    if (to < end && /[\uD800-\uDBFF]/.test(source[to - 1]!)) to = to - 1 > from ? to - 1 : to + 1;
    out.push({ start: from, end: to, tokens: countTokens(source.slice(from, to)) });
    from = to;
  }
  return out;
}

/**
 * A conservative stand-in for the model's WordPiece count, used only when the ingest role has no
 * tokenizer (ENGRAM_MODEL_DIR unset): every punctuation mark is a token and every word counts one
 * token per 3 characters, which over-counts English by about 2x, so chunks stay under the bound.
 */
const UNSPACED_SCRIPT =
  /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\p{Script=Thai}]/u;

export function estimateTokens(text: string): number {
  let tokens = 0;
  for (const m of text.matchAll(/[\p{L}\p{N}\p{M}]+|[^\s\p{L}\p{N}\p{M}]/gu)) {
    const t = m[0];
    if (!/[\p{L}\p{N}]/u.test(t)) tokens += 1;
    else if (UNSPACED_SCRIPT.test(t)) tokens += [...t].length;
    else tokens += Math.max(1, Math.ceil([...t].length / 3));
  }
  return tokens;
}
