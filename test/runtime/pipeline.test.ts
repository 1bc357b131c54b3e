// gateway -> ingest -> embed as three real processes on real Kafka, Redis, Neo4j and the real
// model: 1,000 documents for 3 tenants end as chunk nodes exactly once, with the model's vectors,
// queryable per tenant through the tenant's vector index; re-sending creates no duplicates.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Driver } from 'neo4j-driver';
import { graphNames } from '../../runtime/contract/stores.ts';
import { apiKeyHash, tenantKeyFileContent } from '../../runtime/contract/tenants.ts';
import { OnnxEmbedder } from '../../runtime/model/embedder.ts';
import { requireModelDir } from '../../runtime/model/model-location.ts';
import { chunkId } from '../../runtime/pipeline/messages.ts';
import { chunkText } from '../../runtime/roles/ingest/chunker.ts';
import { loadTokenCounter } from '../../runtime/roles/ingest/token-counter.ts';
import { requireDevEnv } from '../support/devenv.ts';
import { eventually, uniqueName } from '../support/wait.ts';
import { corpusDocument } from './corpus.ts';
import { chunkIdCounts, countChunks, purgeTenants, testDriver } from './graph-fixtures.ts';
import {
  committedTotal,
  createPipelineTopics,
  type PipelineTopics,
  readTopic,
  topicEndOffsets,
} from './kafka-fixtures.ts';
import { type RuntimeProcess, runtimeEnvFor, spawnRuntime } from './runtime-process.ts';

const dev = requireDevEnv();
const modelDir = requireModelDir();
const DOCS = 1000;
const CHUNKING = { maxTokens: 64, overlapTokens: 16 };

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
}

