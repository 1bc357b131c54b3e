// Issue 8, defects 2 and 3, in the embed role as a real process (real model, Kafka, Neo4j): a
// chunk whose Neo4j write can never finish (its Document is locked by another transaction held
// open for the whole test) hits the transaction deadline, is retried within its transient budget,
// and goes to the dlq with the last error, while the chunks behind it on the same partition are
// written. While it blocks the partition without progress, /healthz says so.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Driver, Session, Transaction } from 'neo4j-driver';
import { graphNames } from '../../runtime/contract/stores.ts';
import { requireModelDir } from '../../runtime/model/model-location.ts';
import {
  type ChunkMessage,
  documentKey,
  messageKey,
  type RawDocument,
  sha256,
} from '../../runtime/pipeline/messages.ts';
import { estimateTokens } from '../../runtime/roles/ingest/chunker.ts';
import { chunkDocument } from '../../runtime/roles/ingest/role.ts';
import { DLQ_HEADERS } from '../../runtime/worker/dead-letter.ts';
import { requireDevEnv } from '../support/devenv.ts';
import { eventually, uniqueName } from '../support/wait.ts';
import { purgeTenants, testDriver } from './graph-fixtures.ts';
import { committedTotal, createPipelineTopics, type PipelineTopics, readTopic } from './kafka-fixtures.ts';
import { type RuntimeProcess, runtimeEnvFor, spawnRuntime } from './runtime-process.ts';

const dev = requireDevEnv();
const TX_TIMEOUT_MS = 2000;
const TRANSIENT_ATTEMPTS = 3;

describe('embed: a write that cannot finish meets its deadline (child process)', () => {
  const cluster = uniqueName('dl');
  const tenant = uniqueName('tdl');
  let t: PipelineTopics;
  let driver: Driver;
  let holder: Session;
  let lock: Transaction;
  let proc: RuntimeProcess;
  let chunks: ChunkMessage[];

  before(async () => {
    driver = testDriver(dev);
    t = await createPipelineTopics(dev.KAFKA_BROKERS, uniqueName('dlt'), { 'ingest.embed': 1 });
    chunks = ['locked', 'free-1', 'free-2'].flatMap((id, i) => {
      const content = `Document ${id} is short. It has one chunk.`;
      const doc: RawDocument = {
        v: 1,
        kind: 'document',
        tenantId: tenant,
        documentId: id,
        contentHash: sha256(content),
        content,
        acceptedAt: 0,
      };
      return chunkDocument(
        doc,
        { partition: 0, offset: i, timestamp: 1 },
        { maxTokens: 64, overlapTokens: 8, countTokens: estimateTokens, maxChunksPerDocument: 10 },
      );
    });
    // Another writer holds the locked document's node for the whole test.
    await driver.executeQuery(
      `MERGE (d:Document {documentKey: $key}) SET d.tenantId = $tenant, d.documentId = 'locked', d:${graphNames.tenantLabel(tenant)}`,
      { key: documentKey(tenant, 'locked'), tenant },
    );
    holder = driver.session();
    lock = holder.beginTransaction();
    await lock.run('MATCH (d:Document {documentKey: $key}) SET d.heldBy = "test"', {
      key: documentKey(tenant, 'locked'),
    });
  });

  after(async () => {
    await proc?.stop('SIGKILL');
    await lock?.rollback().catch(() => undefined);
    await holder?.close();
    await purgeTenants(dev, driver, cluster, [tenant]);
    await driver.close();
    await t?.cleanup();
  });

  it('dead-letters the blocked chunk after its transient budget, writes the rest, and /healthz reports the stall', async () => {
    proc = spawnRuntime(
      'embed',
      runtimeEnvFor(dev, {
        ENGRAM_CLUSTER: cluster,
        ENGRAM_TOPIC_PREFIX: t.prefix,
        ENGRAM_MODEL_DIR: requireModelDir(),
        ENGRAM_BATCH_SIZE: '1',
        ENGRAM_CONCURRENCY: '1',
        ENGRAM_NEO4J_TX_TIMEOUT_MS: String(TX_TIMEOUT_MS),
        ENGRAM_MAX_TRANSIENT_ATTEMPTS: String(TRANSIENT_ATTEMPTS),
        ENGRAM_RETRY_BASE_MS: '1000',
        ENGRAM_RETRY_MAX_MS: '2000',
        ENGRAM_PROGRESS_TIMEOUT_MS: '3000',
      }),
    );
    await proc.waitForLog('running', 60_000);
    const port = (await proc.waitForLog('starting'))['metricsPort'] as number;
    const statuses: number[] = [];
    const poll = setInterval(() => {
      fetch(`http://127.0.0.1:${port}/healthz`).then(
        (r) => void statuses.push(r.status),
        () => undefined,
      );
    }, 200);
    try {
      const producer = await t.producer();
      await producer.send({
        topic: t.topic('ingest.embed'),
        messages: chunks.map((c) => ({
          key: messageKey(c.tenantId, c.documentId),
          value: JSON.stringify(c),
        })),
      });
      await eventually(
        'every chunk committed while the lock is still held',
        async () =>
          (await committedTotal(t.admin, `${t.prefix}.embed`, t.topic('ingest.embed'))) === chunks.length,
        { timeoutMs: 90_000, intervalMs: 500 },
      );
      const [dead] = await readTopic(t.kafka, t.topic('dlq'), 1);
      assert.equal(JSON.parse(dead!.value!.toString()).documentId, 'locked');
      assert.equal(dead!.headers[DLQ_HEADERS.reason], 'exhausted');
      assert.equal(dead!.headers[DLQ_HEADERS.failure], 'transient');
      assert.equal(dead!.headers[DLQ_HEADERS.attempts], String(TRANSIENT_ATTEMPTS));
      assert.match(dead!.headers[DLQ_HEADERS.error]!, /Neo4jError/);
      const { records } = await driver.executeQuery(
        'MATCH (c:Chunk) WHERE c.tenantId = $tenant RETURN c.documentId AS id ORDER BY id',
        { tenant },
      );
      assert.deepEqual(
        records.map((r) => r.get('id')),
        ['free-1', 'free-2'],
        'the chunks behind it were written',
      );
      assert.ok(statuses.includes(503), `/healthz failed during the stall (${[...new Set(statuses)]})`);
      await eventually('/healthz ok once the partition moves', async () => statuses.at(-1) === 200);
    } finally {
      clearInterval(poll);
    }
  });
});
