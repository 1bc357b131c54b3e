/**
 * Query latency at concurrency 16 on a tenant of >= 100,000 chunks, uncached and cached, next to
 * floors measured in the same run:
 *
 *   floors:   the model alone (int8, 1 thread: one question, and 16 in one batch as the question
 *             embedder batches them), the bare vector search alone (db.index.vector.queryNodes with
 *             the engine's k, nothing else) one at a time and at concurrency 16, one Redis GET.
 *   uncached: QueryEngine.answer (what the gateway's synchronous route and the query role run)
 *             with distinct questions, result cache and embedding cache off: embed -> vector
 *             search + first hop -> ranking -> second hop for the top k -> answer.
 *   cached:   the same questions again with the result cache on (warmed first).
 *
 * Besides latency it prints the CPU each operation costs this process (the engine, its inference
 * thread, the bench loop) and the Neo4j server (read from /proc: the shared local environment's
 * Neo4j, so other clients' work counts too): in a closed loop of 16 on 2 cores, latency is bounded
 * by 16 x CPU per query / 2 however the phases overlap, so the CPU is what tells where time goes.
 *
 * The chunks are synthetic (random unit vectors, loaded with UNWIND in batches; each mentions 2 of
 * 5,000 entities with 3 relations each). Random vectors are HNSW's hard case (real embeddings have
 * structure a search exploits), so the search floor here is pessimistic. After a load it waits
 * until Neo4j is idle (Lucene merges the segments for minutes) and refreshes the index's searcher.
 * Targets on the 2-core machine: uncached p50 < 20 ms and p99 < 100 ms, cached p99 < 5 ms.
 *
 * Usage: node bench/runtime/query-latency.ts [--chunks 100000] [--queries 1000] [--concurrency 16] [--keep]
 *        [--tenant <id>]   (reuse a tenant a --keep run loaded, so repeated runs skip the load)
 *        [--overfetch N] [--hops 1|2]   (ENGRAM_QUERY_OVERFETCH / ENGRAM_QUERY_HOPS, defaults 4 and 2)
 */
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import neo4j from 'neo4j-driver';
import { QUERY_VARS } from '../../runtime/contract/config/query.ts';
import { readVariables } from '../../runtime/contract/config/variables.ts';
import {
  chunkVectorIndexStatement,
  GRAPH_SCHEMA_STATEMENTS,
  graphNames,
} from '../../runtime/contract/stores.ts';
import { OnnxEmbedder } from '../../runtime/model/embedder.ts';
import { requireModelDir } from '../../runtime/model/model-location.ts';
import { createLogger } from '../../runtime/observability/log.ts';
import { ThreadedEmbedder } from '../../runtime/roles/embed/inference-thread.ts';
import { QueryEngine, type QueryPhases } from '../../runtime/roles/query/query-engine.ts';
import { QuestionEmbedder } from '../../runtime/roles/query/question-embedder.ts';
import { purgeTenants, testDriver } from '../../test/runtime/graph-fixtures.ts';
import { requireDevEnv } from '../../test/support/devenv.ts';
import { uniqueName } from '../../test/support/wait.ts';
import { cpuSeconds, devenvPid, settled } from './process-cpu.ts';

const { values: args } = parseArgs({
  options: {
    chunks: { type: 'string', default: '100000' },
    queries: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '16' },
    keep: { type: 'boolean', default: false },
    tenant: { type: 'string' },
    overfetch: { type: 'string' },
    hops: { type: 'string' },
  },
});
const CHUNKS = Number(args.chunks);
const QUERIES = Number(args.queries);
const CONCURRENCY = Number(args.concurrency);
const TOP_K = 10;
const ENTITIES = 5000;
const DIMS = 384;

const dev = requireDevEnv();
const modelDir = requireModelDir();
const driver = testDriver(dev);
const redis = new Redis(dev.REDIS_URL);
const cluster = uniqueName('bq');
const tenant = args.tenant ?? uniqueName('bqt');
const log = createLogger('warn', { bench: 'query-latency' });
const neo4jPid = devenvPid(dev, 'neo4j');

