// The evolve role as a child process on real Kafka, Neo4j and Redis, over a tenant whose memories
// are back-dated (written here in the layout of the embed and resolve roles, with the real int8
// model's vectors): one graph.evolve request archives what decayed, keeps the rest searchable
// through the query engine, merges a near-duplicate entity pair (and leaves a merely similar one),
// a second request at the same time sets no property; another tenant is untouched.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { Driver } from 'neo4j-driver';
import { QUERY_VARS } from '../../runtime/contract/config/query.ts';
import { readVariables } from '../../runtime/contract/config/variables.ts';
import {
  chunkVectorIndexStatement,
  entityNameVectorIndexStatement,
  GRAPH_SCHEMA_STATEMENTS,
  graphNames,
} from '../../runtime/contract/stores.ts';
import { OnnxEmbedder } from '../../runtime/model/embedder.ts';
import { requireModelDir } from '../../runtime/model/model-location.ts';
import { createLogger } from '../../runtime/observability/log.ts';
import { evolveRequestMessage } from '../../runtime/roles/evolve/evolve-request.ts';
import { TenantMemoryGraph } from '../../runtime/roles/evolve/tenant-memory-graph.ts';
import { QueryEngine } from '../../runtime/roles/query/query-engine.ts';
import { QuestionEmbedder } from '../../runtime/roles/query/question-embedder.ts';
import { requireDevEnv } from '../support/devenv.ts';
import { eventually, uniqueName } from '../support/wait.ts';
import { purgeTenants, testDriver } from './graph-fixtures.ts';
import { createPipelineTopics, type PipelineTopics } from './kafka-fixtures.ts';
import { type RuntimeProcess, runtimeEnvFor, spawnRuntime } from './runtime-process.ts';

const dev = requireDevEnv();
const modelDir = requireModelDir();
const DAY = 86_400_000;
const NOW = Date.UTC(2026, 5, 1);

const CHUNKS = [
  { id: 'recent', text: 'Ada Lovelace wrote the first program at Acme Corporation.', ageDays: 2 },
  { id: 'hiring', text: 'Acme Corporation Ltd hired Grace Hopper as an engineer.', ageDays: 5 },
  { id: 'old', text: 'Globex once sold paper clips in Springfield.', ageDays: 400 },
];
// key, name, importance, first seen and last seen (days ago), chunks that mention it.
const ENTITIES = [
  { key: 'ada lovelace', name: 'Ada Lovelace', importance: 2, first: 30, last: 2, chunks: ['recent'] },
  {
    key: 'acme corporation',
    name: 'Acme Corporation',
    importance: 2,
    first: 300,
    last: 2,
    chunks: ['recent'],
  },
  {
    key: 'acme corporation ltd',
    name: 'Acme Corporation Ltd',
    importance: 1,
    first: 5,
    last: 5,
    chunks: ['hiring'],
  },
  { key: 'grace hopper', name: 'Grace Hopper', importance: 1, first: 5, last: 5, chunks: ['hiring'] },
  { key: 'globex', name: 'Globex', importance: 1, first: 400, last: 400, chunks: ['old'] },
  // Cosine 0.91 with the next one: similar, but below the merge threshold (0.95).
  { key: 'northwind traders', name: 'Northwind Traders', importance: 1, first: 20, last: 3, chunks: [] },
  {
    key: 'northwind traders inc',
    name: 'Northwind Traders Inc',
    importance: 1,
    first: 10,
    last: 3,
    chunks: [],
  },
];
const RELATIONS = [
  { source: 'ada lovelace', type: 'WORKS_AT', target: 'acme corporation', chunk: 'recent' },
  { source: 'grace hopper', type: 'WORKS_AT', target: 'acme corporation ltd', chunk: 'hiring' },
];

interface Summary {
  archived: number;
  restored: number;
  merged: number;
  propertiesSet: number;
  nodesDeleted: number;
  entities: number;
  chunks: number;
}

