/**
 * One tenant's evolution in Neo4j, in batches of `batchSize` nodes per transaction (keyset pages,
 * bounded memory): consolidation of near-duplicate entities, then decay and archival.
 *
 * Decay is computed, not accumulated: decayedImportance = importance * 2^(-(now - lastSeen) /
 * halfLife) for entities (resolve keeps `importance` as the sum of mentions), and 2^(-age/halfLife)
 * for chunks (age from their document version's timestamp). An item is archived (archived=true,
 * archivedAt) when that falls below the threshold or it is older than archiveAfter, and comes
 * back when a new mention lifts it; the query role skips archived items, nothing is deleted.
 * Every SET is guarded by "value differs", so a second run at the same `now` sets no property.
 *
 * Consolidation asks the tenant's entity-name vector index for each live entity's neighbours and
 * merges each near-duplicate group into its oldest entity (consolidation.ts): mentions, relations
 * and aliases move to it, importance adds up, and the merged name stays as an EntityAlias (so the
 * resolve role's exact stage finds it). Merges hold the tenant's resolution lock.
 */
import neo4j, { type Driver } from 'neo4j-driver';
import { graphNames } from '../../contract/stores.ts';
import { type Merge, planMerges, type SimilarPair } from './consolidation.ts';

/** The Cypher of one decay page; `alias` is the node variable, `label` the tenant's label. */
const decayPage = (label: string, id: string, seen: string, base: string) => `
MATCH (n:\`${label}\`) WHERE n.${id} > $after
WITH n ORDER BY n.${id} LIMIT $limit
WITH n, $now - coalesce(${seen}, $now) AS age
WITH n, age, ${base} * 2.0 ^ (-toFloat(age) / $halfLifeMs) AS decayed
WITH n, decayed, coalesce(n.archived, false) AS was,
     decayed < $archiveBelow OR ($archiveAfterMs IS NOT NULL AND age > $archiveAfterMs) AS archive
FOREACH (_ IN CASE WHEN n.decayedImportance IS NULL OR n.decayedImportance <> decayed THEN [1] ELSE [] END |
  SET n.decayedImportance = decayed)
FOREACH (_ IN CASE WHEN archive AND NOT was THEN [1] ELSE [] END | SET n.archived = true, n.archivedAt = $now)
FOREACH (_ IN CASE WHEN was AND NOT archive THEN [1] ELSE [] END | SET n.archived = false, n.archivedAt = null)
RETURN count(n) AS seen, max(n.${id}) AS last,
       sum(CASE WHEN archive AND NOT was THEN 1 ELSE 0 END) AS archived,
       sum(CASE WHEN was AND NOT archive THEN 1 ELSE 0 END) AS restored
`;

const ENTITY_PAGE = `
MATCH (e:Entity) WHERE e.tenantId = $tenantId AND e.key > $after
WITH e ORDER BY e.key LIMIT $limit
RETURN collect(e.key) AS keys
`;

const NEIGHBOURS = `
UNWIND $keys AS key
MATCH (e:Entity {tenantId: $tenantId, key: key})
WHERE e.nameEmbedding IS NOT NULL AND coalesce(e.archived, false) = false
CALL db.index.vector.queryNodes($index, $k, e.nameEmbedding) YIELD node, score
WITH e, node, 2 * score - 1 AS similarity
WHERE node.tenantId = $tenantId AND node.key > e.key AND coalesce(node.archived, false) = false
  AND similarity >= $similarity
RETURN e.key AS a, coalesce(e.firstSeen, e.createdAt, 0) AS aSeen,
       node.key AS b, coalesce(node.firstSeen, node.createdAt, 0) AS bSeen, similarity
`;

const LOCK_TENANT = `
MERGE (l:EntityResolutionLock {tenantId: $tenantId})
SET l:$($tenantLabel), l.lockedAt = timestamp()
`;

