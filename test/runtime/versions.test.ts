// Issue 8, defects 5 and 8: old chunks must never come back after an update, and versions come
// from the log, not from a producer's clock. Real ingest and embed processes on real Kafka,
// Neo4j, Redis and the model: ingest turns version 1 (several chunks) and version 2 (one chunk)
// of each document into chunk messages, which are then delivered to embed out of order, with and
// without embedding-cache hits. Whatever the order, each document ends as exactly its version 2.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Driver } from 'neo4j-driver';
import { requireModelDir } from '../../runtime/model/model-location.ts';
import { chunkId, documentKey, type RawDocument, sha256 } from '../../runtime/pipeline/messages.ts';
import { requireDevEnv } from '../support/devenv.ts';
import { eventually, uniqueName } from '../support/wait.ts';
import { purgeTenants, testDriver } from './graph-fixtures.ts';
import {
  committedTotal,
  createPipelineTopics,
  type PipelineTopics,
  type ReadMessage,
  readTopic,
} from './kafka-fixtures.ts';
import { type RuntimeProcess, runtimeEnvFor, spawnRuntime } from './runtime-process.ts';

const dev = requireDevEnv();
const modelDir = requireModelDir();

const V1 = (doc: string) =>
  Array.from(
    { length: 6 },
    (_, i) =>
      `Version one of ${doc}, paragraph ${i}, talks at length about memory clusters, the graph they keep, and the workers that embed every chunk of it.`,
  ).join(' ');
const V2 = (doc: string) => `Version two of ${doc} replaces everything. It is short.`;

type Chunk = { documentId: string; index: number; count: number; text: string; chunkId: string };