describe('evolve: decay, archival, consolidation (child process)', () => {
  const cluster = uniqueName('ev');
  const tenant = uniqueName('eva');
  const other = uniqueName('evb');
  const chunkIdOf = (t: string, id: string) => `${t}:${id}`;
  let t: PipelineTopics;
  let driver: Driver;
  let redis: Redis;
  let embedder: OnnxEmbedder;
  let dir: string;
  let proc: RuntimeProcess;

  async function seed(tenantId: string): Promise<void> {
    const labels = { tenant: graphNames.tenantLabel(tenantId), chunk: graphNames.chunkLabel(tenantId) };
    const chunkVectors = await embedder.embed(CHUNKS.map((c) => c.text));
    const nameVectors = await embedder.embed(ENTITIES.map((e) => e.name));
    await driver.executeQuery(chunkVectorIndexStatement(tenantId, embedder.dimensions));
    await driver.executeQuery(entityNameVectorIndexStatement(tenantId, embedder.dimensions));
    await driver.executeQuery(
      `UNWIND $rows AS row
       CREATE (c:Chunk:\`${labels.tenant}\`:\`${labels.chunk}\` {chunkId: row.chunkId, tenantId: $tenantId,
         documentId: row.id, text: row.text, versionTimestamp: row.at})
       WITH c, row CALL db.create.setNodeVectorProperty(c, 'embedding', row.vector)`,
      {
        tenantId,
        rows: CHUNKS.map((c, i) => ({
          chunkId: chunkIdOf(tenantId, c.id),
          id: c.id,
          text: c.text,
          at: NOW - c.ageDays * DAY,
          vector: Array.from(chunkVectors[i]!),
        })),
      },
    );
    await driver.executeQuery(
      `UNWIND $rows AS row
       CREATE (e:Entity:$($labels) {tenantId: $tenantId, key: row.key, name: row.name, type: 'entity',
         importance: row.importance, mentionCount: size(row.chunks), firstSeen: row.first, lastSeen: row.last})
       WITH e, row CALL db.create.setNodeVectorProperty(e, 'nameEmbedding', row.vector)
       WITH e, row UNWIND row.chunks AS chunk
       MATCH (c:Chunk {chunkId: chunk}) CREATE (c)-[:MENTIONS {seenAt: row.last}]->(e)`,
      {
        tenantId,
        labels: [labels.tenant, graphNames.entityLabel(tenantId)],
        rows: ENTITIES.map((e, i) => ({
          ...e,
          first: NOW - e.first * DAY,
          last: NOW - e.last * DAY,
          chunks: e.chunks.map((c) => chunkIdOf(tenantId, c)),
          vector: Array.from(nameVectors[i]!),
        })),
      },
    );
    await driver.executeQuery(
      `UNWIND $rows AS row
       MATCH (s:Entity {tenantId: $tenantId, key: row.source}), (o:Entity {tenantId: $tenantId, key: row.target})
       CREATE (s)-[:RELATES {type: row.type, chunkId: row.chunkId, fact: row.source + ' works at ' + row.target,
         validFrom: $validFrom, tenantId: $tenantId}]->(o)`,
      {
        tenantId,
        validFrom: NOW - 5 * DAY,
        rows: RELATIONS.map((r) => ({ ...r, chunkId: chunkIdOf(tenantId, r.chunk) })),
      },
    );
    for (const index of [graphNames.chunkVectorIndex(tenantId), graphNames.entityNameVectorIndex(tenantId)])
      await driver.executeQuery('CALL db.awaitIndex($index, 60)', { index });
  }

  /** Every property of the tenant's nodes and relationships, to compare before and after. */
  async function snapshot(tenantId: string): Promise<string> {
    const { records } = await driver.executeQuery(
      `MATCH (n:\`${graphNames.tenantLabel(tenantId)}\`)
       OPTIONAL MATCH (n)-[r]->(m)
       WITH n, r, m ORDER BY elementId(n), type(r), coalesce(m.key, m.chunkId, '')
       RETURN collect([labels(n), n {.*, embedding: null, nameEmbedding: null}, type(r), properties(r),
                       coalesce(m.key, m.chunkId)]) AS all`,
    );
    return JSON.stringify(records[0]!.get('all'));
  }

  let evolved = 0;
  async function evolve(tenantId: string, requestedAt: number): Promise<Summary> {
    const producer = await t.producer();
    await producer.send({
      topic: t.topic('graph.evolve'),
      messages: [evolveRequestMessage({ v: 1, tenantId, requestedAt })],
    });
    const n = ++evolved;
    const log = await eventually(
      `evolution #${n} (stderr: ${proc.stderr.join('').slice(-500)})`,
      async () => proc.logs.filter((l) => l['msg'] === 'tenant evolved')[n - 1],
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    assert.equal(log['tenantId'], tenantId);
    return log as unknown as Summary;
  }

  before(async () => {
    driver = testDriver(dev);
    redis = new Redis(dev.REDIS_URL);
    for (const statement of GRAPH_SCHEMA_STATEMENTS) await driver.executeQuery(statement);
    embedder = await OnnxEmbedder.create({ modelDir, intraOpNumThreads: 1, variant: 'int8' });
    t = await createPipelineTopics(dev.KAFKA_BROKERS, uniqueName('evt'));
    await seed(tenant);
    await seed(other);
    dir = mkdtempSync(join(tmpdir(), 'engram-evolve-'));
    const quotas = join(dir, 'quotas.json');
    // The tenant's half-life (30 days) as the TenantMemory controller writes it; the default is 1 day.
    writeFileSync(
      quotas,
      JSON.stringify({
        [tenant]: { documentsPerSecond: 10, burst: 10, retention: { halfLifeSeconds: 30 * 86_400 } },
      }),
    );
    proc = spawnRuntime(
      'evolve',
      runtimeEnvFor(dev, {
        ENGRAM_CLUSTER: cluster,
        ENGRAM_TOPIC_PREFIX: t.prefix,
        ENGRAM_TENANT_QUOTAS_FILE: quotas,
        ENGRAM_EVOLVE_INTERVAL_SECONDS: '0',
        ENGRAM_EVOLVE_HALF_LIFE_SECONDS: '86400',
        ENGRAM_EVOLVE_BATCH_SIZE: '10',
      }),
    );
    await proc.waitForLog('running', 60_000);
  });

  after(async () => {
    await proc?.stop();
    await embedder?.close?.();
    await t?.cleanup();
    await purgeTenants(dev, driver, cluster, [tenant, other]);
    redis?.disconnect();
    await driver?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('archives what decayed, merges the near-duplicate pair, keeps the rest searchable; a re-run changes nothing', async () => {
    const otherBefore = await snapshot(other);
    const first = await evolve(tenant, NOW);
    // Globex (importance 1, 400 days, half-life 30 days) and the 400-day-old chunk.
    assert.equal(first.archived, 2, JSON.stringify(first));
    assert.equal(first.merged, 1);
    assert.ok(first.propertiesSet > 0);
    assert.equal(
      first.entities,
      ENTITIES.length - 1,
      'the decay runs over the entities left after the merge',
    );
    assert.equal(first.chunks, CHUNKS.length);

    const { records } = await driver.executeQuery(
      `MATCH (e:Entity {tenantId: $tenant}) RETURN e.key AS key, coalesce(e.archived, false) AS archived, e.archivedAt AS at,
         e.decayedImportance AS decayed, e.importance AS importance, e.mentionCount AS mentions ORDER BY key`,
      { tenant },
    );
    const entities = new Map(records.map((r) => [r.get('key') as string, r.toObject()]));
    assert.deepEqual(
      [...entities.keys()],
      [
        'acme corporation',
        'ada lovelace',
        'globex',
        'grace hopper',
        'northwind traders',
        'northwind traders inc',
      ],
    );
    assert.equal(entities.get('globex')!['archived'], true);
    assert.equal(entities.get('globex')!['at'], NOW);
    assert.equal(entities.get('ada lovelace')!['archived'], false);
    // Computed from lastSeen and the run's time: 2 * 2^(-2/30).
    assert.ok(Math.abs((entities.get('ada lovelace')!['decayed'] as number) - 2 * 2 ** (-2 / 30)) < 1e-9);
    // The merged entity's importance and mention add to the older one.
    assert.equal(entities.get('acme corporation')!['importance'], 3);
    assert.equal(entities.get('acme corporation')!['mentions'], 2);

    const moved = await driver.executeQuery(
      `MATCH (a:EntityAlias {tenantId: $tenant, key: 'acme corporation ltd'})-[:ALIAS_OF]->(keep:Entity)
       OPTIONAL MATCH (:Entity {tenantId: $tenant, key: 'grace hopper'})-[r:RELATES]->(keep)
       OPTIONAL MATCH (c:Chunk {chunkId: $hiring})-[:MENTIONS]->(keep)
       RETURN keep.key AS keep, r.type AS type, r.fact AS fact, c IS NOT NULL AS mentioned`,
      { tenant, hiring: chunkIdOf(tenant, 'hiring') },
    );
    assert.equal(moved.records.length, 1, 'the merged name stays as an alias of the older entity');
    assert.deepEqual(moved.records[0]!.toObject(), {
      keep: 'acme corporation',
      type: 'WORKS_AT',
      fact: 'grace hopper works at acme corporation ltd',
      mentioned: true,
    });

    const chunks = await driver.executeQuery(
      'MATCH (c:Chunk {tenantId: $tenant}) RETURN c.documentId AS id, coalesce(c.archived, false) AS archived ORDER BY id',
      { tenant },
    );
    assert.deepEqual(
      chunks.records.map((r) => [r.get('id'), r.get('archived')]),
      [
        ['hiring', false],
        ['old', true],
        ['recent', false],
      ],
    );

    // Searchable: the kept chunks answer, the archived one no longer does (it is still stored).
    const engine = new QueryEngine(driver, redis, new QuestionEmbedder(embedder), {
      cluster,
      database: 'neo4j',
      settings: readVariables(
        QUERY_VARS,
        { ENGRAM_QUERY_CACHE_TTL_SECONDS: '0' },
        { readFile: () => '' },
        [],
      ),
      log: createLogger('error', { role: 'test' }),
    });
    const answer = await engine.answer(tenant, 'Who wrote the first program?', 5);
    assert.equal(answer.chunks[0]?.chunkId, chunkIdOf(tenant, 'recent'));
    const archived = await engine.answer(tenant, 'paper clips in Springfield', 5);
    assert.ok(!archived.chunks.some((c) => c.chunkId === chunkIdOf(tenant, 'old')));
    assert.ok(!archived.entities.some((e) => e.key === 'globex'));

    const before = await snapshot(tenant);
    const second = await evolve(tenant, NOW);
    assert.deepEqual(
      [second.propertiesSet, second.nodesDeleted, second.archived, second.restored, second.merged],
      [0, 0, 0, 0, 0],
      JSON.stringify(second),
    );
    assert.equal(await snapshot(tenant), before);
    assert.equal(await snapshot(other), otherBefore, 'the other tenant is untouched');
  });

  it('finds the tenants the scheduler requests evolutions for', async () => {
    const graph = new TenantMemoryGraph(driver, {
      database: 'neo4j',
      batchSize: 10,
      transactionTimeoutMs: 10_000,
    });
    const tenants = await graph.tenants();
    assert.ok(tenants.includes(tenant) && tenants.includes(other), tenants.join(', '));
  });

  it('dead-letters a request that is not an evolve request', async () => {
    const producer = await t.producer();
    await producer.send({
      topic: t.topic('graph.evolve'),
      messages: [{ key: tenant, value: '{"tenantId":"Bad_Id"}' }],
    });
    const consumer = t.kafka.consumer({ groupId: uniqueName('evdlq') });
    await consumer.connect();
    await consumer.subscribe({ topic: t.topic('dlq'), fromBeginning: true });
    const seen: string[] = [];
    await consumer.run({
      eachMessage: async ({ message }) => void seen.push(message.value?.toString() ?? ''),
    });
    try {
      await eventually('the request in the dlq', async () => seen.find((v) => v.includes('Bad_Id')), {
        timeoutMs: 30_000,
      });
    } finally {
      await consumer.disconnect();
    }
  });
});
