// Issue 8, defects 2 and 3, against the real broker: a member evicted from its group (its event
// loop blocked past the session timeout) rejoins and goes on instead of retrying its commit
// forever; a message that keeps failing transiently is dead-lettered after its budget; failures
// while a dependency is down are not counted against the message; a worker with lag and no
// progress fails liveness; one produce larger than a topic's max.message.bytes is split.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createKafka, KafkaConsumerTransport, KafkaProducerTransport } from '../../runtime/adapters/kafka.ts';
import type { KafkaConfig } from '../../runtime/contract/config.ts';
import { TOPIC_MAX_MESSAGE_BYTES } from '../../runtime/contract/topics.ts';
import { TransientError } from '../../runtime/core/errors.ts';
import { startHealthServer } from '../../runtime/core/health-server.ts';
import { createLogger } from '../../runtime/observability/log.ts';
import { createRuntimeMetrics } from '../../runtime/observability/metrics.ts';
import { DLQ_HEADERS } from '../../runtime/worker/dead-letter.ts';
import { type Processor, Worker, type WorkerSettings } from '../../runtime/worker/worker.ts';
import { requireDevEnv } from '../support/devenv.ts';
import { eventually, uniqueName } from '../support/wait.ts';
import {
  committedTotal,
  createPipelineTopics,
  type PipelineTopics,
  readTopic,
  topicEndOffsets,
} from './kafka-fixtures.ts';

const dev = requireDevEnv();
const logLines: Record<string, unknown>[] = [];
const log = createLogger('info', {}, (line) => void logLines.push(JSON.parse(line)));

const SETTINGS: WorkerSettings = {
  batchSize: 4,
  concurrency: 2,
  partitionsConcurrently: 1,
  fetchMinBytes: 1,
  fetchMaxWaitMs: 500,
  maxAttempts: 3,
  maxTransientAttempts: 4,
  retryBaseMs: 20,
  retryMaxMs: 200,
  heartbeatIntervalMs: 500,
  rebalanceTimeoutMs: 20_000,
  progressTimeoutMs: 0,
  dlqMaxMessageBytes: TOPIC_MAX_MESSAGE_BYTES.dlq,
};

function startWorker<T>(
  t: PipelineTopics,
  groupId: string,
  processor: Processor<T>,
  opts: { settings?: Partial<WorkerSettings>; kafka?: Partial<KafkaConfig> } = {},
) {
  const cfg: KafkaConfig = {
    brokers: dev.KAFKA_BROKERS.split(','),
    clientId: 'worker-faults-test',
    tls: false,
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 20_000,
    heartbeatIntervalMs: 500,
    ...opts.kafka,
  };
  const kafka = createKafka(cfg, log);
  const producer = new KafkaProducerTransport(kafka);
  const consumer = new KafkaConsumerTransport(kafka, cfg);
  const metrics = createRuntimeMetrics();
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
    producer,
    started: worker.start(),
    async stop() {
      // A wedged worker may never drain: do not let it hang the suite.
      await Promise.race([worker.stop(), new Promise((r) => setTimeout(r, 15_000))]);
      await producer.close().catch(() => undefined);
    },
  };
}

const text = (m: { value: Buffer | null }) => m.value?.toString() ?? '';