describe('pipeline gateway -> ingest -> embed (child processes)', () => {
  const cluster = uniqueName('pl');
  const tenants = [uniqueName('ta'), uniqueName('tb'), uniqueName('tc')];
  const keys = Object.fromEntries(tenants.map((t) => [t, `egk_${t}_secret`]));
  const docs = Array.from({ length: DOCS }, (_, i) => ({
    tenant: tenants[i % 3]!,
    id: `doc-${i}`,
    content: corpusDocument(i),
  }));
  let t: PipelineTopics;
  let keysDir: string;
  let base: string;
  let driver: Driver;
  let expected: Map<string, { tenant: string; text: string }>;
  const procs: RuntimeProcess[] = [];
  let embed: RuntimeProcess;

  const post = async (tenant: string, documents: { id: string; content: string }[]) => {
    const res = await fetch(`${base}/v1/tenants/${tenant}/documents/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${keys[tenant]}` },
      body: JSON.stringify({ documents }),
    });
    return { status: res.status, json: (await res.json()) as { documents: { status: string }[] } };
  };
  const sendAll = async () => {
    const results: { status: string }[] = [];
    for (const tenant of tenants) {
      const mine = docs.filter((d) => d.tenant === tenant);
      for (let i = 0; i < mine.length; i += 100) {
        const r = await post(
          tenant,
          mine.slice(i, i + 100).map((d) => ({ id: d.id, content: d.content })),
        );
        assert.equal(r.status, 202, JSON.stringify(r.json));
        results.push(...r.json.documents);
      }
    }
    return results;
  };

  before(async () => {
    driver = testDriver(dev);
    t = await createPipelineTopics(dev.KAFKA_BROKERS, uniqueName('plt'));
    keysDir = mkdtempSync(join(tmpdir(), 'engram-keys-'));
    for (const [tenant, key] of Object.entries(keys))
      writeFileSync(join(keysDir, tenant), tenantKeyFileContent([apiKeyHash(key)]));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const common = runtimeEnvFor(dev, {
      ENGRAM_CLUSTER: cluster,
      ENGRAM_TOPIC_PREFIX: t.prefix,
      ENGRAM_MODEL_DIR: modelDir,
      ENGRAM_CHUNK_MAX_TOKENS: String(CHUNKING.maxTokens),
      ENGRAM_CHUNK_OVERLAP_TOKENS: String(CHUNKING.overlapTokens),
    });
    procs.push(
      spawnRuntime('gateway', {
        ...common,
        ENGRAM_HTTP_PORT: String(port),
        ENGRAM_TENANT_KEYS_DIR: keysDir,
        ENGRAM_RATE_LIMIT_PER_SECOND: '100000',
        ENGRAM_RATE_LIMIT_BURST: '100000',
      }),
      spawnRuntime('ingest', common),
    );
    embed = spawnRuntime('embed', common);
    procs.push(embed);
    await Promise.all(procs.map((p) => p.waitForLog('running', 60_000)));

    const countTokens = await loadTokenCounter(modelDir);
    expected = new Map();
    for (const d of docs) {
      for (const c of chunkText(d.content, { ...CHUNKING, countTokens }))
        expected.set(chunkId(d.tenant, d.id, c.index), { tenant: d.tenant, text: c.text });
    }
  });

  after(async () => {
    await Promise.all(procs.map((p) => p.stop('SIGKILL')));
    await purgeTenants(dev, driver, cluster, tenants);
    await driver.close();
    await t?.cleanup();
    rmSync(keysDir, { recursive: true, force: true });
  });

  it('ends 1,000 documents as chunk nodes exactly once, with the model vectors', async () => {
    const started = performance.now();
    const results = await sendAll();
    assert.equal(results.filter((r) => r.status === 'accepted').length, DOCS);
    assert.ok(expected.size > DOCS, `several documents span more than one chunk (${expected.size} chunks)`);

    await eventually(
      `${expected.size} chunk nodes`,
      async () => (await countChunks(driver, tenants)) >= expected.size,
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    const seconds = (performance.now() - started) / 1000;
    process.stdout.write(
      `# ${DOCS} documents, ${expected.size} chunks through the pipeline in ${seconds.toFixed(1)} s (${(expected.size / seconds).toFixed(0)} chunks/s)\n`,
    );

    const counts = await chunkIdCounts(driver, tenants);
    assert.equal(counts.size, expected.size);
    for (const [id, n] of counts) {
      assert.ok(expected.has(id), `unexpected chunk ${id}`);
      assert.equal(n, 1, `chunk ${id} stored ${n} times`);
    }

    const { records } = await driver.executeQuery(
      `MATCH (d:Document)-[:HAS_CHUNK]->(c:Chunk) WHERE c.tenantId IN $tenants
       RETURN c.chunkId AS id, c.tenantId AS tenant, c.text AS text, labels(c) AS labels, labels(d) AS docLabels,
              size(c.embedding) AS dims, c.index AS index
       ORDER BY id LIMIT 2000`,
      { tenants },
    );
    for (const r of records) {
      const want = expected.get(r.get('id'))!;
      assert.equal(r.get('tenant'), want.tenant);
      assert.equal(r.get('text'), want.text);
      assert.equal(r.get('dims'), 384);
      assert.ok(r.get('labels').includes(graphNames.tenantLabel(want.tenant)));
      assert.ok(r.get('labels').includes(graphNames.chunkLabel(want.tenant)));
      assert.ok(r.get('docLabels').includes(graphNames.tenantLabel(want.tenant)));
    }

    // Vectors are the model's: recompute a sample here and compare.
    const embedder = await OnnxEmbedder.create({ modelDir, intraOpNumThreads: 1 });
    try {
      const sample = [...expected.keys()].filter((_, i) => i % 97 === 0);
      const { records: stored } = await driver.executeQuery(
        'MATCH (c:Chunk) WHERE c.chunkId IN $ids RETURN c.chunkId AS id, c.embedding AS v',
        { ids: sample },
      );
      const fresh = await embedder.embed(stored.map((r) => expected.get(r.get('id'))!.text));
      stored.forEach((r, i) => {
        const sim = cosine(r.get('v') as number[], fresh[i]!);
        assert.ok(sim > 0.9999, `chunk ${r.get('id')}: cosine ${sim}`);
      });

      // Queryable per tenant: a chunk's own text finds it first, and only the tenant's chunks come back.
      await driver.executeQuery('CALL db.awaitIndexes(120)');
      for (const tenant of tenants) {
        const [id, want] = [...expected.entries()].find(([, v]) => v.tenant === tenant)!;
        const [vector] = await embedder.embed([want.text]);
        const { records: hits } = await driver.executeQuery(
          'CALL db.index.vector.queryNodes($index, 5, $vector) YIELD node, score RETURN node.chunkId AS id, node.tenantId AS tenant, score',
          { index: graphNames.chunkVectorIndex(tenant), vector: Array.from(vector!) },
        );
        assert.equal(hits[0]?.get('id'), id);
        assert.ok((hits[0]?.get('score') as number) > 0.999);
        assert.ok(
          hits.every((h) => h.get('tenant') === tenant),
          'vector search leaked another tenant',
        );
      }
    } finally {
      await embedder.close();
    }
  });

  it('re-sending the same documents creates no duplicates (gateway dedupe, and a replay past it)', async () => {
    const rawBefore = await topicEndOffsets(t.admin, t.topic('ingest.raw'));
    const again = await sendAll();
    assert.ok(again.every((r) => r.status === 'duplicate'));
    assert.equal(
      await topicEndOffsets(t.admin, t.topic('ingest.raw')),
      rawBefore,
      'duplicates are not produced',
    );

    // Replay every raw document past the gateway, as a redelivery would: ingest re-chunks into the
    // same ids, embed hits its cache and MERGEs onto the existing nodes.
    const raw = await readTopic(t.kafka, t.topic('ingest.raw'), rawBefore);
    const producer = await t.producer();
    await producer.send({
      topic: t.topic('ingest.raw'),
      messages: raw.map((m) => ({ key: m.key, value: m.value })),
    });
    const embedEnd = await eventually(
      'ingest re-emitted every chunk',
      async () => {
        const n = await topicEndOffsets(t.admin, t.topic('ingest.embed'));
        return n >= expected.size * 2 && n;
      },
      { timeoutMs: 60_000 },
    );
    await eventually(
      'embed caught up with the replay',
      async () => (await committedTotal(t.admin, `${t.prefix}.embed`, t.topic('ingest.embed'))) >= embedEnd,
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    assert.equal(await countChunks(driver, tenants), expected.size);
    const counts = await chunkIdCounts(driver, tenants);
    assert.ok([...counts.values()].every((n) => n === 1));

    const port = (await embed.waitForLog('starting'))['metricsPort'] as number;
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const hits = Number(
      /engram_cache_hits_total\{[^}]*cache="embedding"[^}]*\} (\d+)/.exec(metrics)?.[1] ?? 0,
    );
    assert.ok(hits >= expected.size * 0.9, `replayed chunks came from the cache (hits ${hits})`);
  });
});
