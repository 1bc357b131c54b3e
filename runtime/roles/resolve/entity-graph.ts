/**
 * The tenant's entities in Neo4j: lookups for the resolution cascade and the batch's write.
 *
 * Layout: (:Entity:Tenant_<t>:Entity_<t> {tenantId, key, name, type, description, importance,
 * mentionCount, firstSeen, lastSeen, nameEmbedding}), unique (tenantId, key), its name embedding
 * in the tenant's vector index; (:EntityAlias:Tenant_<t> {tenantId, key})-[:ALIAS_OF]->(Entity)
 * for a name the vector stage merged (so the next sight of it resolves at the exact stage);
 * (:Chunk)-[:MENTIONS]->(:Entity); (:Entity)-[:RELATES {type, fact, chunkId, validFrom, validTo,
 * tenantId}]->(:Entity), one per statement (source, type, target, chunk), so a replay MERGEs onto
 * it. A functional type (works_at, ...) holds one target at a time: a statement of a new target
 * sets validTo on the earlier ones, never deletes them, whatever order statements arrive in.
 *
 * A group resolves and writes in one transaction that first locks its tenants' lock nodes (in
 * tenant order), so concurrent groups of one tenant resolve one after the other and each sees
 * the entities the previous one created.
 */
import neo4j, { type Driver, type ManagedTransaction } from 'neo4j-driver';
import type { WriteSlots } from '../../adapters/neo4j-write-slots.ts';
import {
  entityNameVectorIndexStatement,
  GRAPH_SCHEMA_STATEMENTS,
  graphNames,
} from '../../contract/stores.ts';
import type { BatchMentions, Candidate, NameToResolve } from './resolution.ts';

// Serialises resolution per tenant across every resolve process: two groups creating the same new
// name (or near spellings of it) at once would each miss the other's uncommitted entity.
const LOCK_TENANTS = `
UNWIND $rows AS row
MERGE (l:EntityResolutionLock {tenantId: row.tenantId})
SET l:$(row.tenantLabel), l.lockedAt = timestamp()
`;

const LOOKUP_KEYS = `
UNWIND $rows AS row
OPTIONAL MATCH (e:Entity {tenantId: row.tenantId, key: row.key})
OPTIONAL MATCH (:EntityAlias {tenantId: row.tenantId, key: row.key})-[:ALIAS_OF]->(a:Entity)
WITH row, coalesce(e, a) AS hit
WHERE hit IS NOT NULL
RETURN row.tenantId AS tenantId, row.key AS key, hit.key AS entityKey
`;

const NEAREST_ENTITIES = `
UNWIND $rows AS row
CALL db.index.vector.queryNodes(row.index, $k, row.vector) YIELD node, score
WITH row, node, score
WHERE node.tenantId = row.tenantId AND coalesce(node.archived, false) = false
RETURN row.tenantId AS tenantId, row.key AS key, node.key AS candidateKey, node.name AS name, node.type AS type, score
`;

const MERGE_ENTITIES = `
UNWIND $rows AS row
MERGE (e:Entity {tenantId: row.tenantId, key: row.key})
  ON CREATE SET e.name = row.name, e.type = row.type, e.description = row.description,
                e.importance = 0.0, e.mentionCount = 0, e.firstSeen = row.lastSeen, e.createdAt = timestamp()
SET e:$([row.tenantLabel, row.entityLabel]),
    e.lastSeen = CASE WHEN coalesce(e.lastSeen, 0) < row.lastSeen THEN row.lastSeen ELSE e.lastSeen END,
    e.type = CASE WHEN e.type = 'entity' THEN row.type ELSE e.type END,
    e.description = coalesce(e.description, row.description)
WITH e, row WHERE row.vector IS NOT NULL AND e.nameEmbedding IS NULL
CALL db.create.setNodeVectorProperty(e, 'nameEmbedding', row.vector)
RETURN count(e) AS embedded
`;

const MERGE_ALIASES = `
UNWIND $rows AS row
MATCH (e:Entity {tenantId: row.tenantId, key: row.entityKey})
MERGE (a:EntityAlias {tenantId: row.tenantId, key: row.key})
  ON CREATE SET a.name = row.name, a.score = row.score, a.stage = row.stage
SET a:$(row.tenantLabel)
MERGE (a)-[:ALIAS_OF]->(e)
`;

