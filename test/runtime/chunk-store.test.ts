// The embed role's chunk store against the real Neo4j: many versions of many documents written
// concurrently in random order (as concurrent groups and partitions deliver them) always end as
// exactly the newest version's chunks; versions from different ingest.raw partitions compare by
// the broker's append time.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Driver } from 'neo4j-driver';
import {
  type ChunkMessage,
  chunkId,
  type DocumentVersion,
  documentKey,
  sha256,
} from '../../runtime/pipeline/messages.ts';
import { ChunkStore } from '../../runtime/roles/embed/chunk-store.ts';
import { requireDevEnv } from '../support/devenv.ts';
import { uniqueName } from '../support/wait.ts';
import { purgeTenants, testDriver } from './graph-fixtures.ts';

const dev = requireDevEnv();
const DIMS = 384;

function chunks(
  tenantId: string,
  documentId: string,
  version: DocumentVersion,
  count: number,
): ChunkMessage[] {
  const hash = sha256(`${documentId}@${version.partition}/${version.offset}`);
  return Array.from({ length: count }, (_, index) => ({
    v: 2,
    kind: 'chunk',
    tenantId,
    documentId,
    documentVersion: version,
    documentHash: hash,
    chunkId: chunkId(tenantId, documentId, index),
    index,
    count,
    text: `${documentId} v${version.partition}/${version.offset} #${index}`,
    tokens: 4,
    start: index * 10,
    end: index * 10 + 9,
    ...(index === 0 && { metadata: { version: `${version.partition}/${version.offset}` } }),
  }));
}

const vector = () => Float32Array.from({ length: DIMS }, () => Math.random() - 0.5);

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

describe('ChunkStore versions (real Neo4j)', () => {
  const tenant = uniqueName('cs');
  let driver: Driver;
  let store: ChunkStore;

  before(async () => {
    driver = testDriver(dev);
    store = new ChunkStore(driver, {
      database: 'neo4j',
      dimensions: DIMS,
      model: 'test',
      maxConcurrentWrites: 4,
      transactionTimeoutMs: 30_000,
    });
    await store.ensureSchema();
  });
  after(async () => {
    await purgeTenants(dev, driver, 'cs', [tenant]);
    await driver.close();
  });

  async function state(documentId: string) {
    const { records } = await driver.executeQuery(
      `MATCH (c:Chunk) WHERE c.tenantId = $tenant AND c.documentId = $documentId
       OPTIONAL MATCH (d:Document {documentKey: $key})-[:HAS_CHUNK]->(c)
       RETURN c.text AS text, d IS NOT NULL AS linked ORDER BY c.index`,
      { tenant, documentId, key: documentKey(tenant, documentId) },
    );
    const doc = await driver.executeQuery(
      'MATCH (d:Document {documentKey: $key}) RETURN d.chunkCount AS count, d.versionOffset AS offset, d.metadata AS metadata',
      { key: documentKey(tenant, documentId) },
    );
    return {
      texts: records.map((r) => r.get('text') as string),
      allLinked: records.every((r) => r.get('linked')),
      count: doc.records[0]?.get('count'),
      offset: doc.records[0]?.get('offset'),
      metadata: doc.records[0]?.get('metadata'),
    };
  }

  it('many versions written concurrently in random order end as the newest version, exactly', async () => {
    const docs = Array.from({ length: 12 }, (_, i) => `doc-${i}`);
    const versions = docs.map((id, i) =>
      Array.from({ length: 4 }, (_, k) => ({
        id,
        version: { partition: 0, offset: 100 * k + i, timestamp: 1_000 + k },
        count: 1 + ((i + k * 3) % 5),
      })),
    );
    const all = shuffle(versions.flat().flatMap((v) => chunks(tenant, v.id, v.version, v.count)));
    // Groups of 1-6 chunks of any documents, written with up to 4 transactions at once.
    const groups: ChunkMessage[][] = [];
    for (let i = 0; i < all.length; ) {
      const n = 1 + Math.floor(Math.random() * 6);
      groups.push(all.slice(i, i + n));
      i += n;
    }
    const results = await Promise.all(
      groups.map((g) => store.write(g.map((chunk) => ({ chunk, vector: vector() })))),
    );
    const stale = results.reduce((n, r) => n + r.stale, 0);
    assert.ok(stale > 0, 'some writes were older than what was stored and were refused');
    for (const [i, id] of docs.entries()) {
      const newest = versions[i]!.at(-1)!;
      const want = chunks(tenant, id, newest.version, newest.count).map((c) => c.text);
      const s = await state(id);
      assert.deepEqual(s.texts, want, `${id}: exactly the newest version's chunks`);
      assert.ok(s.allLinked);
      assert.equal(s.count, newest.count);
      assert.equal(s.offset, newest.version.offset);
      assert.deepEqual(JSON.parse(s.metadata), { version: `0/${newest.version.offset}` });
    }
  });

  it('a redelivered chunk of the current version updates its node, never adds one', async () => {
    const v = { partition: 0, offset: 7, timestamp: 5 };
    const batch = chunks(tenant, 'redelivered', v, 3);
    await store.write(batch.map((chunk) => ({ chunk, vector: vector() })));
    const again = await store.write(batch.map((chunk) => ({ chunk, vector: vector() })));
    assert.deepEqual(again, { written: 3, stale: 0 });
    assert.equal((await state('redelivered')).texts.length, 3);
  });

  it('across partitions (ingest.raw grew) the later append time wins, not the larger offset', async () => {
    const before = { partition: 0, offset: 900, timestamp: 10_000 };
    const moved = { partition: 5, offset: 3, timestamp: 20_000 };
    const straggler = { partition: 0, offset: 950, timestamp: 15_000 };
    const write = (v: DocumentVersion, n: number) =>
      store.write(chunks(tenant, 'moved', v, n).map((chunk) => ({ chunk, vector: vector() })));
    await write(before, 3);
    await write(moved, 2);
    assert.deepEqual(await write(straggler, 4), { written: 0, stale: 4 });
    const s = await state('moved');
    assert.deepEqual(
      s.texts,
      chunks(tenant, 'moved', moved, 2).map((c) => c.text),
    );
  });
});
