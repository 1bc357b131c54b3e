/**
 * The tenant's side of Neo4j, at the edge: its schema (indexes, or a database on Enterprise), its
 * usage counts, and the purge of its graph (batched DETACH DELETE by tenant label). Runs on the
 * cluster's shared Neo4j session (its own user); the index names come from one observation per window
 * shared by all tenants, so an idle resync runs no schema statement at all.
 */
import neo4j from 'neo4j-driver';
import { graphNames, tenantDatabase } from '../../runtime/contract/stores.ts';
import { UserError } from '../controller/errors.ts';
import type { Neo4jSession } from '../stores/sessions.ts';
import { tenantDatabaseStatement, tenantGraphSchema, tenantIndexNames } from './desired/neo4j.ts';

const DELETE_BATCH = 5_000;

export type Isolation = 'Label' | 'Database';

export interface TenantUsage {
  documents: number;
  nodes: number;
  relationships: number;
}

const toNumber = (v: unknown): number => (neo4j.isInt(v) ? (v as neo4j.Integer).toNumber() : Number(v));

/** The database holding the tenant's graph. */
export const tenantGraphDatabase = (session: Neo4jSession, isolation: Isolation, tenantId: string): string =>
  isolation === 'Database' ? tenantDatabase(tenantId) : session.database;

/**
 * Creates what is missing of the tenant's schema; returns the names created (empty: no write).
 * The existing index names may be up to `observedWithinMs` old (an index dropped meanwhile comes
 * back at the next observation).
 */
export async function ensureTenantGraph(
  session: Neo4jSession,
  isolation: Isolation,
  tenantId: string,
  dimensions: number,
  observedWithinMs: number,
): Promise<string[]> {
  const created: string[] = [];
  const database = tenantGraphDatabase(session, isolation, tenantId);
  if (isolation === 'Database') {
    await session.run('ensure-database', async (driver) => {
      const { records } = await driver.executeQuery(
        'CALL dbms.components() YIELD edition RETURN edition',
        {},
      );
      if (records[0]?.get('edition') !== 'enterprise')
        throw new UserError(
          'EnterpriseRequired',
          `spec.neo4j.tenantIsolation of the cluster is Database, but Neo4j at ${session.uri} is ${records[0]?.get('edition') ?? 'not'} Enterprise: a database per tenant needs Enterprise (or Aura)`,
        );
      const db = tenantDatabaseStatement(tenantId);
      const existing = await driver.executeQuery(
        'SHOW DATABASES YIELD name WHERE name = $name RETURN name',
        { name: db.name },
        { database: 'system' },
      );
      if (!existing.records.length) {
        await driver.executeQuery(`${db.statement} WAIT 30 SECONDS`, {}, { database: 'system' });
        created.push(db.name);
      }
    });
  }
  const have = await session.indexNames(database, observedWithinMs);
  const missing = tenantGraphSchema(tenantId, dimensions).filter((item) => !have.has(item.name));
  if (!missing.length) return created;
  await session.run('create-index', async (driver) => {
    for (const item of missing) await driver.executeQuery(item.statement, {}, { database });
  });
  await session.noteIndexes(
    database,
    missing.map((i) => i.name),
  );
  return [...created, ...missing.map((i) => i.name)];
}

export function tenantUsage(
  session: Neo4jSession,
  isolation: Isolation,
  tenantId: string,
): Promise<TenantUsage> {
  return session.run('count-usage', async (driver) => {
    const label = graphNames.tenantLabel(tenantId);
    const database = tenantGraphDatabase(session, isolation, tenantId);
    const { records } = await driver.executeQuery(
      `CALL { MATCH (n:${label}) RETURN count(n) AS nodes }
       CALL { MATCH (d:${label}:Document) RETURN count(d) AS documents }
       CALL { MATCH (:${label})-[r]->() RETURN count(r) AS relationships }
       RETURN nodes, documents, relationships`,
      {},
      { database, routing: neo4j.routing.READ },
    );
    const r = records[0]!;
    return {
      nodes: toNumber(r.get('nodes')),
      documents: toNumber(r.get('documents')),
      relationships: toNumber(r.get('relationships')),
    };
  });
}

/** Removes the tenant's graph (or its database) and indexes; returns the nodes deleted. */
export async function purgeTenantGraph(
  session: Neo4jSession,
  isolation: Isolation,
  tenantId: string,
): Promise<number> {
  const deleted = await session.run('purge', async (driver) => {
    if (isolation === 'Database') {
      await driver.executeQuery(
        `DROP DATABASE \`${tenantDatabase(tenantId)}\` IF EXISTS`,
        {},
        { database: 'system' },
      );
      return 0;
    }
    const database = session.database;
    const label = graphNames.tenantLabel(tenantId);
    let deleted = 0;
    for (;;) {
      // Batches keep each transaction small on a large tenant.
      const { records } = await driver.executeQuery(
        `MATCH (n:${label}) WITH n LIMIT $batch DETACH DELETE n RETURN count(*) AS c`,
        { batch: neo4j.int(DELETE_BATCH) },
        { database },
      );
      const c = toNumber(records[0]?.get('c') ?? 0);
      deleted += c;
      if (c < DELETE_BATCH) break;
    }
    for (const name of tenantIndexNames(tenantId))
      await driver.executeQuery(`DROP INDEX ${name} IF EXISTS`, {}, { database });
    return deleted;
  });
  if (isolation === 'Label') await session.noteIndexes(session.database, [], tenantIndexNames(tenantId));
  return deleted;
}
