/**
 * Answers a question for one tenant: the cached result of the tenant's current generation, or
 * embed the question -> the tenant's chunk vector index (over-fetched, archived items filtered,
 * so a small tenant still gets k results) -> 1-2 hops of bounded fan-out in Cypher (chunk ->
 * mentioned entities -> their current facts) -> ranked (ranking.ts) -> cached under the
 * generation read before the search, so a write during the search leaves no stale entry behind.
 *
 * Recent answers are also kept parsed in this process (a bounded near cache): a repeated question
 * then costs one small read of the tenant's generation instead of reading and parsing the stored
 * answer, and an answer from an older generation is never served from either.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import neo4j, { type Driver, type Record as Neo4jRecord } from 'neo4j-driver';
import type { QueryConfig as QuerySettings } from '../../contract/config/query.ts';
import { graphNames, redisKeys } from '../../contract/stores.ts';
import type { Logger } from '../../observability/log.ts';
import type { QuestionEmbedder } from './question-embedder.ts';
import {
  assemble,
  type ChunkCandidate,
  entitiesOf,
  type FactCandidate,
  factKey,
  type RankedResult,
  selectChunks,
} from './ranking.ts';

// The vector search and the first hop for every kept candidate (ranking needs the importance of
// the entities a chunk mentions). The tenant check stays although the index covers the tenant's
// label only: isolation must not rest on index naming alone.
const SEARCH = `
CALL db.index.vector.queryNodes($index, $fetch, $vector) YIELD node AS c, score
WITH c, score WHERE c.tenantId = $tenantId AND coalesce(c.archived, false) = false
WITH c, score ORDER BY score DESC LIMIT $keep
CALL (c) {
  OPTIONAL MATCH (c)-[:MENTIONS]->(e:Entity)
  WHERE e.tenantId = $tenantId AND coalesce(e.archived, false) = false
  WITH e ORDER BY e.importance DESC LIMIT $fanout
  RETURN collect(e {.key, .name, .type, .importance}) AS entities
}
RETURN c.chunkId AS chunkId, c.documentId AS documentId, c.text AS text, score,
       c.versionTimestamp AS timestamp, entities
`;

// The second hop, for the entities of the top k chunks only (found by the (tenantId, key) constraint),
// one row per entity in the order given: the rows stream, so the reader can stop early.
const FACTS = `
UNWIND $keys AS key
MATCH (e:Entity {tenantId: $tenantId, key: key})
CALL (e) {
  MATCH (e)-[r:RELATES]-(o:Entity)
  WHERE r.validTo IS NULL AND o.tenantId = $tenantId AND coalesce(o.archived, false) = false
    AND coalesce(r.archived, false) = false
  WITH r, o ORDER BY o.importance DESC LIMIT $fanout
  RETURN collect({source: startNode(r).name, type: r.type, target: endNode(r).name, fact: r.fact,
                  chunkId: r.chunkId, validFrom: r.validFrom}) AS facts
}
RETURN key, facts
`;

/** Answers kept parsed in this process at most, and their stored size in total. */
const NEAR_CACHE_ENTRIES = 2048;
const NEAR_CACHE_BYTES = 32 * 1024 * 1024;

interface NearEntry {
  generation: string;
  answer: QueryAnswer;
  bytes: number;
  expiresAt: number;
}

export interface QueryAnswer extends RankedResult {
  tenantId: string;
  text: string;
  topK: number;
  /** The tenant generation the result was computed at. */
  generation: string;
  cached: boolean;
  tookMs: number;
}

export interface QueryEngineOptions {
  cluster: string;
  database: string;
  settings: QuerySettings;
  log: Logger;
  now?: () => number;
  /** Observes each answer's wall time (cached or not). */
  observe?: (seconds: number, cached: boolean) => void;
  /** Where one uncached answer's time went, in ms (for profiles: bench/runtime/query-latency.ts). */
  onPhases?: (phases: QueryPhases) => void;
}

export interface QueryPhases {
  cacheRead: number;
  embed: number;
  search: number;
  expand: number;
  rank: number;
  cacheWrite: number;
}

