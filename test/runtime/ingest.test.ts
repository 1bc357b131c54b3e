// The ingest role as a real process (`node runtime/main.ts ingest`): documents become chunk
// messages on ingest.embed and ingest.extract with deterministic ids; poison messages land in the
// dlq with their reason while the rest of the partition keeps flowing.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { METRICS } from '../../runtime/contract/metrics.ts';
import { chunkId, chunkMessageSchema, type RawDocument, sha256 } from '../../runtime/pipeline/messages.ts';
import { estimateTokens } from '../../runtime/roles/ingest/chunker.ts';
import { chunkDocument } from '../../runtime/roles/ingest/role.ts';
import { DLQ_HEADERS } from '../../runtime/worker/dead-letter.ts';
import { requireDevEnv } from '../support/devenv.ts';
import { eventually, uniqueName } from '../support/wait.ts';
import {
  committedTotal,
  createPipelineTopics,
  type PipelineTopics,
  readTopic,
  topicEndOffsets,
} from './kafka-fixtures.ts';
import { type RuntimeProcess, runtimeEnvFor, spawnRuntime } from './runtime-process.ts';

const dev = requireDevEnv();
const CHUNKING = { maxTokens: 40, overlapTokens: 8, countTokens: estimateTokens, maxChunksPerDocument: 2048 };
const AT = { partition: 0, offset: 0, timestamp: 0 };

function rawDocument(tenantId: string, documentId: string, content: string): RawDocument {
  return {
    v: 1,
    kind: 'document',
    tenantId,
    documentId,
    contentHash: sha256(content),
    content,
    acceptedAt: 1_700_000_000_000,
  };
}

const longText = Array.from(
  { length: 12 },
  (_, i) => `Sentence number ${i} talks about memory clusters and the graph they keep. `,
).join('');

describe('ingest role (child process)', () => {
  let t: PipelineTopics;
  let proc: RuntimeProcess;
  const cluster = 'itest';

  before(async () => {
    t = await createPipelineTopics(dev.KAFKA_BROKERS, uniqueName('ing'), { 'ingest.raw': 1 });
    proc = spawnRuntime(
      'ingest',
      runtimeEnvFor(dev, {
        ENGRAM_CLUSTER: cluster,
        ENGRAM_TOPIC_PREFIX: t.prefix,
        ENGRAM_CHUNK_MAX_TOKENS: String(CHUNKING.maxTokens),
        ENGRAM_CHUNK_OVERLAP_TOKENS: String(CHUNKING.overlapTokens),
        ENGRAM_BATCH_SIZE: '2',
      }),
    );
  });
  after(async () => {
    await proc?.stop('SIGKILL');
    await t.cleanup();
  });

  it('chunks documents and dead-letters poison messages without blocking the partition', async () => {
    const docs = [
      rawDocument('acme', 'doc-a', 'A short document. It has two sentences.'),
      rawDocument('acme', 'doc-b', longText),
      rawDocument('globex', 'doc-c', `${longText} And one more for globex.`),
    ];
    const producer = await t.producer();
    await producer.send({
      topic: t.topic('ingest.raw'),
      messages: [
        { key: 'acme/doc-a', value: JSON.stringify(docs[0]) },
        { key: 'acme/x', value: 'this is not json {' },
        { key: 'acme/y', value: JSON.stringify({ v: 1, kind: 'document', tenantId: 'ACME!', content: '' }) },
        { key: 'acme/doc-b', value: JSON.stringify(docs[1]) },
        { key: 'globex/doc-c', value: JSON.stringify(docs[2]) },
      ],
    });
    const expected = docs.flatMap((d) => chunkDocument(d, AT, CHUNKING));
    assert.ok(expected.filter((c) => c.documentId === 'doc-b').length > 2, 'doc-b spans several chunks');

    await proc.waitForLog('running');
    const started = await proc.waitForLog('starting');
    const [embed, extract, dlq] = await Promise.all([
      readTopic(t.kafka, t.topic('ingest.embed'), expected.length),
      readTopic(t.kafka, t.topic('ingest.extract'), expected.length),
      readTopic(t.kafka, t.topic('dlq'), 2),
    ]);

    const chunks = embed.map((m) => chunkMessageSchema.parse(JSON.parse(m.value!.toString())));
    assert.deepEqual(chunks.map((c) => c.chunkId).sort(), expected.map((c) => c.chunkId).sort());
    for (const c of chunks) {
      assert.equal(c.chunkId, chunkId(c.tenantId, c.documentId, c.index));
      assert.ok(c.tokens <= CHUNKING.maxTokens);
      assert.equal(c.count, expected.filter((e) => e.documentId === c.documentId).length);
    }
    assert.equal(embed.find((m) => m.value!.toString().includes('"doc-b"'))?.key, 'acme/doc-b');
    assert.equal(extract.length, expected.length);

    const reasons = new Map(dlq.map((m) => [m.headers[DLQ_HEADERS.sourceOffset], m.headers]));
    assert.equal(reasons.size, 2);
    assert.match(reasons.get('1')![DLQ_HEADERS.error]!, /value is not JSON/);
    assert.match(reasons.get('2')![DLQ_HEADERS.error]!, /value fails the schema: .*tenantId/);
    for (const h of reasons.values()) {
      assert.equal(h[DLQ_HEADERS.reason], 'poison');
      assert.equal(h[DLQ_HEADERS.sourceTopic], t.topic('ingest.raw'));
      assert.equal(h[DLQ_HEADERS.sourcePartition], '0');
      assert.equal(h[DLQ_HEADERS.role], 'ingest');
    }
    assert.equal(
      dlq.find((m) => m.headers[DLQ_HEADERS.sourceOffset] === '1')?.value?.toString(),
      'this is not json {',
    );

    const group = `${t.prefix}.ingest`;
    await eventually(
      'offsets committed past the poison',
      async () => (await committedTotal(t.admin, group, t.topic('ingest.raw'))) === 5,
    );

    // The metrics endpoint counts what happened.
    const port = started['metricsPort'] as number;
    const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(body, new RegExp(`${METRICS.messagesDeadLettered}\\{[^}]*reason="poison"[^}]*\\} 2`));
    assert.match(body, new RegExp(`${METRICS.messagesProcessed}\\{[^}]*\\} 3`));
    assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200);
  });

  it('re-chunks a redelivered document into the same chunk ids', async () => {
    const again = rawDocument('acme', 'doc-b', longText);
    const before = await topicEndOffsets(t.admin, t.topic('ingest.embed'));
    const producer = await t.producer();
    await producer.send({
      topic: t.topic('ingest.raw'),
      messages: [{ key: 'acme/doc-b', value: JSON.stringify(again) }],
    });
    const expected = chunkDocument(again, AT, CHUNKING);
    const embed = await readTopic(t.kafka, t.topic('ingest.embed'), before + expected.length);
    const ids = embed
      .map((m) => chunkMessageSchema.parse(JSON.parse(m.value!.toString())))
      .filter((c) => c.documentId === 'doc-b');
    assert.equal(ids.length, expected.length * 2);
    assert.equal(new Set(ids.map((c) => c.chunkId)).size, expected.length);
  });

  it('stops on SIGTERM with exit code 0 after leaving the group', async () => {
    const code = await proc.stop('SIGTERM');
    assert.equal(code, 0, proc.stderr.join(''));
    assert.ok(proc.logs.some((l) => l['msg'] === 'worker stopped'));
  });
});
