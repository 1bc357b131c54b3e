// Fault injection: SIGKILL the embed worker repeatedly while it works through a stream of chunks
// (real process, real model, real Kafka/Redis/Neo4j). After restarts every chunk is present
// exactly once: no loss (offsets only follow committed Neo4j writes), no duplicate (MERGE on a
// constrained id).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Driver } from 'neo4j-driver';
import { requireModelDir } from '../../runtime/model/model-location.ts';
import { type ChunkMessage, messageKey, type RawDocument, sha256 } from '../../runtime/pipeline/messages.ts';
import { chunkDocument } from '../../runtime/roles/ingest/role.ts';
import { loadTokenCounter } from '../../runtime/roles/ingest/token-counter.ts';
import { requireDevEnv } from '../support/devenv.ts';
import { eventually, uniqueName } from '../support/wait.ts';
import { corpusDocument } from './corpus.ts';
import { chunkIdCounts, countChunks, purgeTenants, testDriver } from './graph-fixtures.ts';
import {
  committedTotal,
  createPipelineTopics,
  type PipelineTopics,
  topicEndOffsets,
} from './kafka-fixtures.ts';
import { type RuntimeProcess, runtimeEnvFor, spawnRuntime } from './runtime-process.ts';

const dev = requireDevEnv();
const modelDir = requireModelDir();
const KILLS = 4;

describe('embed worker killed with SIGKILL mid-stream', () => {
  const cluster = uniqueName('kill');
  const tenants = [uniqueName('ka'), uniqueName('kb')];
  let t: PipelineTopics;
  let driver: Driver;
  let chunks: ChunkMessage[];
  let current: RuntimeProcess | undefined;

  before(async () => {
    driver = testDriver(dev);
    t = await createPipelineTopics(dev.KAFKA_BROKERS, uniqueName('klt'), { 'ingest.embed': 2 });
    const countTokens = await loadTokenCounter(modelDir);
    chunks = Array.from({ length: 700 }, (_, i) => {
      const content = corpusDocument(10_000 + i);
      const doc: RawDocument = {
        v: 1,
        kind: 'document',
        tenantId: tenants[i % 2]!,
        documentId: `doc-${i}`,
        contentHash: sha256(content),
        content,
        acceptedAt: 1_700_000_000_000 + i,
      };
      const version = { partition: 0, offset: i, timestamp: 1_700_000_000_000 + i };
      return chunkDocument(doc, version, {
        maxTokens: 64,
        overlapTokens: 16,
        countTokens,
        maxChunksPerDocument: 2048,
      });
    }).flat();
    const producer = await t.producer();
    for (let i = 0; i < chunks.length; i += 500) {
      await producer.send({
        topic: t.topic('ingest.embed'),
        messages: chunks
          .slice(i, i + 500)
          .map((c) => ({ key: messageKey(c.tenantId, c.documentId), value: JSON.stringify(c) })),
      });
    }
  });

  after(async () => {
    await current?.stop('SIGKILL');
    await purgeTenants(dev, driver, cluster, tenants);
    await driver.close();
    await t?.cleanup();
  });

  const spawnEmbed = () =>
    spawnRuntime(
      'embed',
      runtimeEnvFor(dev, {
        ENGRAM_CLUSTER: cluster,
        ENGRAM_TOPIC_PREFIX: t.prefix,
        ENGRAM_MODEL_DIR: modelDir,
        // A dead member holds its partitions until its session expires: keep that short here.
        ENGRAM_KAFKA_SESSION_TIMEOUT_MS: '6000',
        ENGRAM_KAFKA_HEARTBEAT_INTERVAL_MS: '500',
        ENGRAM_BATCH_SIZE: '32',
      }),
    );

  it(`loses and duplicates nothing across ${KILLS} kills`, async () => {
    const total = chunks.length;
    const midStream: number[] = [];
    for (let k = 0; k < KILLS; k++) {
      current = spawnEmbed();
      await current.waitForLog('running', 60_000);
      const before = await countChunks(driver, tenants);
      // Kill once this run has written something, after a random extra delay, mid-transaction or not.
      await eventually(
        'progress before the kill',
        async () => (await countChunks(driver, tenants)) > before,
        {
          timeoutMs: 30_000,
          intervalMs: 100,
        },
      );
      await new Promise((r) => setTimeout(r, 200 + Math.random() * 1500));
      const code = await current.stop('SIGKILL');
      assert.equal(code, null, 'killed by the signal, not exited');
      const at = await countChunks(driver, tenants);
      if (at < total) midStream.push(at);
    }
    assert.ok(midStream.length >= KILLS - 1, `kills landed mid-stream: ${midStream.join(', ')} of ${total}`);

    current = spawnEmbed();
    await current.waitForLog('running', 60_000);
    const end = await topicEndOffsets(t.admin, t.topic('ingest.embed'));
    await eventually(
      'every chunk committed',
      async () => (await committedTotal(t.admin, `${t.prefix}.embed`, t.topic('ingest.embed'))) >= end,
      { timeoutMs: 90_000, intervalMs: 500 },
    );

    const counts = await chunkIdCounts(driver, tenants);
    const missing = chunks.filter((c) => !counts.has(c.chunkId));
    assert.deepEqual(
      missing.map((c) => c.chunkId),
      [],
      'no chunk lost',
    );
    assert.equal(counts.size, total);
    assert.ok(
      [...counts.values()].every((n) => n === 1),
      'no chunk stored twice',
    );
    const { records } = await driver.executeQuery(
      'MATCH (c:Chunk) WHERE c.tenantId IN $tenants AND (c.embedding IS NULL OR size(c.embedding) <> 384) RETURN count(c) AS n',
      { tenants },
    );
    assert.equal(records[0]!.get('n'), 0, 'every chunk has its vector');
    assert.equal(await topicEndOffsets(t.admin, t.topic('dlq')), 0, 'nothing was dead-lettered');
    process.stdout.write(`# ${total} chunks, killed at ${midStream.join(', ')} nodes written\n`);
  });
});
