/**
 * The tenant's side of Neo4j, at the edge: its schema (indexes, or a database on Enterprise), its
 * usage counts, and the purge of its graph (batched DETACH DELETE by tenant label). Connects as the
 * cluster's Neo4j user through the shared store access.
 */
import neo4j, { type Driver } from 'neo4j-driver';
import { graphNames, tenantDatabase } from '../../runtime/contract/stores.ts';
import { UserError } from '../controller/errors.ts';
import type { StoreAccess } from '../stores/access.ts';
import { neo4jDriver } from '../stores/connectivity.ts';
import { tenantDatabaseStatement, tenantGraphSchema, tenantIndexNames } from './desired/neo4j.ts';

const DELETE_BATCH = 5_000;

export type Isolation = 'Label' | 'Database';

export interface TenantUsage {
  documents: number;
  nodes: number;
  relationships: number;
}

const toNumber = (v: unknown): number => (neo4j.isInt(v) ? (v as neo4j.Integer).toNumber() : Number(v));

async function withNeo4j<T>(access: StoreAccess, fn: (driver: Driver) => Promise<T>): Promise<T> {
  if (!access.creds) throw new Error('Neo4j needs credentials');
  const driver = neo4jDriver(access.uri, access.creds);
  try {
    return await fn(driver);
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new Error(`Neo4j at ${access.uri}: ${(err as Error).message}`);
  } finally {
    await driver.close().catch(() => undefined);
  }
}

/** The database holding the tenant's graph. */
export const tenantGraphDatabase = (access: StoreAccess, isolation: Isolation, tenantId: string): string =>
  isolation === 'Database' ? tenantDatabase(tenantId) : String(access.database);

/** Creates what is missing of the tenant's schema; returns the names created (empty: no write). */
export function ensureTenantGraph(
  access: StoreAccess,
  isolation: Isolation,
  tenantId: string,
  dimensions: number,
): Promise<string[]> {
  return withNeo4j(access, async (driver) => {
    const created: string[] = [];
    const database = tenantGraphDatabase(access, isolation, tenantId);
    if (isolation === 'Database') {
      const { records } = await driver.executeQuery(
        'CALL dbms.components() YIELD edition RETURN edition',
        {},
      );
      if (records[0]?.get('edition') !== 'enterprise')
        throw new UserError(
          'EnterpriseRequired',
          `spec.neo4j.tenantIsolation of the cluster is Database, but Neo4j at ${access.uri} is ${records[0]?.get('edition') ?? 'not'} Enterprise: a database per tenant needs Enterprise (or Aura)`,
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
    }
    const schema = tenantGraphSchema(tenantId, dimensions);
    const { records } = await driver.executeQuery(
      'SHOW INDEXES YIELD name WHERE name IN $names RETURN name',
      { names: schema.map((s) => s.name) },
      { database },
    );
    const have = new Set(records.map((r) => r.get('name') as string));
    for (const item of schema) {
      if (have.has(item.name)) continue;
      await driver.executeQuery(item.statement, {}, { database });
      created.push(item.name);
    }
    return created;
  });
}

export function tenantUsage(
  access: StoreAccess,
  isolation: Isolation,
  tenantId: string,
): Promise<TenantUsage> {
  return withNeo4j(access, async (driver) => {
    const label = graphNames.tenantLabel(tenantId);
    const database = tenantGraphDatabase(access, isolation, tenantId);
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
export function purgeTenantGraph(
  access: StoreAccess,
  isolation: Isolation,
  tenantId: string,
): Promise<number> {
  return withNeo4j(access, async (driver) => {
    if (isolation === 'Database') {
      await driver.executeQuery(
        `DROP DATABASE \`${tenantDatabase(tenantId)}\` IF EXISTS`,
        {},
        { database: 'system' },
      );
      return 0;
    }
    const database = String(access.database);
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
}