describe('worker framework under faults (real broker)', () => {
  let t: PipelineTopics;
  before(async () => {
    t = await createPipelineTopics(dev.KAFKA_BROKERS, uniqueName('wft'), { 'ingest.raw': 1 });
  });
  after(async () => {
    await t.cleanup();
  });

  const send = async (values: string[]) => {
    const producer = await t.producer();
    await producer.send({
      topic: t.topic('ingest.raw'),
      messages: values.map((value) => ({ key: 'k', value })),
    });
  };
  const end = async () => Number((await t.admin.fetchTopicOffsets(t.topic('ingest.raw')))[0]!.high);
  const startAtEnd = async (groupId: string) =>
    t.admin.setOffsets({
      groupId,
      topic: t.topic('ingest.raw'),
      partitions: [{ partition: 0, offset: String(await end()) }],
    });

  it('an evicted member (UNKNOWN_MEMBER_ID) ends its batch, rejoins and keeps consuming', async () => {
    const groupId = uniqueName('g-evict');
    await startAtEnd(groupId);
    const processed: string[] = [];
    let blocked = false;
    const processor: Processor<string> = {
      decode: text,
      async process(items) {
        if (!blocked && items.some((i) => i.value === 'block')) {
          blocked = true;
          // Block the event loop past the session timeout: no heartbeat gets out, the
          // coordinator evicts the member, and its commit is refused with UNKNOWN_MEMBER_ID.
          const until = Date.now() + 9000;
          while (Date.now() < until) {
            /* busy */
          }
        }
        processed.push(...items.map((i) => i.value));
      },
    };
    const w = startWorker(t, groupId, processor, {
      settings: { batchSize: 1, concurrency: 1 },
      kafka: { sessionTimeoutMs: 6000, heartbeatIntervalMs: 500 },
    });
    await w.started;
    try {
      await send(['block', 'a-1', 'a-2']);
      await eventually('the blocked batch ran', async () => blocked);
      await send(['b-1', 'b-2', 'b-3']);
      const target = await end();
      await eventually(
        'everything committed after the eviction',
        async () => (await committedTotal(t.admin, groupId, t.topic('ingest.raw'))) >= target,
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      for (const v of ['a-1', 'a-2', 'b-1', 'b-2', 'b-3']) assert.ok(processed.includes(v), `${v} processed`);
      assert.ok(
        logLines.some((l) => l['msg'] === 'partitions assigned') &&
          logLines.filter((l) => l['msg'] === 'partitions assigned').length >= 2,
        'the member rejoined the group',
      );
      const evidence = logLines.filter((l) =>
        /UNKNOWN_MEMBER_ID|not aware of this member/.test(JSON.stringify(l)),
      );
      assert.ok(evidence.length > 0, 'the member was evicted (the broker answered UNKNOWN_MEMBER_ID)');
      process.stdout.write(
        `# eviction seen as: ${[...new Set(evidence.map((l) => l['msg']))].join(' | ')}\n`,
      );
    } finally {
      await w.stop();
    }
  });

  it('dead-letters a message that keeps failing transiently after its budget, with the last error', async () => {
    const groupId = uniqueName('g-transient');
    await startAtEnd(groupId);
    const values = ['t-0', 't-1', 'slow-2', 't-3', 't-4'];
    const processed: string[] = [];
    const processor: Processor<string> = {
      decode: text,
      async process(items) {
        if (items.some((i) => i.value === 'slow-2'))
          throw new TransientError('transaction timed out: this message is too slow to write');
        processed.push(...items.map((i) => i.value));
      },
    };
    const dlqBefore = await topicEndOffsets(t.admin, t.topic('dlq'));
    const w = startWorker(t, groupId, processor);
    await w.started;
    try {
      await send(values);
      const target = await end();
      await eventually(
        'committed past the slow message',
        async () => (await committedTotal(t.admin, groupId, t.topic('ingest.raw'))) >= target,
        { timeoutMs: 30_000 },
      );
      assert.deepEqual([...new Set(processed)].sort(), ['t-0', 't-1', 't-3', 't-4']);
      const dlq = await readTopic(t.kafka, t.topic('dlq'), dlqBefore + 1);
      const dead = dlq.find((m) => text(m) === 'slow-2')!;
      assert.equal(dead.headers[DLQ_HEADERS.reason], 'exhausted');
      assert.equal(dead.headers[DLQ_HEADERS.failure], 'transient');
      assert.equal(dead.headers[DLQ_HEADERS.attempts], String(SETTINGS.maxTransientAttempts));
      assert.match(dead.headers[DLQ_HEADERS.error]!, /too slow to write/);
    } finally {
      await w.stop();
    }
  });

  it('does not count failures while the processor reports its store down, and goes on once it is back', async () => {
    const groupId = uniqueName('g-down');
    await startAtEnd(groupId);
    const dlqBefore = await topicEndOffsets(t.admin, t.topic('dlq'));
    let failures = 0;
    let storeDown = true;
    const processed: string[] = [];
    const processor: Processor<string> = {
      decode: text,
      async process(items) {
        if (storeDown) {
          failures++;
          throw new Error('write failed: the driver could not get a connection');
        }
        processed.push(...items.map((i) => i.value));
      },
      unavailable: async () => (storeDown ? 'neo4j: connection refused' : undefined),
    };
    const w = startWorker(t, groupId, processor, { settings: { batchSize: 2 } });
    await w.started;
    try {
      await send(['d-0', 'd-1', 'd-2']);
      await eventually('failed far more often than the budgets', async () => failures > 12, {
        timeoutMs: 30_000,
      });
      storeDown = false;
      const target = await end();
      await eventually(
        'committed once the store is back',
        async () => (await committedTotal(t.admin, groupId, t.topic('ingest.raw'))) >= target,
        { timeoutMs: 30_000 },
      );
      assert.deepEqual([...new Set(processed)].sort(), ['d-0', 'd-1', 'd-2']);
      assert.equal(await topicEndOffsets(t.admin, t.topic('dlq')), dlqBefore, 'nothing was dead-lettered');
    } finally {
      await w.stop();
    }
  });

  it('fails liveness while it has lag and finishes nothing, and recovers when work moves again', async () => {
    const groupId = uniqueName('g-stall');
    await startAtEnd(groupId);
    let release: () => void = () => undefined;
    const hung = new Promise<void>((r) => {
      release = r;
    });
    const processor: Processor<string> = {
      decode: text,
      async process(items) {
        if (items.some((i) => i.value === 'hang')) await hung;
      },
    };
    const w = startWorker(t, groupId, processor, {
      settings: { progressTimeoutMs: 2000, batchSize: 1, concurrency: 1 },
    });
    const health = await startHealthServer(0, w.metrics.registry, '127.0.0.1');
    health.addLivenessCheck({ name: 'progress', check: () => w.worker.live() });
    const healthz = async () => {
      const res = await fetch(`http://127.0.0.1:${health.port}/healthz`);
      return { status: res.status, body: await res.text() };
    };
    await w.started;
    try {
      await send(['hang', 'behind-1', 'behind-2']);
      assert.equal((await healthz()).status, 200);
      const stalled = await eventually(
        '/healthz fails',
        async () => {
          const h = await healthz();
          return h.status === 503 && h;
        },
        { timeoutMs: 30_000 },
      );
      assert.match(stalled.body, /progress: no message finished for \d+ s while \d+ wait/);
      release();
      const target = await end();
      await eventually(
        'caught up',
        async () => (await committedTotal(t.admin, groupId, t.topic('ingest.raw'))) >= target,
      );
      await eventually('/healthz ok again', async () => (await healthz()).status === 200);
    } finally {
      release();
      await health.close();
      await w.stop();
    }
  });

  it('tells a Kafka problem everyone has (a missing topic) from a message of its own', async () => {
    const kafka = createKafka(
      {
        brokers: dev.KAFKA_BROKERS.split(','),
        clientId: 'probe-test',
        tls: false,
        sessionTimeoutMs: 10_000,
        rebalanceTimeoutMs: 20_000,
        heartbeatIntervalMs: 1000,
      },
      log,
    );
    const producer = new KafkaProducerTransport(kafka);
    assert.equal(await producer.unreachable([t.topic('ingest.embed'), t.topic('ingest.extract')]), undefined);
    assert.match((await producer.unreachable([`${t.prefix}.no-such-topic`])) ?? '', /^kafka: /);
  });

  it('splits one produce larger than a topic takes into requests it accepts', async () => {
    const kafka = createKafka(
      {
        brokers: dev.KAFKA_BROKERS.split(','),
        clientId: 'split-test',
        tls: false,
        sessionTimeoutMs: 10_000,
        rebalanceTimeoutMs: 20_000,
        heartbeatIntervalMs: 1000,
      },
      log,
    );
    const producer = new KafkaProducerTransport(kafka);
    const topic = t.topic('ingest.embed'); // 1 MiB max.message.bytes, as the operator creates it
    try {
      const before = await topicEndOffsets(t.admin, topic);
      const messages = Array.from({ length: 3000 }, (_, i) => ({
        key: 'same-key',
        value: `${i}:${'c'.repeat(2000)}`,
      }));
      await producer.send([{ topic, messages }]);
      assert.equal((await topicEndOffsets(t.admin, topic)) - before, 3000, '6 MB in one send, all accepted');
      const read = await readTopic(t.kafka, topic, before + 3000);
      const mine = read.filter((m) => m.key === 'same-key').map((m) => Number(text(m).split(':')[0]));
      assert.deepEqual(
        mine,
        [...mine].sort((a, b) => a - b),
        'one key keeps its order across requests',
      );
    } finally {
      await producer.close();
    }
  });
});
