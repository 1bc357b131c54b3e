// The worker framework against the real broker: retries, dead-lettering, heartbeats through a
// batch longer than the session timeout, and a graceful stop that drains and commits.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createKafka, KafkaConsumerTransport, KafkaProducerTransport } from '../../runtime/adapters/kafka.ts';
import type { KafkaConfig } from '../../runtime/contract/config.ts';
import { TOPIC_MAX_MESSAGE_BYTES } from '../../runtime/contract/topics.ts';
import { PoisonMessageError, TransientError } from '../../runtime/core/errors.ts';
import { createLogger } from '../../runtime/observability/log.ts';
import { createRuntimeMetrics } from '../../runtime/observability/metrics.ts';
import { DLQ_HEADERS } from '../../runtime/worker/dead-letter.ts';
import { type Processor, Worker, type WorkerSettings } from '../../runtime/worker/worker.ts';
import { requireDevEnv } from '../support/devenv.ts';
import { eventually, uniqueName } from '../support/wait.ts';
import { committedTotal, createPipelineTopics, type PipelineTopics, readTopic } from './kafka-fixtures.ts';

const dev = requireDevEnv();
const log = createLogger('error', {}, () => undefined);

const SETTINGS: WorkerSettings = {
  batchSize: 4,
  concurrency: 2,
  partitionsConcurrently: 1,
  fetchMinBytes: 1,
  fetchMaxWaitMs: 500,
  maxAttempts: 3,
  maxTransientAttempts: 6,
  retryBaseMs: 20,
  retryMaxMs: 200,
  heartbeatIntervalMs: 500,
  rebalanceTimeoutMs: 20_000,
  progressTimeoutMs: 0,
  dlqMaxMessageBytes: TOPIC_MAX_MESSAGE_BYTES.dlq,
};

function kafkaConfig(overrides: Partial<KafkaConfig> = {}): KafkaConfig {
  return {
    brokers: dev.KAFKA_BROKERS.split(','),
    clientId: 'worker-test',
    tls: false,
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 20_000,
    heartbeatIntervalMs: 500,
    ...overrides,
  };
}

function startWorker<T>(
  t: PipelineTopics,
  groupId: string,
  processor: Processor<T>,
  opts: { settings?: Partial<WorkerSettings>; kafka?: Partial<KafkaConfig>; onAssignment?: () => void } = {},
) {
  const cfg = kafkaConfig(opts.kafka);
  const kafka = createKafka(cfg, log);
  const producer = new KafkaProducerTransport(kafka);
  const consumer = new KafkaConsumerTransport(kafka, cfg);
  const metrics = createRuntimeMetrics();
  if (opts.onAssignment) {
    const start = consumer.start.bind(consumer);
    consumer.start = (o) => start({ ...o, onAssignment: () => opts.onAssignment?.() });
  }
  const worker = new Worker<T>({
    role: 'test',
    topic: t.topic('ingest.raw'),
    dlqTopic: t.topic('dlq'),
    groupId,
    consumer,
    producer,
    processor,
    settings: { ...SETTINGS, ...opts.settings },
    log,
    metrics: metrics.worker,
  });
  return {
    worker,
    metrics,
    started: worker.start(),
    async stop() {
      await worker.stop();
      await producer.close();
    },
  };
}

const text = (m: { value: Buffer | null }) => m.value?.toString() ?? '';

