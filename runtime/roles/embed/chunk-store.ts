/**
 * Chunk nodes with their vectors in Neo4j. One write transaction per group: batched UNWIND,
 * MERGE on constrained keys only (Chunk.chunkId, Document.documentKey), so a redelivered chunk
 * updates its node instead of adding one. A write carrying an older document version than the
 * node's is ignored, and chunks a newer version no longer has are removed.
 *
 * Layout: (:Document {documentKey, tenantId, documentId})-[:HAS_CHUNK]->(:Chunk {chunkId, ...,
 * embedding}); every node carries the tenant's label, chunks also the tenant's chunk label that
 * the tenant's vector index covers (runtime/contract/stores.ts).
 */
import type { Driver } from 'neo4j-driver';
import { chunkVectorIndexStatement, GRAPH_SCHEMA_STATEMENTS, graphNames } from '../../contract/stores.ts';
import type { ChunkMessage } from '../../pipeline/messages.ts';
import { documentKey } from '../../pipeline/messages.ts';

const WRITE_CHUNKS = `
UNWIND $rows AS row
MERGE (d:Document {documentKey: row.documentKey})
  ON CREATE SET d.tenantId = row.tenantId, d.documentId = row.documentId
SET d:$(row.tenantLabel)
WITH d, row
MERGE (c:Chunk {chunkId: row.chunkId})
WITH d, c, row
WHERE c.documentVersion IS NULL OR c.documentVersion <= row.documentVersion
SET c.tenantId = row.tenantId,
    c.documentId = row.documentId,
    c.index = row.index,
    c.text = row.text,
    c.tokens = row.tokens,
    c.start = row.start,
    c.end = row.end,
    c.documentVersion = row.documentVersion,
    c.documentHash = row.documentHash,
    c.model = $model,
    c.updatedAt = timestamp()
SET c:$([row.tenantLabel, row.chunkLabel])
MERGE (d)-[:HAS_CHUNK]->(c)
WITH c, row
CALL db.create.setNodeVectorProperty(c, 'embedding', row.embedding)
RETURN count(c) AS written
`;

const DROP_STALE_CHUNKS = `
UNWIND $docs AS doc
MATCH (:Document {documentKey: doc.documentKey})-[:HAS_CHUNK]->(c:Chunk)
WHERE c.index >= doc.count AND c.documentVersion < doc.documentVersion
DETACH DELETE c
RETURN count(*) AS dropped
`;

export interface ChunkWithVector {
  chunk: ChunkMessage;
  vector: Float32Array;
}

export class ChunkStore {
  readonly #driver: Driver;
  readonly #database: string;
  readonly #dimensions: number;
  readonly #model: string;
  readonly #indexed = new Set<string>();
  #slots: number;
  readonly #waiting: (() => void)[] = [];

  constructor(
    driver: Driver,
    options: { database: string; dimensions: number; model: string; maxConcurrentWrites: number },
  ) {
    this.#driver = driver;
    this.#database = options.database;
    this.#dimensions = options.dimensions;
    this.#model = options.model;
    this.#slots = options.maxConcurrentWrites;
  }

  /** Global constraints (idempotent; safe when several workers start at once). */
  async ensureSchema(): Promise<void> {
    for (const statement of GRAPH_SCHEMA_STATEMENTS) await this.#schema(statement);
  }

  /** The tenant's vector index, created on first sight of the tenant in this process. */
  async ensureTenantIndex(tenantId: string): Promise<void> {
    if (this.#indexed.has(tenantId)) return;
    await this.#schema(chunkVectorIndexStatement(tenantId, this.#dimensions));
    this.#indexed.add(tenantId);
  }

  async #schema(statement: string): Promise<void> {
    try {
      await this.#driver.executeQuery(statement, {}, { database: this.#database });
    } catch (err) {
      // Two workers creating the same rule at once: the loser sees it already exists.
      if (!String((err as { code?: string }).code ?? '').includes('AlreadyExists')) throw err;
    }
  }

  /** Writes the chunks in one transaction; resolves once it is committed. Returns nodes written. */
  async write(items: ChunkWithVector[]): Promise<number> {
    if (items.length === 0) return 0;
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
      documentVersion: chunk.documentVersion,
      documentHash: chunk.documentHash,
      embedding: Array.from(vector),
    }));
    const docs = new Map<string, { documentKey: string; count: number; documentVersion: number }>();
    for (const { chunk } of items) {
      const key = documentKey(chunk.tenantId, chunk.documentId);
      const prev = docs.get(key);
      if (!prev || prev.documentVersion < chunk.documentVersion)
        docs.set(key, { documentKey: key, count: chunk.count, documentVersion: chunk.documentVersion });
    }
    await this.#acquire();
    try {
      const session = this.#driver.session({ database: this.#database, defaultAccessMode: 'WRITE' });
      try {
        return await session.executeWrite(async (tx) => {
          const written = await tx.run(WRITE_CHUNKS, { rows, model: this.#model });
          await tx.run(DROP_STALE_CHUNKS, { docs: [...docs.values()] });
          return Number(written.records[0]?.get('written') ?? 0);
        });
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
