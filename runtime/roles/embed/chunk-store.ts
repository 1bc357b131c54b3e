/**
 * Chunk nodes with their vectors in Neo4j, one write transaction per group (batched UNWIND, with
 * ENGRAM_NEO4J_TX_TIMEOUT_MS as its deadline).
 *
 * The Document node holds the current version (the raw message's log position: versionPartition,
 * versionOffset, versionTimestamp) and its chunk count. A group first locks its documents (in key
 * order, so two writers cannot deadlock) and moves each to the newest version it carries,
 * deleting every chunk of an older version; then it writes only the chunks of each document's
 * current version. A chunk of an older version is refused, never recreated: chunks arrive in any
 * order (concurrent groups, partitions, cache hits that skip inference), and the Document's chunks
 * are always all of one version, the newest seen, and exactly its chunks once they all landed.
 *
 * Layout: (:Document {documentKey, tenantId, documentId, version*, chunkCount, metadata})
 * -[:HAS_CHUNK]->(:Chunk {chunkId, ..., embedding}); every node carries the tenant's label,
 * chunks also the tenant's chunk label that the tenant's vector index covers
 * (runtime/contract/stores.ts). `metadata` is the document's metadata as a JSON string.
 */
import type { Driver } from 'neo4j-driver';
import { chunkVectorIndexStatement, GRAPH_SCHEMA_STATEMENTS, graphNames } from '../../contract/stores.ts';
import type { ChunkMessage, DocumentVersion } from '../../pipeline/messages.ts';
import { compareVersions, documentKey } from '../../pipeline/messages.ts';

/** Cypher twin of compareVersions(doc, d) > 0 (runtime/pipeline/messages.ts). */
const NEWER_THAN_STORED = `(d.versionPartition IS NULL
  OR (doc.partition = d.versionPartition AND doc.offset > d.versionOffset)
  OR (doc.partition <> d.versionPartition AND (doc.timestamp > d.versionTimestamp
      OR (doc.timestamp = d.versionTimestamp AND doc.partition > d.versionPartition))))`;

/** Locks each document, then moves it to the group's newest version, dropping older chunks. */
const ADVANCE_DOCUMENTS = `
UNWIND $docs AS doc
MERGE (d:Document {documentKey: doc.documentKey})
  ON CREATE SET d.tenantId = doc.tenantId, d.documentId = doc.documentId
SET d:$(doc.tenantLabel), d.writeLock = true
REMOVE d.writeLock
WITH d, doc, ${NEWER_THAN_STORED} AS newer
CALL (d, doc, newer) {
  WITH d, doc, newer WHERE newer
  SET d.versionPartition = doc.partition,
      d.versionOffset = doc.offset,
      d.versionTimestamp = doc.timestamp,
      d.chunkCount = doc.count,
      d.documentHash = doc.documentHash,
      d.updatedAt = timestamp()
  REMOVE d.metadata
  WITH d
  OPTIONAL MATCH (d)-[:HAS_CHUNK]->(old:Chunk)
  DETACH DELETE old
  RETURN count(old) AS dropped
}
RETURN sum(dropped) AS dropped
`;

/** Writes the chunks of each document's current version; other versions match nothing. */
const WRITE_CHUNKS = `
UNWIND $rows AS row
MATCH (d:Document {documentKey: row.documentKey})
WHERE d.versionPartition = row.partition AND d.versionOffset = row.offset
MERGE (c:Chunk {chunkId: row.chunkId})
SET c.tenantId = row.tenantId,
    c.documentId = row.documentId,
    c.index = row.index,
    c.text = row.text,
    c.tokens = row.tokens,
    c.start = row.start,
    c.end = row.end,
    c.versionPartition = row.partition,
    c.versionOffset = row.offset,
    c.versionTimestamp = row.timestamp,
    c.documentHash = row.documentHash,
    c.model = $model,
    c.updatedAt = timestamp()
SET c:$([row.tenantLabel, row.chunkLabel])
MERGE (d)-[:HAS_CHUNK]->(c)
FOREACH (_ IN CASE WHEN row.index = 0 THEN [1] ELSE [] END | SET d.metadata = row.metadata)
WITH c, row
CALL db.create.setNodeVectorProperty(c, 'embedding', row.embedding)
RETURN count(c) AS written
`;

export interface ChunkWithVector {
  chunk: ChunkMessage;
  vector: Float32Array;
}

