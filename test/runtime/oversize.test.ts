// Issue 8, defect 2: a partition must never block on one message. The ingest role as a real
// process on real Kafka: a 512 KiB document of control characters (3 MiB as JSON) is chunked
// within the topics' limits; a poison record larger than the dlq takes goes there truncated with
// a reference; one the dlq refuses even truncated is logged, counted and skipped. In every case
// the next document on the partition goes through.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { METRICS } from '../../runtime/contract/metrics.ts';
import { TOPIC_MAX_MESSAGE_BYTES } from '../../runtime/contract/topics.ts';
import { requireModelDir } from '../../runtime/model/model-location.ts';
import { chunkMessageSchema, type RawDocument, sha256 } from '../../runtime/pipeline/messages.ts';
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

function raw(documentId: string, content: string): RawDocument {
  return {
    v: 1,
    kind: 'document',
    tenantId: 'acme',
    documentId,
    contentHash: sha256(content),
    content,
    acceptedAt: Date.now(),
  };
}

const normal = raw('after', 'A normal document. It comes after the hard one on the same partition.');

async function metric(proc: RuntimeProcess, name: string, labels: Record<string, string>): Promise<number> {
  const port = (await proc.waitForLog('starting'))['metricsPort'] as number;
  const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let total = 0;
  for (const line of body.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      total += Number(line.split(' ').at(-1));
  }
  return total;
}

describe('oversized messages never block a partition (ingest, child process)', () => {
  const running: { proc: RuntimeProcess; topics: PipelineTopics }[] = [];
  after(async () => {
    for (const { proc, topics } of running) {
      await proc.stop('SIGKILL');
      await topics.cleanup();
    }
  });

  async function ingestOn(configs: Parameters<typeof createPipelineTopics>[3] = {}) {
    const topics = await createPipelineTopics(
      dev.KAFKA_BROKERS,
      uniqueName('big'),
      { 'ingest.raw': 1 },
      configs,
    );
    const proc = spawnRuntime(
      'ingest',
      runtimeEnvFor(dev, {
        ENGRAM_CLUSTER: 'big',
        ENGRAM_TOPIC_PREFIX: topics.prefix,
        ENGRAM_MODEL_DIR: requireModelDir(), // the model's tokenizer, as in production
        ENGRAM_RETRY_BASE_MS: '50',
        ENGRAM_RETRY_MAX_MS: '500',
      }),
    );
    running.push({ proc, topics });
    await proc.waitForLog('running');
    return {
      topics,
      proc,
      committed: () => committedTotal(topics.admin, `${topics.prefix}.ingest`, topics.topic('ingest.raw')),
    };
  }

  it('chunks 512 KiB of control characters into messages the chunk topics take', async () => {
    const { topics, committed } = await ingestOn();
    const control = raw('control', '\u0001'.repeat(512 * 1024));
    const encoded = JSON.stringify(control);
    assert.ok(encoded.length > 3 * 1024 * 1024, 'the raw message is ~3 MiB as JSON');
    const producer = await topics.producer();
    await producer.send({
      topic: topics.topic('ingest.raw'),
      messages: [
        { key: 'acme/control', value: encoded },
        { key: 'acme/after', value: JSON.stringify(normal) },
      ],
    });
    await eventually('both documents committed', async () => (await committed()) === 2, {
      timeoutMs: 60_000,
    });
    const total = await topicEndOffsets(topics.admin, topics.topic('ingest.embed'));
    const chunks = (await readTopic(topics.kafka, topics.topic('ingest.embed'), total)).map((m) => ({
      bytes: m.value!.length,
      chunk: chunkMessageSchema.parse(JSON.parse(m.value!.toString())),
    }));
    const mine = chunks.filter((c) => c.chunk.documentId === 'control');
    assert.ok(mine.length > 1, `the control document was chunked (${mine.length} chunks)`);
    assert.equal(mine[0]!.chunk.count, mine.length);
    for (const c of chunks)
      assert.ok(c.bytes < TOPIC_MAX_MESSAGE_BYTES['ingest.embed'] / 4, `${c.bytes} bytes`);
    assert.ok(
      chunks.some((c) => c.chunk.documentId === 'after'),
      'the next document went through',
    );
    assert.equal(await topicEndOffsets(topics.admin, topics.topic('dlq')), 0, 'nothing needed the dlq');
  });

  it('sends a poison record the dlq cannot take whole truncated, with a reference, and moves on', async () => {
    const { topics, proc, committed } = await ingestOn({ dlq: { 'max.message.bytes': '200000' } });
    const poison = Buffer.alloc(600_000, 'x'); // not JSON: poison, and 3x what this dlq takes
    const producer = await topics.producer();
    await producer.send({
      topic: topics.topic('ingest.raw'),
      messages: [
        { key: 'acme/poison', value: poison, headers: { trace: 't'.repeat(50_000) } },
        { key: 'acme/after', value: JSON.stringify(normal) },
      ],
    });
    await eventually('both committed', async () => (await committed()) === 2, { timeoutMs: 60_000 });
    const [dead] = await readTopic(topics.kafka, topics.topic('dlq'), 1);
    const h = dead!.headers;
    assert.equal(h[DLQ_HEADERS.truncated], 'true');
    assert.equal(h[DLQ_HEADERS.reason], 'poison');
    assert.match(h[DLQ_HEADERS.error]!, /not JSON/);
    assert.equal(h[DLQ_HEADERS.sourceTopic], topics.topic('ingest.raw'));
    assert.equal(h[DLQ_HEADERS.sourceOffset], '0');
    assert.equal(h[DLQ_HEADERS.originalBytes], String(poison.length));
    assert.equal(h[DLQ_HEADERS.originalSha256], createHash('sha256').update(poison).digest('hex'));
    assert.equal(h['trace'], undefined, 'original headers are dropped from a truncated record');
    assert.ok(dead!.value!.length < 200_000 && poison.subarray(0, dead!.value!.length).equals(dead!.value!));
    assert.equal(dead!.key, 'acme/poison');
    await readTopic(topics.kafka, topics.topic('ingest.embed'), 1);
    assert.equal(await metric(proc, METRICS.deadLetterFailures, { outcome: 'truncated' }), 1);
    assert.equal(await metric(proc, METRICS.messagesDeadLettered, { reason: 'poison' }), 1);
  });

  it('logs, counts and skips a record the dlq refuses even truncated', async () => {
    const { topics, proc, committed } = await ingestOn({ dlq: { 'max.message.bytes': '1024' } });
    const producer = await topics.producer();
    await producer.send({
      topic: topics.topic('ingest.raw'),
      messages: [
        { key: 'acme/poison', value: Buffer.alloc(100_000, 'y') },
        { key: 'acme/after', value: JSON.stringify(normal) },
      ],
    });
    await eventually('both committed', async () => (await committed()) === 2, { timeoutMs: 60_000 });
    await readTopic(topics.kafka, topics.topic('ingest.embed'), 1);
    assert.equal(await topicEndOffsets(topics.admin, topics.topic('dlq')), 0);
    assert.equal(await metric(proc, METRICS.deadLetterFailures, { outcome: 'dropped' }), 1);
    const line = await proc.waitForLog(
      'the dlq refused this message even truncated: it is skipped and only this log line remains',
    );
    assert.equal(line['level'], 'error');
    assert.equal(line['offset'], '0');
    assert.match(String(line['sha256']), /^[0-9a-f]{64}$/);
  });
});