describe('worker framework', () => {
  let t: PipelineTopics;
  before(async () => {
    t = await createPipelineTopics(dev.KAFKA_BROKERS, uniqueName('wrk'), { 'ingest.raw': 1 });
  });
  after(async () => {
    await t.cleanup();
  });

  it('retries transient failures, dead-letters poison and exhausted messages, and keeps the partition flowing', async () => {
    const groupId = uniqueName('g-retry');
    const producer = await t.producer();
    const values = ['ok-0', 'ok-1', 'poison-2', 'ok-3', 'fails-4', 'ok-5', 'ok-6', 'ok-7', 'ok-8', 'ok-9'];
    await producer.send({
      topic: t.topic('ingest.raw'),
      messages: values.map((value) => ({ key: 'k', value })),
    });

    const processed: string[] = [];
    let transientLeft = 2;
    const processor: Processor<string> = {
      decode: (m) => {
        const v = text(m);
        if (v.startsWith('poison')) throw new PoisonMessageError(`cannot decode ${v}`);
        return v;
      },
      async process(items) {
        if (transientLeft > 0) {
          transientLeft--;
          throw new TransientError('neo4j is restarting');
        }
        if (items.some((i) => i.value.startsWith('fails'))) throw new Error('constraint violated by fails-4');
        processed.push(...items.map((i) => i.value));
      },
    };
    const w = startWorker(t, groupId, processor);
    await w.started;
    try {
      await eventually(
        'committed offset reaches the end',
        async () => (await committedTotal(t.admin, groupId, t.topic('ingest.raw'))) === values.length,
        { timeoutMs: 30_000 },
      );
      assert.deepEqual([...new Set(processed)].sort(), values.filter((v) => v.startsWith('ok')).sort());

      const dlq = await readTopic(t.kafka, t.topic('dlq'), 2);
      const byValue = new Map(dlq.map((m) => [text(m), m.headers]));
      const poison = byValue.get('poison-2')!;
      assert.equal(poison[DLQ_HEADERS.reason], 'poison');
      assert.equal(poison[DLQ_HEADERS.attempts], '1');
      assert.match(poison[DLQ_HEADERS.error]!, /PoisonMessageError: cannot decode poison-2/);
      assert.equal(poison[DLQ_HEADERS.sourceTopic], t.topic('ingest.raw'));
      assert.equal(poison[DLQ_HEADERS.sourcePartition], '0');
      assert.equal(poison[DLQ_HEADERS.sourceOffset], '2');
      const failed = byValue.get('fails-4')!;
      assert.equal(failed[DLQ_HEADERS.reason], 'exhausted');
      assert.equal(failed[DLQ_HEADERS.attempts], String(SETTINGS.maxAttempts));
      assert.match(failed[DLQ_HEADERS.error]!, /constraint violated/);
      assert.equal(failed[DLQ_HEADERS.sourceOffset], '4');

      const metrics = await w.metrics.registry.getMetricsAsJSON();
      const value = (name: string, labels: Record<string, string>) =>
        metrics
          .find((m) => m.name === name)
          ?.values.filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
          .reduce((n, v) => n + v.value, 0);
      assert.equal(value('engram_messages_dead_lettered_total', { reason: 'poison' }), 1);
      assert.equal(value('engram_messages_dead_lettered_total', { reason: 'exhausted' }), 1);
      assert.ok((value('engram_messages_failed_total', { reason: 'transient' }) ?? 0) >= 2);
      assert.equal(value('engram_consumer_lag', {}), 0);
    } finally {
      await w.stop();
    }
  });

  it('heartbeats through a batch longer than the session timeout without losing the partition', async () => {
    const groupId = uniqueName('g-slow');
    const topic = t.topic('ingest.raw');
    const before = await committedTotal(t.admin, groupId, topic);
    assert.equal(before, 0);
    const producer = await t.producer();
    await producer.send({ topic, messages: [{ key: 'k', value: 'slow' }] });
    const end = Number((await t.admin.fetchTopicOffsets(topic))[0]!.high);
    let calls = 0;
    let assignments = 0;
    const processor: Processor<string> = {
      decode: text,
      async process(items) {
        if (items.some((i) => i.value === 'slow')) {
          calls++;
          await new Promise((r) => setTimeout(r, 9000)); // session timeout is 6 s
        }
      },
    };
    const w = startWorker(t, groupId, processor, {
      kafka: { sessionTimeoutMs: 6000, heartbeatIntervalMs: 500 },
      onAssignment: () => void assignments++,
    });
    await w.started;
    try {
      await eventually(
        'slow message committed',
        async () => (await committedTotal(t.admin, groupId, topic)) >= end,
        { timeoutMs: 40_000 },
      );
      assert.equal(calls, 1, 'the slow message ran once: no eviction, no redelivery');
      assert.equal(assignments, 1, 'no rebalance happened');
    } finally {
      await w.stop();
    }
  });

  it('a graceful stop finishes the group in hand, commits it, and the next worker takes only the rest', async () => {
    const groupId = uniqueName('g-drain');
    const topic = t.topic('ingest.raw');
    const start = Number((await t.admin.fetchTopicOffsets(topic))[0]!.high);
    const producer = await t.producer();
    const values = Array.from({ length: 12 }, (_, i) => `d-${i}`);
    await producer.send({ topic, messages: values.map((value) => ({ key: 'k', value })) });
    // Start this group at the new messages only: commit the earlier offsets first.
    await t.admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: String(start) }] });

    const first: string[] = [];
    let inGroup = false;
    const slow: Processor<string> = {
      decode: text,
      async process(items) {
        inGroup = true;
        await new Promise((r) => setTimeout(r, 1500));
        first.push(...items.map((i) => i.value));
      },
    };
    const w1 = startWorker(t, groupId, slow, { settings: { batchSize: 3, concurrency: 1 } });
    await w1.started;
    await eventually('first group in flight', async () => inGroup);
    await w1.stop();
    assert.ok(first.length >= 3 && first.length < values.length, `drained ${first.length}`);
    const committed = (await committedTotal(t.admin, groupId, topic)) - start;
    assert.equal(committed, first.length, 'everything finished before the stop is committed, nothing more');

    const second: string[] = [];
    const fast: Processor<string> = {
      decode: text,
      process: async (items) => void second.push(...items.map((i) => i.value)),
    };
    const w2 = startWorker(t, groupId, fast);
    await w2.started;
    try {
      await eventually('rest processed', async () => first.length + second.length >= values.length);
      assert.deepEqual([...first, ...second].sort(), [...values].sort(), 'no loss, no duplicate');
    } finally {
      await w2.stop();
    }
  });

  it('a caught-up worker waits for fetchMinBytes up to fetchMaxWaitMs, so a trickle arrives in fuller groups', async () => {
    const MESSAGES = 40;
    const consume = async (fetch: Pick<WorkerSettings, 'fetchMinBytes' | 'fetchMaxWaitMs'>) => {
      const topics = await createPipelineTopics(dev.KAFKA_BROKERS, uniqueName('wrkf'), { 'ingest.raw': 1 });
      const groups: number[] = [];
      let assigned!: () => void;
      const ready = new Promise<void>((resolve) => {
        assigned = resolve;
      });
      const w = startWorker(
        topics,
        uniqueName('g-fetch'),
        {
          decode: text,
          async process(items) {
            groups.push(items.length);
          },
        },
        { settings: { batchSize: 256, ...fetch }, onAssignment: () => assigned() },
      );
      try {
        await ready;
        const producer = await topics.producer();
        const started = performance.now();
        for (let i = 0; i < MESSAGES; i++) {
          await producer.send({
            topic: topics.topic('ingest.raw'),
            messages: [{ key: 'k', value: `m-${i}` }],
          });
          await new Promise((r) => setTimeout(r, 25));
        }
        const sendingMs = performance.now() - started;
        await eventually(
          'every message processed',
          async () => groups.reduce((a, b) => a + b, 0) === MESSAGES,
          {
            timeoutMs: 30_000,
          },
        );
        return { groups, sendingMs };
      } finally {
        await w.stop();
        await topics.cleanup();
      }
    };
    const eager = await consume({ fetchMinBytes: 1, fetchMaxWaitMs: 500 });
    const lingering = await consume({ fetchMinBytes: 1_000_000, fetchMaxWaitMs: 700 });
    // One fetch per 700 ms window while the trickle lasts, plus the one in flight at its start and end.
    const windows = Math.ceil(lingering.sendingMs / 700) + 2;
    assert.ok(
      lingering.groups.length <= windows,
      `lingering fetches gave ${lingering.groups.length} groups (${lingering.groups}) over ${Math.round(lingering.sendingMs)} ms`,
    );
    assert.ok(
      eager.groups.length > lingering.groups.length,
      `eager ${eager.groups.length} groups, lingering ${lingering.groups.length}`,
    );
  });
});