export interface WriteResult {
  /** Chunk nodes written (created or updated). */
  written: number;
  /** Chunks refused because their document holds a newer version. */
  stale: number;
}

export interface ChunkStoreOptions {
  database: string;
  dimensions: number;
  model: string;
  maxConcurrentWrites: number;
  /** Deadline of one write transaction (the server aborts it past this). */
  transactionTimeoutMs: number;
}

export class ChunkStore {
  readonly #driver: Driver;
  readonly #o: ChunkStoreOptions;
  readonly #indexed = new Set<string>();
  #slots: number;
  readonly #waiting: (() => void)[] = [];

  constructor(driver: Driver, options: ChunkStoreOptions) {
    this.#driver = driver;
    this.#o = options;
    this.#slots = options.maxConcurrentWrites;
  }

  /** Global constraints (idempotent; safe when several workers start at once). */
  async ensureSchema(): Promise<void> {
    for (const statement of GRAPH_SCHEMA_STATEMENTS) await this.#schema(statement);
  }

  /** The tenant's vector index, created on first sight of the tenant in this process. */
  async ensureTenantIndex(tenantId: string): Promise<void> {
    if (this.#indexed.has(tenantId)) return;
    await this.#schema(chunkVectorIndexStatement(tenantId, this.#o.dimensions));
    this.#indexed.add(tenantId);
  }

  async #schema(statement: string): Promise<void> {
    try {
      await this.#driver.executeQuery(statement, {}, { database: this.#o.database });
    } catch (err) {
      // Two workers creating the same rule at once: the loser sees it already exists.
      if (!String((err as { code?: string }).code ?? '').includes('AlreadyExists')) throw err;
    }
  }

  /** Writes the chunks in one transaction; resolves once it is committed. */
  async write(items: ChunkWithVector[]): Promise<WriteResult> {
    if (items.length === 0) return { written: 0, stale: 0 };
    for (const tenantId of new Set(items.map((i) => i.chunk.tenantId)))
      await this.ensureTenantIndex(tenantId);
    const rows = items.map(({ chunk, vector }) => ({
      documentKey: documentKey(chunk.tenantId, chunk.documentId),
      tenantId: chunk.tenantId,
      documentId: chunk.documentId,
      tenantLabel: graphNames.tenantLabel(chunk.tenantId),
      chunkLabel: graphNames.chunkLabel(chunk.tenantId),
      chunkId: chunk.chunkId,
      index: chunk.index,
      text: chunk.text,
      tokens: chunk.tokens,
      start: chunk.start,
      end: chunk.end,
      ...chunk.documentVersion,
      documentHash: chunk.documentHash,
      metadata: chunk.metadata ? JSON.stringify(chunk.metadata) : null,
      embedding: Array.from(vector),
    }));
    const docs = newestVersions(items.map((i) => i.chunk));
    await this.#acquire();
    try {
      const session = this.#driver.session({ database: this.#o.database, defaultAccessMode: 'WRITE' });
      try {
        const written = await session.executeWrite(
          async (tx) => {
            await tx.run(ADVANCE_DOCUMENTS, { docs });
            const result = await tx.run(WRITE_CHUNKS, { rows, model: this.#o.model });
            return Number(result.records[0]?.get('written') ?? 0);
          },
          { timeout: this.#o.transactionTimeoutMs },
        );
        return { written, stale: rows.length - written };
      } finally {
        await session.close();
      }
    } finally {
      this.#release();
    }
  }

  async #acquire(): Promise<void> {
    if (this.#slots > 0) {
      this.#slots--;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#slots++;
  }
}

/** Per document of the group: the newest version it carries, sorted by key (the lock order). */
export function newestVersions(chunks: ChunkMessage[]): (DocumentVersion & {
  documentKey: string;
  tenantId: string;
  documentId: string;
  tenantLabel: string;
  count: number;
  documentHash: string;
})[] {
  const newest = new Map<string, ChunkMessage>();
  for (const c of chunks) {
    const key = documentKey(c.tenantId, c.documentId);
    const prev = newest.get(key);
    if (!prev || compareVersions(c.documentVersion, prev.documentVersion) > 0) newest.set(key, c);
  }
  return [...newest.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, c]) => ({
      documentKey: key,
      tenantId: c.tenantId,
      documentId: c.documentId,
      tenantLabel: graphNames.tenantLabel(c.tenantId),
      count: c.count,
      documentHash: c.documentHash,
      ...c.documentVersion,
    }));
}