function randomUnit(): number[] {
  const v = Array.from({ length: DIMS }, () => Math.random() * 2 - 1);
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
function summary(ms: number[]): { p50: number; p99: number; mean: number } {
  const s = [...ms].sort((a, b) => a - b);
  return { p50: percentile(s, 0.5), p99: percentile(s, 0.99), mean: s.reduce((a, b) => a + b, 0) / s.length };
}
const f = (x: number) => x.toFixed(2);

async function load(): Promise<void> {
  const started = performance.now();
  const tenantLabel = graphNames.tenantLabel(tenant);
  // The (tenantId, key) constraint backs the entity lookups below (the embed role ensures it in a cluster).
  for (const statement of GRAPH_SCHEMA_STATEMENTS) await driver.executeQuery(statement);
  await driver.executeQuery(chunkVectorIndexStatement(tenant, DIMS));
  const entityLabel = graphNames.entityLabel(tenant);
  await driver.executeQuery(
    `UNWIND range(0, $n - 1) AS i
     CREATE (e:Entity {tenantId: $tenant, key: 'entity ' + i, name: 'Entity ' + i, type: 'organization',
                       importance: toFloat(i % 7), lastSeen: timestamp()})
     SET e:$([$tenantLabel, $entityLabel])`,
    { n: ENTITIES, tenant, tenantLabel, entityLabel },
  );
  await driver.executeQuery(
    `MATCH (e:Entity {tenantId: $tenant}) WITH collect(e) AS es
     UNWIND range(0, size(es) - 1) AS i
     WITH es, i, es[i] AS s
     UNWIND [1, 7, 31] AS step
     WITH s, es[(i + step) % size(es)] AS o, step
     CREATE (s)-[:RELATES {type: 'partner_of', fact: s.name + ' partners with ' + o.name, chunkId: 'synthetic',
                           validFrom: timestamp(), tenantId: $tenant}]->(o)`,
    { tenant },
  );
  process.stdout.write(
    `  entities and relations in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
  );
  const BATCH = 1000;
  for (let start = 0; start < CHUNKS; start += BATCH) {
    const rows = Array.from({ length: Math.min(BATCH, CHUNKS - start) }, (_, j) => ({
      chunkId: randomBytes(16).toString('hex'),
      documentId: `doc-${start + j}`,
      text: `Synthetic chunk ${start + j} about entity ${(start + j) % ENTITIES}.`,
      a: `entity ${(start + j) % ENTITIES}`,
      b: `entity ${(start * 7 + j * 13) % ENTITIES}`,
      embedding: randomUnit(),
    }));
    await driver.executeQuery(
      `UNWIND $rows AS row
       CREATE (c:Chunk {chunkId: row.chunkId, tenantId: $tenant, documentId: row.documentId, text: row.text,
                        index: 0, versionTimestamp: timestamp()})
       SET c:$([$tenantLabel, $chunkLabel])
       WITH c, row
       CALL db.create.setNodeVectorProperty(c, 'embedding', row.embedding)
       WITH c, row
       MATCH (a:Entity {tenantId: $tenant, key: row.a}), (b:Entity {tenantId: $tenant, key: row.b})
       CREATE (c)-[:MENTIONS]->(a), (c)-[:MENTIONS]->(b)`,
      { rows, tenant, tenantLabel, chunkLabel: graphNames.chunkLabel(tenant) },
    );
    if ((start / BATCH) % 20 === 19)
      process.stdout.write(
        `  loaded ${start + BATCH} chunks (${((performance.now() - started) / 1000).toFixed(1)} s)\n`,
      );
  }
  await driver.executeQuery('CALL db.awaitIndexes(600)');
  process.stdout.write(
    `loaded ${CHUNKS} chunks, ${ENTITIES} entities in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
  );
}

const SUBJECTS = [
  'the merger',
  'the audit',
  'the launch',
  'the hiring plan',
  'the supplier',
  'the budget',
  'the outage',
  'the patent',
];
const ASPECTS = ['who approved', 'when did', 'why did', 'which team ran', 'what changed after', 'where was'];
function question(i: number): string {
  return `${ASPECTS[i % ASPECTS.length]} ${SUBJECTS[Math.floor(i / ASPECTS.length) % SUBJECTS.length]} number ${i} happen?`;
}

async function closedLoop<T>(n: number, work: (i: number) => Promise<T>): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < n; i = next++) {
        const t0 = performance.now();
        await work(i);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return latencies;
}

interface Measured {
  ms: number[];
  /** CPU ms per operation of this process (the engine, its inference thread and the bench loop). */
  nodeCpu: number;
  /** CPU ms per operation of the Neo4j server (also whatever else uses the shared server meanwhile). */
  neo4jCpu: number;
}

/** A closed loop at CONCURRENCY with the CPU it cost this process and Neo4j, per operation. */
async function measured<T>(n: number, work: (i: number) => Promise<T>): Promise<Measured> {
  const [c0, n0] = [process.cpuUsage(), cpuSeconds(neo4jPid)];
  const ms = await closedLoop(n, work);
  const c = process.cpuUsage(c0);
  return { ms, nodeCpu: (c.user + c.system) / 1000 / n, neo4jCpu: ((cpuSeconds(neo4jPid) - n0) * 1000) / n };
}