// A chunk's node may not exist yet (embed and resolve run independently): MERGE it by its id,
// and refuse one that belongs to another tenant.
const MERGE_MENTIONS = `
UNWIND $rows AS row
MATCH (e:Entity {tenantId: row.tenantId, key: row.key})
MERGE (c:Chunk {chunkId: row.chunkId})
  ON CREATE SET c.tenantId = row.tenantId, c.documentId = row.documentId
WITH e, c, row WHERE c.tenantId = row.tenantId
SET c:$(row.tenantLabel)
MERGE (c)-[m:MENTIONS]->(e)
  ON CREATE SET m.seenAt = row.seenAt,
                e.importance = coalesce(e.importance, 0.0) + $importancePerMention,
                e.mentionCount = coalesce(e.mentionCount, 0) + 1
RETURN count(m) AS mentions
`;

const MERGE_RELATIONS = `
UNWIND $rows AS row
MATCH (s:Entity {tenantId: row.tenantId, key: row.sourceKey})
MATCH (t:Entity {tenantId: row.tenantId, key: row.targetKey})
MERGE (s)-[r:RELATES {type: row.type, chunkId: row.chunkId}]->(t)
  ON CREATE SET r.fact = row.fact, r.validFrom = row.validFrom, r.tenantId = row.tenantId,
                r.createdAt = timestamp()
RETURN count(r) AS relations
`;

// Recomputed from all statements of (source, type), so the result is the same in any arrival
// order and on replay: each statement is valid until the first later one naming another target.
const CLOSE_SUPERSEDED = `
UNWIND $rows AS row
MATCH (s:Entity {tenantId: row.tenantId, key: row.sourceKey})-[r:RELATES {type: row.type}]->(t:Entity)
WITH row, r, t ORDER BY r.validFrom, r.chunkId
WITH row, collect({rel: r, target: t.key, from: r.validFrom}) AS statements
UNWIND range(0, size(statements) - 1) AS i
WITH statements[i] AS cur,
     [j IN range(i + 1, size(statements) - 1) WHERE statements[j].target <> statements[i].target | statements[j].from] AS later
WITH cur.rel AS rel, CASE WHEN size(later) = 0 THEN null ELSE later[0] END AS until
SET rel.validTo = until
RETURN count(rel) AS statements
`;

export interface EntityGraphOptions {
  database: string;
  dimensions: number;
  transactionTimeoutMs: number;
  functionalRelations: readonly string[];
  importancePerMention: number;
}

export interface ResolvedWrite {
  batch: BatchMentions;
  /** Vectors of the names that become new entities. */
  vectors: Map<string, Float32Array>;
  aliases: { tenantId: string; key: string; name: string; entityKey: string; score: number; stage: string }[];
}

export interface WriteCounts {
  entities: number;
  mentions: number;
  relations: number;
}

/** What resolution reads and writes inside its transaction. */
export interface EntityReads {
  /** Stage 1: (tenantId, key) -> the entity key it names (itself, or the entity it is an alias of). */
  lookupKeys(names: readonly NameToResolve[]): Promise<Map<string, string>>;
  /** Stage 2: each name's nearest entities of its tenant (cosine), through the tenant's vector index. */
  nearest(
    items: readonly { name: NameToResolve; vector: Float32Array }[],
    k: number,
  ): Promise<Map<string, Candidate[]>>;
}

export class EntityGraph {
  readonly #driver: Driver;
  readonly #o: EntityGraphOptions;
  readonly #slots: WriteSlots;
  readonly #indexed = new Set<string>();

  constructor(driver: Driver, slots: WriteSlots, options: EntityGraphOptions) {
    this.#driver = driver;
    this.#slots = slots;
    this.#o = options;
  }

  /** Global constraints (idempotent; the embed role ensures the same list). */
  async ensureSchema(): Promise<void> {
    for (const statement of GRAPH_SCHEMA_STATEMENTS) await this.#schema(statement);
  }

