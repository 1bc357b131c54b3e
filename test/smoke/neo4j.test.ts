// Neo4j is real: Bolt, auth, and a vector index answering nearest-neighbour queries.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import neo4j from 'neo4j-driver';
import { requireDevEnv } from '../support/devenv.ts';
import { uniqueName } from '../support/wait.ts';

describe('neo4j', () => {
  const env = requireDevEnv();
  const driver = neo4j.driver(env.NEO4J_URI, neo4j.auth.basic(env.NEO4J_USER, env.NEO4J_PASSWORD));
  const label = uniqueName('Smoke').replaceAll('-', '_');
  const index = `${label}_vec`;

  after(async () => {
    await driver.executeQuery(`DROP INDEX ${index} IF EXISTS`).catch(() => undefined);
    await driver.executeQuery(`MATCH (n:${label}) DETACH DELETE n`).catch(() => undefined);
    await driver.close();
  });

  it('rejects a wrong password', async () => {
    const bad = neo4j.driver(env.NEO4J_URI, neo4j.auth.basic(env.NEO4J_USER, 'not-the-password'));
    await assert.rejects(bad.verifyConnectivity(), /authentication failure|Unauthorized/i);
    await bad.close();
  });

  it('creates a vector index and queries it', async () => {
    await driver.executeQuery(
      `CREATE VECTOR INDEX ${index} IF NOT EXISTS FOR (n:${label}) ON n.embedding
       OPTIONS {indexConfig: {\`vector.dimensions\`: 4, \`vector.similarity_function\`: 'cosine'}}`,
    );
    await driver.executeQuery(
      `UNWIND $rows AS row CREATE (n:${label} {id: row.id, embedding: row.embedding})`,
      {
        rows: [
          { id: 'a', embedding: [1, 0, 0, 0] },
          { id: 'b', embedding: [0, 1, 0, 0] },
          { id: 'c', embedding: [0.7, 0.7, 0, 0] },
        ],
      },
    );
    await driver.executeQuery('CALL db.awaitIndexes(60)');
    const { records } = await driver.executeQuery(
      `CALL db.index.vector.queryNodes($index, 2, $q) YIELD node, score RETURN node.id AS id, score`,
      { index, q: [0.9, 0.1, 0, 0] },
    );
    assert.deepEqual(
      records.map((r) => r.get('id')),
      ['a', 'c'],
    );
    assert.ok((records[0]?.get('score') as number) > 0.99);
  });
});
