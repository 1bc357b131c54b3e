/** Neo4j and Redis access for runtime tests: counting a tenant's chunks and removing test data. */
import { Redis } from 'ioredis';
import neo4j, { type Driver } from 'neo4j-driver';
import { graphNames, tenantRedisPrefix } from '../../runtime/contract/stores.ts';
import type { DevEnv } from '../support/devenv.ts';

export function testDriver(dev: DevEnv): Driver {
  return neo4j.driver(dev.NEO4J_URI, neo4j.auth.basic(dev.NEO4J_USER, dev.NEO4J_PASSWORD), {
    disableLosslessIntegers: true,
  });
}

/** chunkId -> number of Chunk nodes carrying it, for the given tenants. */
export async function chunkIdCounts(driver: Driver, tenants: string[]): Promise<Map<string, number>> {
  const { records } = await driver.executeQuery(
    'MATCH (c:Chunk) WHERE c.tenantId IN $tenants RETURN c.chunkId AS id, count(*) AS n',
    { tenants },
  );
  return new Map(records.map((r) => [r.get('id') as string, r.get('n') as number]));
}

export async function countChunks(driver: Driver, tenants: string[]): Promise<number> {
  const { records } = await driver.executeQuery(
    'MATCH (c:Chunk) WHERE c.tenantId IN $tenants RETURN count(c) AS n',
    {
      tenants,
    },
  );
  return records[0]!.get('n') as number;
}

/** Chunks of the tenants that carry their embedding (resolve may create a chunk's node before embed). */
export async function countEmbeddedChunks(driver: Driver, tenants: string[]): Promise<number> {
  let n = 0;
  for (const tenant of tenants) {
    const { records } = await driver.executeQuery(
      `MATCH (c:$($label)) WHERE c.embedding IS NOT NULL RETURN count(c) AS n`,
      { label: graphNames.chunkLabel(tenant) },
    );
    n += Number(records[0]!.get('n'));
  }
  return n;
}

/** Deletes the tenants' nodes and vector indexes, and their Redis keys. */
export async function purgeTenants(
  dev: DevEnv,
  driver: Driver,
  cluster: string,
  tenants: string[],
): Promise<void> {
  const session = driver.session();
  try {
    for (const t of tenants) {
      // CALL ... IN TRANSACTIONS needs an auto-commit transaction: session.run, not executeQuery.
      await session.run(
        `MATCH (n:${graphNames.tenantLabel(t)}) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 1000 ROWS`,
      );
      await session.run(`DROP INDEX ${graphNames.chunkVectorIndex(t)} IF EXISTS`);
      await session.run(`DROP INDEX ${graphNames.entityNameVectorIndex(t)} IF EXISTS`);
    }
  } finally {
    await session.close();
  }
  const redis = new Redis(dev.REDIS_URL);
  try {
    for (const t of tenants) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(
          cursor,
          'MATCH',
          `${tenantRedisPrefix(cluster, t)}*`,
          'COUNT',
          1000,
        );
        if (keys.length) await redis.del(...keys);
        cursor = next;
      } while (cursor !== '0');
    }
  } finally {
    redis.disconnect();
  }
}