describe('document updates delivered out of order (ingest + embed, child processes)', () => {
  const cluster = uniqueName('ver');
  const tenant = uniqueName('tv');
  const procs: RuntimeProcess[] = [];
  const topicSets: PipelineTopics[] = [];
  let driver: Driver;
  /** Chunk messages ingest produced, per document: [version 1's, version 2's], raw bytes. */
  const produced = new Map<string, [ReadMessage[], ReadMessage[]]>();
  const docs = ['reversed', 'interleaved', 'tail-first', 'skewed-clock', 'cached'];

  const spawn = (role: 'ingest' | 'embed', t: PipelineTopics, extra: Record<string, string> = {}) => {
    const p = spawnRuntime(
      role,
      runtimeEnvFor(dev, {
        ENGRAM_CLUSTER: cluster,
        ENGRAM_TOPIC_PREFIX: t.prefix,
        ENGRAM_MODEL_DIR: modelDir,
        ENGRAM_CHUNK_MAX_TOKENS: '48',
        ENGRAM_CHUNK_OVERLAP_TOKENS: '8',
        ...extra,
      }),
    );
    procs.push(p);
    return p;
  };
  const topics = async (name: string) => {
    const t = await createPipelineTopics(dev.KAFKA_BROKERS, uniqueName(name), {
      'ingest.raw': 1,
      'ingest.embed': 1,
    });
    topicSets.push(t);
    return t;
  };
  const parse = (m: ReadMessage) => JSON.parse(m.value!.toString()) as Chunk;

  before(async () => {
    driver = testDriver(dev);
    // Ingest both versions of every document, in order, on one partition.
    const a = await topics('vin');
    const ingest = spawn('ingest', a);
    const producer = await a.producer();
    const now = Date.now();
    const raw = (id: string, content: string, acceptedAt: number, rev: number): RawDocument => ({
      v: 1,
      kind: 'document',
      tenantId: tenant,
      documentId: id,
      contentHash: sha256(content),
      content,
      metadata: { rev },
      acceptedAt,
    });
    for (const id of docs) {
      // skewed-clock: the gateway replica that took version 2 runs a minute behind.
      const skew = id === 'skewed-clock' ? -60_000 : 1;
      await producer.send({
        topic: a.topic('ingest.raw'),
        messages: [
          { key: `${tenant}/${id}`, value: JSON.stringify(raw(id, V1(id), now, 1)) },
          { key: `${tenant}/${id}`, value: JSON.stringify(raw(id, V2(id), now + skew, 2)) },
        ],
      });
    }
    await ingest.waitForLog('running', 60_000);
    await eventually(
      'ingest committed every version',
      async () =>
        (await committedTotal(a.admin, `${a.prefix}.ingest`, a.topic('ingest.raw'))) === 2 * docs.length,
    );
    const end = Number((await a.admin.fetchTopicOffsets(a.topic('ingest.embed')))[0]!.high);
    const all = await readTopic(a.kafka, a.topic('ingest.embed'), end);
    all.sort((x, y) => Number(x.offset) - Number(y.offset));
    for (const id of docs) {
      const mine = all.filter((m) => parse(m).documentId === id);
      const v1Count = parse(mine[0]!).count;
      produced.set(id, [mine.slice(0, v1Count), mine.slice(v1Count)]);
      assert.ok(v1Count >= 3, `${id}: version 1 has ${v1Count} chunks`);
      assert.equal(mine.length - v1Count, 1, `${id}: version 2 has one chunk`);
    }
  });

  after(async () => {
    await Promise.all(procs.map((p) => p.stop('SIGKILL')));
    await purgeTenants(dev, driver, cluster, [tenant]);
    await driver.close();
    for (const t of topicSets) await t.cleanup();
  });

  async function stored(id: string) {
    const { records } = await driver.executeQuery(
      `MATCH (c:Chunk) WHERE c.tenantId = $tenant AND c.documentId = $id
       OPTIONAL MATCH (d:Document {documentKey: $key})-[:HAS_CHUNK]->(c)
       RETURN c.index AS index, c.text AS text, d IS NOT NULL AS linked ORDER BY index`,
      { tenant, id, key: documentKey(tenant, id) },
    );
    const doc = await driver.executeQuery(
      'MATCH (d:Document {documentKey: $key}) RETURN d.chunkCount AS count, d.metadata AS metadata',
      { key: documentKey(tenant, id) },
    );
    return {
      chunks: records.map((r) => ({ index: r.get('index'), text: r.get('text'), linked: r.get('linked') })),
      count: doc.records[0]?.get('count'),
      metadata: doc.records[0]?.get('metadata'),
    };
  }

  function assertVersion2(id: string, s: Awaited<ReturnType<typeof stored>>) {
    assert.deepEqual(
      s.chunks,
      [{ index: 0, text: V2(id), linked: true }],
      `${id}: the document holds exactly version 2's chunk (no chunk of version 1 came back)`,
    );
    assert.equal(s.count, 1, `${id}: the Document records version 2's chunk count`);
    assert.deepEqual(JSON.parse(s.metadata ?? 'null'), { rev: 2 }, `${id}: version 2's metadata, once`);
  }

  it('ends every document as version 2, whatever order its chunks arrive in', async () => {
    const b = await topics('vemb');
    const order = (id: string): ReadMessage[] => {
      const [v1, [v2]] = produced.get(id)!;
      if (id === 'reversed') return [v2!, ...v1];
      if (id === 'interleaved') return [v1[0]!, v2!, ...v1.slice(1)];
      if (id === 'tail-first') return [...v1.slice(1), v2!, v1[0]!];
      return [...v1, v2!]; // skewed-clock: in log order; its version 2 carries the older clock
    };
    const messages = ['reversed', 'interleaved', 'tail-first', 'skewed-clock'].flatMap(order);
    const producer = await b.producer();
    await producer.send({
      topic: b.topic('ingest.embed'),
      messages: messages.map((m) => ({ key: m.key, value: m.value! })),
    });
    // One message at a time, in the order given: the delivery order is the test's, not a race's.
    const embed = spawn('embed', b, { ENGRAM_BATCH_SIZE: '1', ENGRAM_CONCURRENCY: '1' });
    await embed.waitForLog('running', 60_000);
    await eventually(
      'embed committed every chunk',
      async () =>
        (await committedTotal(b.admin, `${b.prefix}.embed`, b.topic('ingest.embed'))) === messages.length,
      { timeoutMs: 60_000 },
    );
    for (const id of ['reversed', 'interleaved', 'tail-first', 'skewed-clock'])
      assertVersion2(id, await stored(id));
  });

  it('ends as version 2 when version 2 hits the embedding cache and overtakes version 1', async () => {
    const c = await topics('vcache');
    const [v1, [v2]] = produced.get('cached')!;
    // Warm the cache with version 2's text under another document of the same tenant.
    const warm = parse(v2!);
    const warmValue = JSON.stringify({ ...warm, documentId: 'warm', chunkId: chunkId(tenant, 'warm', 0) });
    const producer = await c.producer();
    await producer.send({
      topic: c.topic('ingest.embed'),
      messages: [{ key: `${tenant}/warm`, value: warmValue }],
    });
    // Groups of one message, four at a time: version 1's chunks wait for the model, version 2's
    // is a cache hit and can commit first (the race the issue reproduced).
    const embed = spawn('embed', c, { ENGRAM_BATCH_SIZE: '1', ENGRAM_CONCURRENCY: '4' });
    await embed.waitForLog('running', 60_000);
    await eventually(
      'warm-up embedded',
      async () => (await committedTotal(c.admin, `${c.prefix}.embed`, c.topic('ingest.embed'))) === 1,
    );
    await producer.send({
      topic: c.topic('ingest.embed'),
      messages: [...v1, v2!].map((m) => ({ key: m.key, value: m.value! })),
    });
    await eventually(
      'embed committed every chunk',
      async () =>
        (await committedTotal(c.admin, `${c.prefix}.embed`, c.topic('ingest.embed'))) === v1.length + 2,
      { timeoutMs: 60_000 },
    );
    assertVersion2('cached', await stored('cached'));
    const port = (await embed.waitForLog('starting'))['metricsPort'] as number;
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(
      metrics,
      /engram_cache_hits_total\{[^}]*cache="embedding"[^}]*\} [1-9]/,
      'version 2 came from the cache',
    );
  });
});