const MERGE_ENTITIES = `
UNWIND $merges AS m
MATCH (keep:Entity {tenantId: $tenantId, key: m.keep})
MATCH (dup:Entity {tenantId: $tenantId, key: m.merged})
CALL (keep, dup) {
  MATCH (c)-[old:MENTIONS]->(dup)
  MERGE (c)-[n:MENTIONS]->(keep) ON CREATE SET n.seenAt = old.seenAt
  DELETE old
}
CALL (keep, dup) {
  MATCH (dup)-[old:RELATES]->(t) WHERE t <> keep AND t <> dup
  MERGE (keep)-[n:RELATES {type: old.type, chunkId: old.chunkId}]->(t) ON CREATE SET n = properties(old)
  DELETE old
}
CALL (keep, dup) {
  MATCH (s)-[old:RELATES]->(dup) WHERE s <> keep AND s <> dup
  MERGE (s)-[n:RELATES {type: old.type, chunkId: old.chunkId}]->(keep) ON CREATE SET n = properties(old)
  DELETE old
}
CALL (keep, dup) {
  MATCH (a:EntityAlias)-[old:ALIAS_OF]->(dup)
  MERGE (a)-[:ALIAS_OF]->(keep)
  DELETE old
}
MERGE (alias:EntityAlias {tenantId: $tenantId, key: dup.key})
  ON CREATE SET alias.name = dup.name, alias.score = m.similarity, alias.stage = 'evolve'
SET alias:$($tenantLabel)
MERGE (alias)-[:ALIAS_OF]->(keep)
SET keep.importance = coalesce(keep.importance, 0.0) + coalesce(dup.importance, 0.0),
    keep.mentionCount = COUNT { (keep)<-[:MENTIONS]-() },
    keep.lastSeen = CASE WHEN coalesce(dup.lastSeen, 0) > coalesce(keep.lastSeen, 0) THEN dup.lastSeen ELSE keep.lastSeen END,
    keep.firstSeen = CASE WHEN coalesce(dup.firstSeen, keep.firstSeen) < keep.firstSeen THEN dup.firstSeen ELSE keep.firstSeen END
DETACH DELETE dup
RETURN count(*) AS merged
`;

export interface EvolutionPolicy {
  /** The run's time (ms since epoch): decay is a function of it, so a re-run at it changes nothing. */
  now: number;
  halfLifeMs: number;
  archiveAfterMs?: number;
  archiveBelow: number;
  mergeSimilarity: number;
}

export interface EvolutionSummary {
  entities: number;
  chunks: number;
  archived: number;
  restored: number;
  merged: number;
  /** From the transactions' summary counters: 0 when nothing changed. */
  propertiesSet: number;
  nodesDeleted: number;
}

export interface TenantMemoryGraphOptions {
  database: string;
  batchSize: number;
  transactionTimeoutMs: number;
  /** Neighbours asked of the vector index per entity. */
  neighbours?: number;
}

export class TenantMemoryGraph {
  readonly #driver: Driver;
  readonly #o: TenantMemoryGraphOptions;

  constructor(driver: Driver, options: TenantMemoryGraphOptions) {
    this.#driver = driver;
    this.#o = options;
  }

  /** Tenants present in the graph (their labels): what the scheduler requests evolutions for. */
  async tenants(): Promise<string[]> {
    const { records } = await this.#driver.executeQuery(
      "CALL db.labels() YIELD label WHERE label STARTS WITH 'Tenant_' RETURN label",
      {},
      { database: this.#o.database, routing: neo4j.routing.READ },
    );
    // Tenant ids are DNS labels, so the label's '_' were '-' (contract/stores.ts tenantIdent).
    return records.map((r) => (r.get('label') as string).slice('Tenant_'.length).replaceAll('_', '-')).sort();
  }