/**
 * A write to the tenant's vector index makes Neo4j refresh the index's searcher. Without one, the
 * segments Lucene merged after the load are searched only after Neo4j's next checkpoint (up to 15
 * minutes later) and every search until then goes over all the small segments of the load.
 */
async function refreshSearcher(): Promise<void> {
  const chunkId = `probe-${randomBytes(8).toString('hex')}`;
  await driver.executeQuery(
    `CREATE (c:Chunk {chunkId: $chunkId, tenantId: $tenant, archived: true}) SET c:$([$tenantLabel, $chunkLabel])
     WITH c CALL db.create.setNodeVectorProperty(c, 'embedding', $embedding)`,
    {
      chunkId,
      tenant,
      tenantLabel: graphNames.tenantLabel(tenant),
      chunkLabel: graphNames.chunkLabel(tenant),
      embedding: randomUnit(),
    },
  );
  await driver.executeQuery('MATCH (c:Chunk {chunkId: $chunkId}) DETACH DELETE c', { chunkId });
}

async function loaded(): Promise<number> {
  const { records } = await driver.executeQuery('MATCH (c:Chunk {tenantId: $tenant}) RETURN count(c) AS n', {
    tenant,
  });
  return records[0]!.get('n') as number;
}

async function main(): Promise<void> {
  const present = args.tenant ? await loaded() : 0;
  const chunks = present || CHUNKS;
  if (present === 0) await load();
  else process.stdout.write(`reusing tenant ${tenant}: ${present} chunks\n`);
  // After a bulk load Lucene merges the index's segments for minutes (HNSW graphs rebuilt): that is
  // ingest cost, not query cost, and a search over many small segments costs several times more.
  const settle = await settled(neo4jPid);
  process.stdout.write(
    `Neo4j settled after ${settle.waitedSeconds.toFixed(0)} s (${settle.cores.toFixed(2)} cores busy in the last 5 s)\n`,
  );
  await refreshSearcher();
  const loadBefore = loadavg()[0]!;
  const settings = readVariables(
    QUERY_VARS,
    {
      ...(args.overfetch && { ENGRAM_QUERY_OVERFETCH: args.overfetch }),
      ...(args.hops && { ENGRAM_QUERY_HOPS: args.hops }),
    },
    { readFile: () => '' },
    [],
  );
  const fetch = Math.min(TOP_K * settings.overfetch, 1000);

  // Floors, each alone.
  const raw = await OnnxEmbedder.create({ modelDir, intraOpNumThreads: 1, variant: 'int8' });
  const embedFloor: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now();
    await raw.embed([question(1_000_000 + i)]);
    embedFloor.push(performance.now() - t0);
  }
  const batchFloor: number[] = [];
  for (let i = 0; i < 20; i++) {
    const texts = Array.from({ length: CONCURRENCY }, (_, j) => question(2_000_000 + i * CONCURRENCY + j));
    const t0 = performance.now();
    await raw.embed(texts);
    batchFloor.push((performance.now() - t0) / CONCURRENCY);
  }
  const vector = (await raw.embed(['a probe question']))[0]!;
  await raw.close();
  const search = (v: number[]) =>
    driver.executeQuery(
      'CALL db.index.vector.queryNodes($index, $k, $v) YIELD node, score RETURN node.chunkId AS id, score',
      { index: graphNames.chunkVectorIndex(tenant), k: neo4j.int(fetch), v },
      { routing: 'READ' },
    );
  const searchFloor: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now();
    await search(i === 0 ? Array.from(vector) : randomUnit());
    searchFloor.push(performance.now() - t0);
  }
  const searchConcurrent = await measured(QUERIES / 2, () => search(randomUnit()));
  const redisFloor: number[] = [];
  for (let i = 0; i < 500; i++) {
    const t0 = performance.now();
    await redis.get(`engram:${cluster}:t:${tenant}:probe`);
    redisFloor.push(performance.now() - t0);
  }

  const embedder = await ThreadedEmbedder.create(
    { modelDir, variant: 'int8', intraOpNumThreads: 1, executionProvider: 'cpu' },
    {
      timeoutMs: 60_000,
      onFatal: (e) => {
        throw e;
      },
    },
  );
  const engineDriver = testDriver(dev);
  const engine = (cacheTtl: number, phases?: QueryPhases[]) =>
    new QueryEngine(engineDriver, redis, new QuestionEmbedder(embedder), {
      cluster,
      database: 'neo4j',
      settings: { ...settings, cacheTtlSeconds: cacheTtl },
      log,
      ...(phases && { onPhases: (p: QueryPhases) => phases.push(p) }),
    });
  const phases: QueryPhases[] = [];
  const uncachedEngine = engine(0, phases);
  await closedLoop(64, (i) => uncachedEngine.answer(tenant, question(500_000 + i), TOP_K)); // warm up
  phases.length = 0;
  const uncached = await measured(QUERIES, (i) => uncachedEngine.answer(tenant, question(i), TOP_K));
  const cachedEngine = engine(600);
  await closedLoop(QUERIES, (i) => cachedEngine.answer(tenant, question(i), TOP_K));
  const cached = await measured(QUERIES, async (i) => {
    const a = await cachedEngine.answer(tenant, question(i), TOP_K);
    if (!a.cached) throw new Error('expected a cached answer');
  });
  const loadAfter = loadavg()[0]!;

  const e = summary(embedFloor);
  const eb = summary(batchFloor);
  const s = summary(searchFloor);
  const sc = summary(searchConcurrent.ms);
  const r = summary(redisFloor);
  const u = summary(uncached.ms);
  const c = summary(cached.ms);
  const cpu = (m: Measured) => `CPU per op: this process ${f(m.nodeCpu)} ms, Neo4j ${f(m.neo4jCpu)} ms`;
  const line = (name: string, x: { p50: number; p99: number }, floor: number, floorName: string) =>
    `${name.padEnd(41)} p50 ${f(x.p50).padStart(7)} ms  p99 ${f(x.p99).padStart(7)} ms  (p50 / ${floorName} ${f(x.p50 / floor)})`;
  const throughput = (m: Measured) =>
    ((m.ms.length / m.ms.reduce((a, b) => a + b, 0)) * 1000 * CONCURRENCY).toFixed(0);
  process.stdout.write(
    [
      `\n${chunks} chunks, ${QUERIES} queries at concurrency ${CONCURRENCY}, topK ${TOP_K} (vector search k ${fetch}), ${settings.hops} hops, int8 model, 1 inference thread`,
      `load average (1 min) ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after, on ${cpus().length} cores`,
      `floor: model, one question alone             p50 ${f(e.p50)} ms  p99 ${f(e.p99)} ms`,
      `floor: model, ${CONCURRENCY} questions in one batch, per question p50 ${f(eb.p50)} ms`,
      `floor: vector search alone, one at a time    p50 ${f(s.p50)} ms  p99 ${f(s.p99)} ms`,
      `floor: vector search alone, concurrency ${CONCURRENCY}   p50 ${f(sc.p50)} ms  p99 ${f(sc.p99)} ms  (${throughput(searchConcurrent)}/s; ${cpu(searchConcurrent)})`,
      `floor: redis GET alone                       p50 ${f(r.p50)} ms  p99 ${f(r.p99)} ms`,
      line('uncached (embed+search+expand+rank)', u, sc.p50, 'search floor at c16'),
      `  ${throughput(uncached)} queries/s; ${cpu(uncached)}`,
      line('cached', c, r.p50, 'redis GET'),
      `  ${throughput(cached)} queries/s; ${cpu(cached)}`,
      `targets: uncached p50 < 20 ms ${u.p50 < 20 ? 'met' : 'MISSED'}, p99 < 100 ms ${u.p99 < 100 ? 'met' : 'MISSED'}; cached p99 < 5 ms ${c.p99 < 5 ? 'met' : 'MISSED'}`,
      `uncached profile, mean ms per query (concurrent, so the phases overlap across queries):`,
      ...(['cacheRead', 'embed', 'search', 'expand', 'rank', 'cacheWrite'] as const).map(
        (k) =>
          `  ${k.padEnd(10)} ${f(phases.reduce((a, p) => a + p[k], 0) / phases.length).padStart(7)}  (p99 ${f(summary(phases.map((p) => p[k])).p99)})`,
      ),
      `  in a closed loop of ${CONCURRENCY} on ${cpus().length} cores a query waits for the others' CPU: ` +
        `${CONCURRENCY} x (${f(uncached.nodeCpu)} + ${f(uncached.neo4jCpu)}) / ${cpus().length} = ` +
        `${f((CONCURRENCY * (uncached.nodeCpu + uncached.neo4jCpu)) / cpus().length)} ms expected p50`,
      '',
    ].join('\n'),
  );
  await embedder.close();
  await engineDriver.close();
}

try {
  await main();
} finally {
  if (args.keep) process.stdout.write(`kept tenant ${tenant} (rerun with --tenant ${tenant})\n`);
  else await purgeTenants(dev, driver, cluster, [tenant]);
  await driver.close();
  redis.disconnect();
}
