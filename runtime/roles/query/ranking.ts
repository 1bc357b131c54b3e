/**
 * How a query's candidates are ranked, pure: a chunk's score mixes its similarity to the question
 * (the vector index's score), its recency (halving every ENGRAM_QUERY_RECENCY_HALF_LIFE_DAYS) and
 * the importance of the entities it mentions (resolve adds to it, evolve decays it). Entities and
 * facts reached from a chunk inherit its score. Chunks are selected first, so the second hop (the
 * entities' facts) is fetched for the top k chunks only, not for every candidate.
 */
import type { QueryConfig as QuerySettings } from '../../contract/config/query.ts';

export interface ChunkCandidate {
  chunkId: string;
  documentId: string;
  text: string;
  similarity: number;
  /** The document version's append time (ms since epoch), if the chunk has one. */
  timestamp: number | null;
  entities: EntityCandidate[];
}

export interface EntityCandidate {
  key: string;
  name: string;
  type: string;
  importance: number;
}

export interface FactCandidate {
  source: string;
  type: string;
  target: string;
  fact: string;
  chunkId: string;
  validFrom: number | null;
}

export interface RankedChunk {
  chunkId: string;
  documentId: string;
  text: string;
  score: number;
  similarity: number;
  recency: number;
  importance: number;
}
export interface RankedEntity {
  key: string;
  name: string;
  type: string;
  importance: number;
  score: number;
}
export interface RankedFact extends FactCandidate {
  score: number;
}

export interface RankedResult {
  chunks: RankedChunk[];
  entities: RankedEntity[];
  facts: RankedFact[];
}

type Weights = Pick<
  QuerySettings,
  'similarityWeight' | 'recencyWeight' | 'importanceWeight' | 'recencyHalfLifeDays'
>;

const DAY_MS = 86_400_000;
/** Importance is unbounded (a sum of mentions): squash it to [0, 1), half at this value. */
const IMPORTANCE_HALF = 3;

export function recencyOf(timestamp: number | null, now: number, halfLifeDays: number): number {
  if (timestamp === null) return 0;
  const ageDays = Math.max(0, now - timestamp) / DAY_MS;
  return 0.5 ** (ageDays / halfLifeDays);
}

export function importanceOf(importance: number): number {
  return importance > 0 ? importance / (importance + IMPORTANCE_HALF) : 0;
}

/** A chunk that made the top k, with the candidate it came from (its entities). */
export interface SelectedChunk {
  candidate: ChunkCandidate;
  ranked: RankedChunk;
}

/** The top k chunks by the weighted score (ties by chunk id, so an answer is reproducible). */
export function selectChunks(
  candidates: readonly ChunkCandidate[],
  topK: number,
  weights: Weights,
  now: number,
): SelectedChunk[] {
  const total = weights.similarityWeight + weights.recencyWeight + weights.importanceWeight;
  return candidates
    .map((c) => {
      const recency = recencyOf(c.timestamp, now, weights.recencyHalfLifeDays);
      let top = 0;
      for (const e of c.entities) if (e.importance > top) top = e.importance;
      const importance = importanceOf(top);
      const score =
        (weights.similarityWeight * c.similarity +
          weights.recencyWeight * recency +
          weights.importanceWeight * importance) /
        total;
      return {
        candidate: c,
        ranked: {
          chunkId: c.chunkId,
          documentId: c.documentId,
          text: c.text,
          score,
          similarity: c.similarity,
          recency,
          importance,
        },
      };
    })
    .sort((a, b) => b.ranked.score - a.ranked.score || (a.ranked.chunkId < b.ranked.chunkId ? -1 : 1))
    .slice(0, topK);
}

/**
 * The distinct entities of the selected chunks, best chunk first: the ones whose facts are wanted.
 * assemble keeps the first 2 x topK distinct facts met in this order (a fact's score is that of the
 * first chunk reaching it), so facts can be fetched entity by entity until that many are known.
 */
export function entitiesOf(selected: readonly SelectedChunk[]): EntityCandidate[] {
  const seen = new Map<string, EntityCandidate>();
  for (const { candidate } of selected)
    for (const e of candidate.entities) if (!seen.has(e.key)) seen.set(e.key, e);
  return [...seen.values()];
}

/** Facts are the same fact when they state the same relation between the same names. */
export function factKey(f: FactCandidate): string {
  return `${f.source}\u0000${f.type}\u0000${f.target}`;
}

/**
 * The answer from the selected chunks: their entities and the entities' facts (factsOf, by entity
 * key; none for 1 hop), each inheriting the best score of a chunk that reaches it, deduplicated.
 */
export function assemble(
  selected: readonly SelectedChunk[],
  topK: number,
  factsOf: ReadonlyMap<string, readonly FactCandidate[]> = new Map(),
): RankedResult {
  const entities = new Map<string, RankedEntity>();
  const facts = new Map<string, RankedFact>();
  for (const { candidate, ranked } of selected) {
    for (const e of candidate.entities) {
      const prev = entities.get(e.key);
      if (!prev || prev.score < ranked.score)
        entities.set(e.key, {
          key: e.key,
          name: e.name,
          type: e.type,
          importance: e.importance,
          score: ranked.score,
        });
      for (const f of factsOf.get(e.key) ?? []) {
        const id = factKey(f);
        const prevFact = facts.get(id);
        if (!prevFact || prevFact.score < ranked.score) facts.set(id, { ...f, score: ranked.score });
      }
    }
  }
  const byScore = <T extends { score: number }>(a: T, b: T) => b.score - a.score;
  // At most 2 x topK entities and facts: an answer stays small enough to cache and send fast.
  return {
    chunks: selected.map((c) => c.ranked),
    entities: [...entities.values()].sort(byScore).slice(0, 2 * topK),
    facts: [...facts.values()].sort(byScore).slice(0, 2 * topK),
  };
}

/** selectChunks then assemble, for candidates whose facts are already known. */
export function rank(
  candidates: readonly ChunkCandidate[],
  topK: number,
  weights: Weights,
  now: number,
  factsOf?: ReadonlyMap<string, readonly FactCandidate[]>,
): RankedResult {
  return assemble(selectChunks(candidates, topK, weights, now), topK, factsOf);
}