export class QueryEngine {
  readonly #driver: Driver;
  readonly #redis: Redis;
  readonly #questions: QuestionEmbedder;
  readonly #o: QueryEngineOptions;
  /** Cache key -> the answer as stored, parsed; oldest first (Map order), so the first is evicted. */
  readonly #near = new Map<string, NearEntry>();
  #nearBytes = 0;

  constructor(driver: Driver, redis: Redis, questions: QuestionEmbedder, options: QueryEngineOptions) {
    this.#driver = driver;
    this.#redis = redis;
    this.#questions = questions;
    this.#o = options;
  }

  async answer(tenantId: string, text: string, topK: number): Promise<QueryAnswer> {
    const started = performance.now();
    const { settings } = this.#o;
    const hash = createHash('sha256')
      .update(JSON.stringify([text, topK, settings.hops, settings.fanout]))
      .digest('hex');
    let mark = started;
    const lap = () => {
      const now = performance.now();
      const ms = now - mark;
      mark = now;
      return ms;
    };
    const cacheKey = redisKeys.queryResult(this.#o.cluster, tenantId, hash);
    const useCache = settings.cacheTtlSeconds > 0;
    const near = useCache ? await this.#nearGet(tenantId, cacheKey) : undefined;
    if (near) return this.#done({ ...near, cached: true }, started);
    // One round trip: the generation and the cached value together (a stale value is a miss).
    const { generation, hit } = await this.#cacheGet(tenantId, cacheKey, useCache);
    if (hit) return this.#done({ ...hit, cached: true }, started);
    const cacheRead = lap();
    const vector = await this.#questions.embed(tenantId, text);
    const embed = lap();
    const fetch = Math.min(topK * settings.overfetch, 1000);
    const found = await this.#read(SEARCH, {
      index: graphNames.chunkVectorIndex(tenantId),
      tenantId,
      vector: Array.from(vector),
      // Cypher's LIMIT takes integers only; a JS number travels as a float.
      fetch: neo4j.int(fetch),
      keep: neo4j.int(Math.min(fetch, topK * 2)),
      fanout: neo4j.int(settings.fanout),
    });
    const candidates: ChunkCandidate[] = found.map((r) => ({
      chunkId: r.get('chunkId'),
      documentId: r.get('documentId'),
      text: r.get('text'),
      similarity: r.get('score'),
      timestamp: r.get('timestamp') ?? null,
      entities: r.get('entities'),
    }));
    const search = lap();
    const selected = selectChunks(candidates, topK, settings, (this.#o.now ?? Date.now)());
    const keys = settings.hops === 2 ? entitiesOf(selected).map((e) => e.key) : [];
    const factsOf = keys.length > 0 ? await this.#facts(tenantId, keys, 2 * topK) : new Map();
    const expand = lap();
    const answer: QueryAnswer = {
      tenantId,
      text,
      topK,
      generation,
      cached: false,
      tookMs: 0,
      ...assemble(selected, topK, factsOf),
    };
    const rankMs = lap();
    if (useCache) {
      const stored = JSON.stringify(answer);
      this.#nearSet(cacheKey, generation, answer, stored.length);
      await this.#redis
        .set(cacheKey, `${generation}\n${stored}`, 'EX', settings.cacheTtlSeconds)
        .catch((err) => this.#o.log.warn('query cache write failed; answering uncached', { error: err }));
    }
    this.#o.onPhases?.({ cacheRead, embed, search, expand, rank: rankMs, cacheWrite: lap() });
    return this.#done(answer, started);
  }

  /** One auto-commit read: a single round trip (RUN and PULL pipelined), no transaction to begin and commit. */
  async #read(cypher: string, params: Record<string, unknown>): Promise<Neo4jRecord[]> {
    const session = this.#driver.session({
      database: this.#o.database,
      defaultAccessMode: neo4j.session.READ,
    });
    try {
      return (await session.run(cypher, params)).records;
    } finally {
      await session.close();
    }
  }

  /**
   * The facts of the entities in order, fetched a few entities per Bolt PULL and stopped once
   * `wanted` distinct facts are known: assemble keeps no more, and the rest is never computed.
   */
  async #facts(tenantId: string, keys: string[], wanted: number): Promise<Map<string, FactCandidate[]>> {
    const { fanout } = this.#o.settings;
    const factsOf = new Map<string, FactCandidate[]>();
    const distinct = new Set<string>();
    const session = this.#driver.session({
      database: this.#o.database,
      defaultAccessMode: neo4j.session.READ,
      fetchSize: Math.ceil(wanted / fanout) + 1,
    });
    try {
      for await (const r of session.run(FACTS, { keys, tenantId, fanout: neo4j.int(fanout) })) {
        const facts: FactCandidate[] = r.get('facts');
        factsOf.set(r.get('key'), facts);
        for (const f of facts) distinct.add(factKey(f));
        if (distinct.size >= wanted) break;
      }
    } finally {
      await session.close();
    }
    return factsOf;
  }

  async #cacheGet(
    tenantId: string,
    key: string,
    useCache: boolean,
  ): Promise<{ generation: string; hit?: QueryAnswer }> {
    const generationKey = redisKeys.generation(this.#o.cluster, tenantId);
    if (!useCache) return { generation: (await this.#redis.get(generationKey)) ?? '0' };
    let values: (string | null)[];
    try {
      values = await this.#redis.mget(generationKey, key);
    } catch (err) {
      this.#o.log.warn('query cache read failed; answering uncached', { error: err });
      return { generation: (await this.#redis.get(generationKey)) ?? '0' };
    }
    const generation = values[0] ?? '0';
    const raw = values[1];
    const cut = raw?.indexOf('\n') ?? -1;
    if (!raw || cut < 0 || raw.slice(0, cut) !== generation) return { generation };
    const hit = JSON.parse(raw.slice(cut + 1)) as QueryAnswer;
    this.#nearSet(key, generation, hit, raw.length - cut - 1);
    return { generation, hit };
  }

  /**
   * The answer kept in this process, if the tenant's generation still is the one it was computed
   * at (one small read); a stale or expired entry is dropped and the caller reads the store.
   */
  async #nearGet(tenantId: string, key: string): Promise<QueryAnswer | undefined> {
    const entry = this.#near.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.#nearDrop(key, entry);
      return undefined;
    }
    let generation: string;
    try {
      generation = (await this.#redis.get(redisKeys.generation(this.#o.cluster, tenantId))) ?? '0';
    } catch {
      // Without the generation nothing proves the entry current: answer as without a cache.
      return undefined;
    }
    if (generation !== entry.generation) {
      this.#nearDrop(key, entry);
      return undefined;
    }
    // Most recently used last: eviction takes the oldest.
    this.#near.delete(key);
    this.#near.set(key, entry);
    return entry.answer;
  }

  #nearSet(key: string, generation: string, answer: QueryAnswer, bytes: number): void {
    const old = this.#near.get(key);
    if (old) this.#nearDrop(key, old);
    if (bytes > NEAR_CACHE_BYTES / 16) return;
    this.#near.set(key, {
      generation,
      // Shared by every later hit: frozen, so no caller can change what the next one is served.
      answer: deepFreeze(answer),
      bytes,
      expiresAt: Date.now() + this.#o.settings.cacheTtlSeconds * 1000,
    });
    this.#nearBytes += bytes;
    while (this.#near.size > NEAR_CACHE_ENTRIES || this.#nearBytes > NEAR_CACHE_BYTES) {
      const [oldestKey, oldest] = this.#near.entries().next().value!;
      this.#nearDrop(oldestKey, oldest);
    }
  }

  #nearDrop(key: string, entry: NearEntry): void {
    this.#near.delete(key);
    this.#nearBytes -= entry.bytes;
  }

  #done(answer: QueryAnswer, started: number): QueryAnswer {
    const seconds = (performance.now() - started) / 1000;
    this.#o.observe?.(seconds, answer.cached);
    return { ...answer, tookMs: Math.round(seconds * 10_000) / 10 };
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
