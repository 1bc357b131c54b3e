/**
 * Sentence-aware chunking bounded by model tokens. Sentences (Intl.Segmenter) are packed greedily
 * into chunks of at most `maxTokens`; the next chunk repeats the trailing sentences of the
 * previous one up to `overlapTokens`. A sentence longer than `maxTokens` is split at word
 * boundaries, and a word longer than that at character boundaries, so no chunk is ever truncated
 * by the model.
 */

/** Counts model tokens of a text, without the [CLS]/[SEP] the model adds. */
export type TokenCounter = (text: string) => number;

export interface ChunkingOptions {
  maxTokens: number;
  overlapTokens: number;
  countTokens: TokenCounter;
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

export function chunkText(source: string, options: ChunkingOptions): TextChunk[] {
  const { maxTokens, overlapTokens, countTokens } = options;
  if (maxTokens < 1) throw new Error('maxTokens must be positive');
  if (overlapTokens >= maxTokens) throw new Error('overlapTokens must be below maxTokens');

  const units: Unit[] = [];
  const sentences = new Intl.Segmenter(options.locale ?? 'en', { granularity: 'sentence' });
  for (const s of sentences.segment(source)) {
    const start = s.index;
    const end = s.index + s.segment.length;
    const tokens = countTokens(s.segment);
    if (tokens <= maxTokens) {
      if (s.segment.trim() !== '') units.push({ start, end, tokens });
    } else {
      units.push(...splitOversized(source, start, end, options));
    }
  }

  const chunks: TextChunk[] = [];
  let i = 0;
  while (i < units.length) {
    let j = i;
    let total = 0;
    while (j < units.length && total + units[j]!.tokens <= maxTokens) total += units[j++]!.tokens;
    if (j === i) j = i + 1; // a unit is never above maxTokens; defensive progress guarantee

    // Sum of parts can differ from the whole at odd boundaries: verify, drop units until it fits.
    let chunk = makeChunk(source, units[i]!.start, units[j - 1]!.end, countTokens);
    while (chunk.tokens > maxTokens && j - 1 > i) {
      j--;
      chunk = makeChunk(source, units[i]!.start, units[j - 1]!.end, countTokens);
    }
    if (chunk.text !== '') chunks.push({ ...chunk, index: chunks.length });
    if (j >= units.length) break;

    let k = j;
    let overlap = 0;
    while (k - 1 > i && overlap + units[k - 1]!.tokens <= overlapTokens) overlap += units[--k]!.tokens;
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

/** Splits [start, end) into pieces of at most maxTokens: by words, then by characters. */
function splitOversized(source: string, start: number, end: number, options: ChunkingOptions): Unit[] {
  const { maxTokens, countTokens } = options;
  const out: Unit[] = [];
  const words = new Intl.Segmenter(options.locale ?? 'en', { granularity: 'word' });
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
    const wTokens = w.segment.trim() === '' ? 0 : countTokens(w.segment);
    if (wTokens > maxTokens) {
      flush();
      out.push(...splitByCharacters(source, wStart, wEnd, maxTokens, countTokens));
      pieceStart = pieceEnd = wEnd;
      continue;
    }
    if (pieceTokens + wTokens > maxTokens) flush();
    pieceTokens += wTokens;
    pieceEnd = wEnd;
  }
  flush();
  return out;
}

function splitByCharacters(
  source: string,
  start: number,
  end: number,
  maxTokens: number,
  count: TokenCounter,
): Unit[] {
  const out: Unit[] = [];
  let from = start;
  while (from < end) {
    // Largest prefix that fits (binary search on code-unit length, never splitting a surrogate pair).
    let lo = 1;
    let hi = end - from;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (count(source.slice(from, from + mid)) <= maxTokens) lo = mid;
      else hi = mid - 1;
    }
    let to = from + lo;
    if (to < end && /[\uD800-\uDBFF]/.test(source[to - 1]!)) to = to - 1 > from ? to - 1 : to + 1;
    out.push({ start: from, end: to, tokens: count(source.slice(from, to)) });
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