  async #schema(statement: string): Promise<void> {
    try {
      await this.#driver.executeQuery(statement, {}, { database: this.#o.database });
    } catch (err) {
      // Two workers creating the same rule at once: the loser sees it already exists.
      if (!String((err as { code?: string }).code ?? '').includes('AlreadyExists')) throw err;
    }
  }

  /** The tenant's entity-name vector index, created and online before its first query here. */
  async ensureTenantIndex(tenantId: string): Promise<void> {
    if (this.#indexed.has(tenantId)) return;
    await this.#schema(entityNameVectorIndexStatement(tenantId, this.#o.dimensions));
    await this.#driver.executeQuery(
      'CALL db.awaitIndex($name, 60)',
      { name: graphNames.entityNameVectorIndex(tenantId) },
      { database: this.#o.database },
    );
    this.#indexed.add(tenantId);
  }

  /**
   * Runs `resolve` and commits the write it returns in one transaction holding the tenants' locks.
   * executeWrite re-runs the whole function on a transient failure (a deadlock included), which
   * is safe: resolution reads again and every write is a MERGE.
   */
  async resolveAndWrite(
    tenantIds: readonly string[],
    resolve: (reads: EntityReads) => Promise<ResolvedWrite>,
  ): Promise<WriteCounts> {
    const tenants = [...new Set(tenantIds)].sort();
    for (const tenantId of tenants) await this.ensureTenantIndex(tenantId);
    return this.#slots.run(async () => {
      const session = this.#driver.session({ database: this.#o.database, defaultAccessMode: 'WRITE' });
      try {
        return await session.executeWrite(
          async (tx) => {
            await tx.run(LOCK_TENANTS, {
              rows: tenants.map((tenantId) => ({ tenantId, tenantLabel: graphNames.tenantLabel(tenantId) })),
            });
            const write = await resolve({
              lookupKeys: (names) => lookupKeys(tx, names),
              nearest: (items, k) => nearest(tx, items, k),
            });
            return this.#write(tx, write);
          },
          { timeout: this.#o.transactionTimeoutMs },
        );
      } finally {
        await session.close();
      }
    });
  }

  async #write(tx: ManagedTransaction, { batch, vectors, aliases }: ResolvedWrite): Promise<WriteCounts> {
    const entityRows = batch.names.map((n) => {
      const vector = vectors.get(`${n.tenantId}\u0000${n.key}`);
      return {
        ...n,
        description: n.description ?? null,
        tenantLabel: graphNames.tenantLabel(n.tenantId),
        entityLabel: graphNames.entityLabel(n.tenantId),
        vector: vector ? Array.from(vector) : null,
      };
    });
    const functional = new Set(this.#o.functionalRelations);
    const pairs = new Map<string, { tenantId: string; sourceKey: string; type: string }>();
    for (const r of batch.relations)
      if (functional.has(r.type))
        pairs.set(`${r.tenantId}\u0000${r.sourceKey}\u0000${r.type}`, {
          tenantId: r.tenantId,
          sourceKey: r.sourceKey,
          type: r.type,
        });
    await tx.run(MERGE_ENTITIES, { rows: entityRows });
    if (aliases.length > 0)
      await tx.run(MERGE_ALIASES, {
        rows: aliases.map((a) => ({ ...a, tenantLabel: graphNames.tenantLabel(a.tenantId) })),
      });
    const m = await tx.run(MERGE_MENTIONS, {
      rows: batch.mentions.map((x) => ({ ...x, tenantLabel: graphNames.tenantLabel(x.tenantId) })),
      importancePerMention: this.#o.importancePerMention,
    });
    const r = await tx.run(MERGE_RELATIONS, { rows: batch.relations });
    if (pairs.size > 0) await tx.run(CLOSE_SUPERSEDED, { rows: [...pairs.values()] });
    return {
      entities: entityRows.length,
      mentions: Number(m.records[0]?.get('mentions') ?? 0),
      relations: Number(r.records[0]?.get('relations') ?? 0),
    };
  }
}

async function lookupKeys(
  tx: ManagedTransaction,
  names: readonly NameToResolve[],
): Promise<Map<string, string>> {
  if (names.length === 0) return new Map();
  const { records } = await tx.run(LOOKUP_KEYS, {
    rows: names.map((n) => ({ tenantId: n.tenantId, key: n.key })),
  });
  return new Map(
    records.map((r) => [`${r.get('tenantId')}\u0000${r.get('key')}`, r.get('entityKey') as string]),
  );
}

async function nearest(
  tx: ManagedTransaction,
  items: readonly { name: NameToResolve; vector: Float32Array }[],
  k: number,
): Promise<Map<string, Candidate[]>> {
  const out = new Map<string, Candidate[]>();
  if (items.length === 0) return out;
  const { records } = await tx.run(NEAREST_ENTITIES, {
    k: neo4j.int(k),
    rows: items.map(({ name, vector }) => ({
      tenantId: name.tenantId,
      key: name.key,
      index: graphNames.entityNameVectorIndex(name.tenantId),
      vector: Array.from(vector),
    })),
  });
  for (const r of records) {
    const id = `${r.get('tenantId')}\u0000${r.get('key')}`;
    const list = out.get(id) ?? [];
    // The index reports cosine as (1 + cos) / 2; thresholds are cosines.
    list.push({
      key: r.get('candidateKey'),
      name: r.get('name'),
      type: r.get('type'),
      score: 2 * (r.get('score') as number) - 1,
    });
    out.set(id, list);
  }
  return out;
}
