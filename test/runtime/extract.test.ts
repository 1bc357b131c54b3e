// The extract role as a real process against real Kafka: with an OpenAI-compatible endpoint (the
// llm-test-double, standing in for a remote LLM) malformed output, timeouts and 429s are retried,
// then dead-lettered with the reason, and nothing is lost; without an endpoint the built-in
// extractor builds the graph.resolve messages.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { createLogger } from '../../runtime/observability/log.ts';
import {
  type ChunkMessage,
  chunkId,
  type ExtractionMessage,
  extractionMessageSchema,
  sha256,
} from '../../runtime/pipeline/messages.ts';
import { ChatCompletionsExtractor } from '../../runtime/roles/extract/chat-completions.ts';
import { sharedRequestBucket } from '../../runtime/roles/extract/role.ts';
import { DLQ_HEADERS } from '../../runtime/worker/dead-letter.ts';
import { requireDevEnv } from '../support/devenv.ts';
import { uniqueName } from '../support/wait.ts';
import { createPipelineTopics, type PipelineTopics, readTopic } from './kafka-fixtures.ts';
import { type LlmTestDouble, startLlmTestDouble } from './llm-test-double.ts';
import { type RuntimeProcess, runtimeEnvFor, spawnRuntime } from './runtime-process.ts';

const dev = requireDevEnv();
const API_KEY = 'sk-llm-test-double-0123456789';

function chunk(tenantId: string, documentId: string, text: string): ChunkMessage {
  return {
    v: 2,
    kind: 'chunk',
    tenantId,
    documentId,
    documentVersion: { partition: 0, offset: 0, timestamp: 0 },
    documentHash: sha256(text),
    chunkId: chunkId(tenantId, documentId, 0),
    index: 0,
    count: 1,
    text,
    tokens: 10,
    start: 0,
    end: text.length,
  };
}

async function produceChunks(t: PipelineTopics, chunks: ChunkMessage[]): Promise<void> {
  const producer = await t.producer();
  await producer.send({
    topic: t.topic('ingest.extract'),
    messages: chunks.map((c) => ({ key: `${c.tenantId}/${c.documentId}`, value: JSON.stringify(c) })),
  });
}

const decode = (value: Buffer | null): ExtractionMessage =>
  extractionMessageSchema.parse(JSON.parse(value!.toString()));

