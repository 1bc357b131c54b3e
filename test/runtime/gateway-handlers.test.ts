// The gateway's document and query handlers without HTTP: a parsed body in, a status and body out,
// against the real Redis (idempotency, rate limit, query state) and Kafka (ingest.raw, query.pending).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { Counter, Registry } from 'prom-client';
import { createKafka, KafkaProducerTransport } from '../../runtime/adapters/kafka.ts';
import { redisKeys } from '../../runtime/contract/stores.ts';
import { createLogger } from '../../runtime/observability/log.ts';
import { rawDocumentSchema } from '../../runtime/pipeline/messages.ts';
import { DocumentHandlers } from '../../runtime/roles/gateway/document-handlers.ts';
import { HttpError } from '../../runtime/roles/gateway/http-error.ts';
import { DocumentIdempotency } from '../../runtime/roles/gateway/idempotency.ts';
import { QueryHandlers } from '../../runtime/roles/gateway/query-handlers.ts';
import { TenantRateLimiter } from '../../runtime/roles/gateway/rate-limit.ts';
import { requireDevEnv } from '../support/devenv.ts';
import { uniqueName } from '../support/wait.ts';
import { createPipelineTopics, type PipelineTopics, readTopic, topicEndOffsets } from './kafka-fixtures.ts';

const dev = requireDevEnv();
const log = createLogger('error', { test: 'gateway-handlers' });

async function refusal(p: Promise<unknown>): Promise<HttpError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof HttpError, String(err));
    return err;
  }
  assert.fail('expected an HttpError');
}

describe('gateway handlers (no HTTP)', () => {
  const cluster = uniqueName('gwh');
  let topics: PipelineTopics;
  let redis: Redis;
  let producer: KafkaProducerTransport;
  let documents: DocumentHandlers;
  let queries: QueryHandlers;
  const counted = new Counter({
    name: 'test_documents',
    help: 'documents',
    labelNames: ['tenant', 'status'],
    registers: [new Registry()],
  });

  before(async () => {
    topics = await createPipelineTopics(dev.KAFKA_BROKERS, `test.${cluster}`);
    redis = new Redis(dev.REDIS_URL, { maxRetriesPerRequest: 2 });
    producer = new KafkaProducerTransport(
      createKafka(
        {
          brokers: dev.KAFKA_BROKERS.split(','),
          clientId: cluster,
          tls: false,
          sessionTimeoutMs: 10_000,
          rebalanceTimeoutMs: 20_000,
          heartbeatIntervalMs: 500,
        },
        log,
      ),
    );
    await producer.connect();
    const limiter = new TenantRateLimiter(redis, {
      cluster,
      defaults: { documentsPerSecond: 0.01, burst: 4 },
      log,
    });
    documents = new DocumentHandlers({
      topicPrefix: topics.prefix,
      limiter,
      idempotency: new DocumentIdempotency(redis, { cluster, ttlSeconds: 600 }),
      producer,
      limits: {
        maxDocumentBytes: 64 * 1024,
        maxMetadataBytes: 1024,
        maxBatchDocuments: 10,
        rawTopicMaxMessageBytes: 1024 * 1024,
      },
      documents: counted,
      log,
      now: () => 1_700_000_000_000,
    });
    queries = new QueryHandlers({ cluster, topicPrefix: topics.prefix, producer, redis, log });
  });

  after(async () => {
    await producer.close();
    const keys = await redis.keys(`engram:${cluster}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
    await topics.cleanup();
  });

  it('accepts a document once (202), then answers the same content as a duplicate (200)', async () => {
    const first = await documents.document('acme', { id: 'doc-1', content: 'Ada works at Initech.' }, 'r1');
    assert.equal(first.status, 202);
    assert.deepEqual(first.body, { documentId: 'doc-1', status: 'accepted' });
    const again = await documents.document('acme', { id: 'doc-1', content: 'Ada works at Initech.' }, 'r2');
    assert.equal(again.status, 200);
    assert.deepEqual(again.body, { documentId: 'doc-1', status: 'duplicate' });
    const [record] = await readTopic(topics.kafka, topics.topic('ingest.raw'), 1);
    const raw = rawDocumentSchema.parse(JSON.parse(record!.value!.toString()));
    assert.equal(raw.tenantId, 'acme');
    assert.equal(raw.documentId, 'doc-1');
    assert.equal(raw.content, 'Ada works at Initech.');
  });

  it('refuses a body that fails the schema with 422 naming the field, producing nothing', async () => {
    const before = await topicEndOffsets(topics.admin, topics.topic('ingest.raw'));
    const e = await refusal(documents.document('acme', { id: 'doc-2', text: 'wrong field' }, 'r3'));
    assert.equal(e.status, 422);
    assert.match(e.message, /content/);
    assert.equal(await topicEndOffsets(topics.admin, topics.topic('ingest.raw')), before);
  });

  it('refuses a batch larger than the burst with 413, and one the bucket cannot pay with 429', async () => {
    const docs = (n: number, tag: string) =>
      Array.from({ length: n }, (_, i) => ({ id: `${tag}-${i}`, content: `document ${tag} ${i}` }));
    const tooBig = await refusal(documents.batch('bursty', { documents: docs(5, 'big') }, 'r4'));
    assert.equal(tooBig.status, 413);
    assert.equal(tooBig.code, 'batch_exceeds_burst');
    // burst 4: a batch of 4 needs 3 more tokens than admission's one (not taken here), and passes;
    const ok = await documents.batch('bursty', { documents: docs(4, 'ok') }, 'r5');
    assert.equal(ok.status, 202);
    assert.equal((ok.body as { accepted: number }).accepted, 4);
    // the next one finds the bucket nearly empty (0.01 tokens/s) and is told when to come back.
    const limited = await refusal(documents.batch('bursty', { documents: docs(3, 'late') }, 'r6'));
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers['retry-after']) >= 1);
  });

  it('submits a query (202 pending), serves its state, then the result the query role writes', async () => {
    const submitted = await queries.submit('acme', { text: 'who works at Initech?', topK: 3 }, 'r7');
    assert.equal(submitted.status, 202);
    const { queryId } = submitted.body as { queryId: string };
    const [message] = await readTopic(topics.kafka, topics.topic('query.pending'), 1);
    assert.equal(JSON.parse(message!.value!.toString()).queryId, queryId);
    assert.equal((await queries.result('acme', queryId)).status, 202);
    await redis.set(redisKeys.query(cluster, 'acme', queryId), JSON.stringify({ chunks: [] }), 'EX', 60);
    assert.deepEqual(await queries.result('acme', queryId), {
      status: 200,
      body: { queryId, status: 'done', result: { chunks: [] } },
    });
    // Another tenant never sees it.
    assert.equal((await refusal(queries.result('other', queryId))).status, 404);
    assert.equal((await refusal(queries.submit('acme', { topK: 3 }, 'r8'))).status, 422);
  });
});
