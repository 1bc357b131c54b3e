/**
 * The demo's second half: documents for tenant `acme` go through the runtime's gateway -> ingest
 * -> embed (started by hack/demo.sh against the demo cluster's topics), then a question is
 * answered by a vector search over the tenant's chunks in Neo4j.
 *
 *   node hack/demo-pipeline.ts <gateway-url> <api-key-file> <tenant> <model-dir>
 */
import { readFileSync } from 'node:fs';
import neo4j from 'neo4j-driver';
import { graphNames } from '../runtime/contract/stores.ts';
import { OnnxEmbedder } from '../runtime/model/embedder.ts';
import { requireDevEnv } from '../test/support/devenv.ts';

const [gateway, keyFile, tenant, modelDir] = process.argv.slice(2) as [string, string, string, string];
const env = requireDevEnv();
const apiKey = readFileSync(keyFile, 'utf8').trim();

const documents = [
  {
    id: 'kafka-notes',
    content:
      'Kafka keeps an ordered log per partition. Consumers in one group split the partitions between them. ' +
      'Lag is the distance between the log end and the committed offset.',
  },
  {
    id: 'neo4j-notes',
    content:
      'Neo4j stores a property graph. Version 5 has vector indexes, so nearest-neighbour search runs next to the graph. ' +
      'Writes batched with UNWIND and MERGE are idempotent on constrained keys.',
  },
  {
    id: 'redis-notes',
    content:
      'Redis keeps hot keys in memory with an eviction policy such as allkeys-lru. ' +
      'ACL users can be limited to a key prefix, which isolates tenants.',
  },
];

const res = await fetch(`${gateway}/v1/tenants/${tenant}/documents/batch`, {
  method: 'POST',
  headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
  body: JSON.stringify({ documents }),
});
console.log(`POST /v1/tenants/${tenant}/documents/batch -> ${res.status}`);
if (res.status >= 300) throw new Error(await res.text());

const driver = neo4j.driver(env.NEO4J_URI, neo4j.auth.basic(env.NEO4J_USER, env.NEO4J_PASSWORD));
const deadline = Date.now() + 120_000;
for (;;) {
  const { records } = await driver.executeQuery(
    `MATCH (d:Document:${graphNames.tenantLabel(tenant)})-[:HAS_CHUNK]->(c) WHERE d.documentId IN $ids
     RETURN count(DISTINCT d) AS docs, count(c) AS chunks`,
    { ids: documents.map((d) => d.id) },
  );
  const docs = Number(records[0]?.get('docs') ?? 0);
  if (docs === documents.length) {
    console.log(`${docs} documents stored as ${records[0]?.get('chunks')} chunk nodes with vectors in Neo4j`);
    break;
  }
  if (Date.now() > deadline)
    throw new Error('documents did not reach Neo4j within 2 minutes: see .devenv/logs/runtime-*.log');
  await new Promise((r) => setTimeout(r, 500));
}

const question = 'How do I keep tenants apart in the cache?';
const embedder = await OnnxEmbedder.create({ modelDir, intraOpNumThreads: 1 });
const [vector] = await embedder.embed([question]);
const { records } = await driver.executeQuery(
  `CALL db.index.vector.queryNodes($index, 2, $vector) YIELD node, score
   RETURN node.text AS text, score`,
  { index: graphNames.chunkVectorIndex(tenant), vector: Array.from(vector!) },
);
console.log(`\nQ: ${question}`);
for (const r of records) console.log(`  ${(r.get('score') as number).toFixed(3)}  ${r.get('text')}`);
await embedder.close();
await driver.close();