describe('extract role with a chat-completions endpoint (llm-test-double)', () => {
  let t: PipelineTopics;
  let llm: LlmTestDouble;
  let proc: RuntimeProcess;

  before(async () => {
    t = await createPipelineTopics(dev.KAFKA_BROKERS, uniqueName('ext'));
    llm = await startLlmTestDouble();
    proc = spawnRuntime(
      'extract',
      runtimeEnvFor(dev, {
        ENGRAM_CLUSTER: 'extest',
        ENGRAM_TOPIC_PREFIX: t.prefix,
        ENGRAM_EXTRACTION_ENDPOINT: llm.url,
        ENGRAM_EXTRACTION_MODEL: 'test-model',
        ENGRAM_EXTRACTION_API_KEY: API_KEY,
        ENGRAM_EXTRACTION_MAX_CONCURRENT_REQUESTS: '3',
        ENGRAM_EXTRACTION_REQUESTS_PER_MINUTE: '6000',
        ENGRAM_EXTRACTION_TIMEOUT_MS: '400',
        ENGRAM_EXTRACTION_MAX_RETRIES: '2',
        ENGRAM_EXTRACTION_RETRY_BASE_MS: '50',
        ENGRAM_EXTRACTION_RETRY_MAX_MS: '1500',
        ENGRAM_MAX_TRANSIENT_ATTEMPTS: '2',
        ENGRAM_MAX_ATTEMPTS: '2',
        ENGRAM_RETRY_BASE_MS: '50',
        ENGRAM_RETRY_MAX_MS: '200',
        ENGRAM_LOG_LEVEL: 'debug',
      }),
    );
    await proc.waitForLog('running');
  });
  after(async () => {
    await proc?.stop('SIGKILL');
    await llm?.close();
    await t?.cleanup();
  });

  it('retries flaky answers, dead-letters what keeps failing with the reason, and loses nothing', async () => {
    const good = Array.from({ length: 8 }, (_, i) =>
      chunk(
        'acme',
        `ok-${i}`,
        `Person${String.fromCharCode(65 + i)} Smith works at Initech Labs. Chunk ${i}.`,
      ),
    );
    const flaky = [
      chunk('acme', 'once-429', 'Alice Chen works at Globex Corp. [429-once]'),
      chunk('acme', 'once-timeout', 'Bob Stone works at Umbrella Ltd. [timeout-once]'),
      chunk('acme', 'once-malformed', 'Carol Diaz works at Acme Robotics. [malformed-once]'),
    ];
    const failing = [
      chunk('acme', 'bad-malformed', 'Dan Brown works at Nowhere Inc. [malformed]'),
      chunk('acme', 'bad-timeout', 'Eve Adams works at Slow Corp. [timeout]'),
      chunk('acme', 'bad-429', 'Finn Wolf works at Busy Corp. [429]'),
    ];
    const all = [...good, ...flaky.slice(0, 2), ...failing, flaky[2]!];
    await produceChunks(t, all);

    const [resolved, dlq] = await Promise.all([
      readTopic(t.kafka, t.topic('graph.resolve'), good.length + flaky.length, 60_000),
      readTopic(t.kafka, t.topic('dlq'), failing.length, 60_000),
    ]);
    const messages = resolved.map((m) => decode(m.value));
    // Nothing lost: every chunk is either extracted or in the dlq, none twice in the dlq.
    const done = new Set(messages.map((m) => m.documentId));
    const dead = dlq.map((m) => JSON.parse(m.value!.toString()).documentId as string);
    for (const c of all) assert.ok(done.has(c.documentId) || dead.includes(c.documentId), c.documentId);
    assert.deepEqual([...dead].sort(), failing.map((c) => c.documentId).sort());
    for (const c of [...good, ...flaky]) assert.ok(done.has(c.documentId), `${c.documentId} extracted`);

    const alice = messages.find((m) => m.documentId === 'once-429')!;
    assert.equal(alice.chunkId, flaky[0]!.chunkId);
    assert.equal(resolved.find((m) => decode(m.value).documentId === 'once-429')?.key, 'acme/once-429');
    assert.deepEqual(
      alice.entities.map((e) => [e.name, e.type]),
      [
        ['Alice Chen', 'Person'],
        ['Globex Corp', 'Organization'],
      ],
    );
    assert.deepEqual(alice.relations, [
      {
        source: 'Alice Chen',
        target: 'Globex Corp',
        type: 'WORKS_AT',
        fact: 'Alice Chen works at Globex Corp',
      },
    ]);

    const reasons = new Map(
      dlq.map((m) => [JSON.parse(m.value!.toString()).documentId as string, m.headers] as const),
    );
    assert.equal(reasons.get('bad-malformed')![DLQ_HEADERS.reason], 'poison');
    assert.match(
      reasons.get('bad-malformed')![DLQ_HEADERS.error]!,
      /failed its schema: the message content is not JSON/,
    );
    assert.equal(reasons.get('bad-timeout')![DLQ_HEADERS.reason], 'exhausted');
    assert.match(reasons.get('bad-timeout')![DLQ_HEADERS.error]!, /no answer within 400 ms \(3 tries\)/);
    assert.equal(reasons.get('bad-429')![DLQ_HEADERS.reason], 'exhausted');
    assert.match(reasons.get('bad-429')![DLQ_HEADERS.error]!, /rate limited \(429\)/);

    // Retry-After: 1 was honoured before the second try of the 429'd chunk.
    const tries = llm.requests.filter((r) => r.text.includes('[429-once]')).map((r) => r.at);
    assert.ok(tries.length >= 2 && tries[1]! - tries[0]! >= 950, `retry after ${tries[1]! - tries[0]!} ms`);
    // Each malformed chunk was asked 1 + ENGRAM_EXTRACTION_MAX_RETRIES times before it was given up.
    assert.equal(llm.requests.filter((r) => r.text.includes('[malformed]')).length, 3);
    // Chunks of a batch were in flight together, never more than the limit.
    assert.ok(llm.maxInFlight >= 2 && llm.maxInFlight <= 3, `max in flight ${llm.maxInFlight}`);

    // The key went to the endpoint and nowhere else.
    assert.ok(llm.requests.every((r) => r.authorization === `Bearer ${API_KEY}` && r.model === 'test-model'));
    const everything = JSON.stringify([proc.logs, proc.stderr, dlq.map((m) => m.headers)]);
    assert.ok(!everything.includes(API_KEY), 'the API key never appears in logs or dlq headers');

    const port = (await proc.waitForLog('starting'))['metricsPort'] as number;
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const count = (line: string) => Number(new RegExp(`^${line} (\\d+)$`, 'm').exec(metrics)?.[1] ?? 0);
    assert.equal(count('engram_extraction_requests_total\\{outcome="ok"\\}'), good.length + flaky.length);
    for (const outcome of ['malformed', 'timeout', 'rate_limited'])
      assert.ok(count(`engram_extraction_requests_total\\{outcome="${outcome}"\\}`) >= 4, outcome);
    assert.equal(
      count('engram_relations_extracted_total\\{extractor="chat-completions"\\}'),
      messages.reduce((n, m) => n + m.relations.length, 0),
    );
  });
});