  async evolve(tenantId: string, policy: EvolutionPolicy): Promise<EvolutionSummary> {
    const summary: EvolutionSummary = {
      entities: 0,
      chunks: 0,
      archived: 0,
      restored: 0,
      merged: 0,
      propertiesSet: 0,
      nodesDeleted: 0,
    };
    const params = {
      now: policy.now,
      halfLifeMs: policy.halfLifeMs,
      archiveAfterMs: policy.archiveAfterMs ?? null,
      archiveBelow: policy.archiveBelow,
    };
    // Merges first: they change the kept entity's importance and lastSeen, which the decay reads.
    const merges = await this.#similarGroups(tenantId, policy.mergeSimilarity);
    if (merges.length > 0) await this.#merge(tenantId, merges, summary);
    const entities = decayPage(
      graphNames.entityLabel(tenantId),
      'key',
      'coalesce(n.lastSeen, n.createdAt)',
      'coalesce(n.importance, 0.0)',
    );
    summary.entities = await this.#decay(entities, params, summary);
    const chunks = decayPage(
      graphNames.chunkLabel(tenantId),
      'chunkId',
      'coalesce(n.versionTimestamp, n.updatedAt)',
      'coalesce(n.importance, 1.0)',
    );
    summary.chunks = await this.#decay(chunks, params, summary);
    return summary;
  }

  async #decay(query: string, params: Record<string, unknown>, summary: EvolutionSummary): Promise<number> {
    let after = '';
    let seen = 0;
    for (;;) {
      const { records, summary: s } = await this.#driver.executeQuery(
        query,
        { ...params, after, limit: neo4j.int(this.#o.batchSize) },
        { database: this.#o.database, transactionConfig: { timeout: this.#o.transactionTimeoutMs } },
      );
      const page = records[0]!;
      const n = page.get('seen') as number;
      summary.propertiesSet += s.counters.updates().propertiesSet;
      summary.archived += page.get('archived') as number;
      summary.restored += page.get('restored') as number;
      seen += n;
      if (n < this.#o.batchSize) return seen;
      after = page.get('last') as string;
    }
  }

  async #similarGroups(tenantId: string, similarity: number): Promise<Merge[]> {
    const pairs: SimilarPair[] = [];
    const db = { database: this.#o.database, routing: neo4j.routing.READ };
    const index = graphNames.entityNameVectorIndex(tenantId);
    const indexed = await this.#driver.executeQuery(
      'SHOW VECTOR INDEXES YIELD name WHERE name = $index RETURN name',
      { index },
      db,
    );
    if (indexed.records.length === 0) return [];
    let after = '';
    for (;;) {
      const { records } = await this.#driver.executeQuery(
        ENTITY_PAGE,
        { tenantId, after, limit: neo4j.int(this.#o.batchSize) },
        db,
      );
      const keys = records[0]!.get('keys') as string[];
      if (keys.length === 0) break;
      const near = await this.#driver.executeQuery(
        NEIGHBOURS,
        { tenantId, keys, index, k: neo4j.int(this.#o.neighbours ?? 8), similarity },
        db,
      );
      for (const r of near.records)
        pairs.push({
          a: { key: r.get('a'), firstSeen: r.get('aSeen') },
          b: { key: r.get('b'), firstSeen: r.get('bSeen') },
          similarity: r.get('similarity'),
        });
      if (keys.length < this.#o.batchSize) break;
      after = keys[keys.length - 1]!;
    }
    return planMerges(pairs);
  }

  async #merge(tenantId: string, merges: Merge[], summary: EvolutionSummary): Promise<void> {
    const tenantLabel = graphNames.tenantLabel(tenantId);
    for (let i = 0; i < merges.length; i += this.#o.batchSize) {
      const batch = merges.slice(i, i + this.#o.batchSize);
      const session = this.#driver.session({ database: this.#o.database, defaultAccessMode: 'WRITE' });
      try {
        const counters = await session.executeWrite(
          async (tx) => {
            // Resolution of this tenant waits: it would otherwise write onto an entity being merged.
            await tx.run(LOCK_TENANT, { tenantId, tenantLabel });
            const r = await tx.run(MERGE_ENTITIES, { tenantId, tenantLabel, merges: batch });
            return { merged: r.records[0]!.get('merged') as number, updates: r.summary.counters.updates() };
          },
          { timeout: this.#o.transactionTimeoutMs },
        );
        summary.merged += counters.merged;
        summary.propertiesSet += counters.updates.propertiesSet;
        summary.nodesDeleted += counters.updates.nodesDeleted;
      } finally {
        await session.close();
      }
    }
  }
}