describe('extract role without an endpoint (built-in extractor)', () => {
  let t: PipelineTopics;
  let proc: RuntimeProcess;

  before(async () => {
    t = await createPipelineTopics(dev.KAFKA_BROKERS, uniqueName('exb'));
    proc = spawnRuntime(
      'extract',
      runtimeEnvFor(dev, { ENGRAM_CLUSTER: 'extest', ENGRAM_TOPIC_PREFIX: t.prefix }),
    );
    await proc.waitForLog('running');
  });
  after(async () => {
    await proc?.stop('SIGKILL');
    await t?.cleanup();
  });

  it('extracts names and relations offline, one message per chunk', async () => {
    const chunks = [
      chunk('acme', 'doc-1', 'Alice Chen works at Initech Inc. Initech Inc is based in Oslo.'),
      chunk('globex', 'doc-2', 'Globex Corp acquired Acme Robotics. Bob Stone founded Acme Robotics.'),
    ];
    await produceChunks(t, chunks);
    const started = proc.logs.find((l) => l['msg'] === 'extracting');
    assert.equal(started?.['extractor'], 'built-in');
    const resolved = (await readTopic(t.kafka, t.topic('graph.resolve'), 2)).map((m) => decode(m.value));
    const byDoc = new Map(resolved.map((m) => [m.documentId, m]));
    const rels = (id: string) =>
      byDoc
        .get(id)!
        .relations.map((r) => `${r.source} ${r.type} ${r.target}`)
        .sort();
    assert.deepEqual(rels('doc-1'), ['Alice Chen WORKS_AT Initech Inc', 'Initech Inc BASED_IN Oslo']);
    assert.deepEqual(rels('doc-2'), [
      'Bob Stone FOUNDED Acme Robotics',
      'Globex Corp ACQUIRED Acme Robotics',
    ]);
    assert.equal(byDoc.get('globex')?.tenantId, undefined);
    assert.equal(byDoc.get('doc-2')!.tenantId, 'globex');
  });
});

describe('extract pool sharing one request budget (two extractors, one Redis bucket)', () => {
  it('starts at most the burst at once across workers, then the requests per minute', async () => {
    const llm = await startLlmTestDouble(10);
    const redis = new Redis(dev.REDIS_URL, { maxRetriesPerRequest: 2 });
    const cluster = uniqueName('exr');
    const log = createLogger('error', { test: 'extract-budget' });
    try {
      const config = {
        endpoint: llm.url,
        model: 'test-model',
        requestsPerMinute: 120,
        maxConcurrentRequests: 2,
        timeoutMs: 5000,
        maxRetries: 0,
        retryBaseMs: 10,
        retryMaxMs: 100,
      };
      const workers = [1, 2].map(
        () => new ChatCompletionsExtractor(config, { log, shared: sharedRequestBucket(redis, cluster) }),
      );
      const started = Date.now();
      const signal = new AbortController().signal;
      const results = await Promise.all(
        workers.flatMap((w, i) =>
          ['Ann', 'Ben', 'Cat'].map((first) =>
            w.extract(`${first} ${i === 0 ? 'Lee' : 'Moe'} works at Initech Labs.`, signal),
          ),
        ),
      );
      assert.equal(results.length, 6);
      assert.ok(results.every((r) => r.relations[0]?.type === 'WORKS_AT'));
      const offsets = llm.requests.map((r) => r.at - started).sort((a, b) => a - b);
      // Burst 2 for the pool, not 2 per worker; then 2 per second: 4 more take at least 1.5 s.
      assert.ok(offsets.filter((o) => o < 400).length <= 2, `first requests at ${offsets}`);
      assert.ok(offsets[5]! >= 1400, `last request at ${offsets[5]} ms`);
    } finally {
      await redis.del(`engram:${cluster}:c:extract:requests`);
      await redis.quit();
      await llm.close();
    }
  });
});
