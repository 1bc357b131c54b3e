// The gateway as a real process: per-tenant API keys from a mounted directory, refusals with the
// right status and message, per-tenant rate limits in Redis, idempotent ingestion, and nothing on
// Kafka for a refused request.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { apiKeyHash, tenantKeyFileContent } from '../../runtime/contract/tenants.ts';
import { queryRequestSchema, rawDocumentSchema, sha256 } from '../../runtime/pipeline/messages.ts';
import { requireDevEnv } from '../support/devenv.ts';
import { eventually, uniqueName } from '../support/wait.ts';
import { createPipelineTopics, type PipelineTopics, readTopic, topicEndOffsets } from './kafka-fixtures.ts';
import { type RuntimeProcess, runtimeEnvFor, spawnRuntime } from './runtime-process.ts';

const dev = requireDevEnv();
const KEYS = {
  acme: 'egk_acme_0123456789abcdef',
  globex: 'egk_globex_fedcba9876543210',
  tiny: 'egk_tiny_x1',
};

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe('gateway role (child process)', () => {
  let t: PipelineTopics;
  let proc: RuntimeProcess;
  let base: string;
  let keysDir: string;
  const cluster = uniqueName('gw');

  const call = async (
    path: string,
    opts: {
      key?: string | undefined;
      body?: unknown;
      raw?: string | Buffer;
      type?: string;
      method?: string;
    } = {},
  ) => {
    const headers: Record<string, string> = { 'content-type': opts.type ?? 'application/json' };
    if (opts.key) headers['authorization'] = `Bearer ${opts.key}`;
    const res = await fetch(`${base}${path}`, {
      method: opts.method ?? 'POST',
      headers,
      ...(opts.method !== 'GET' && { body: opts.raw ?? JSON.stringify(opts.body) }),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
  };

  before(async () => {
    t = await createPipelineTopics(dev.KAFKA_BROKERS, uniqueName('gwt'));
    keysDir = mkdtempSync(join(tmpdir(), 'engram-keys-'));
    for (const [tenant, key] of Object.entries(KEYS))
      writeFileSync(join(keysDir, tenant), tenantKeyFileContent([apiKeyHash(key)]));
    writeFileSync(join(keysDir, '..data'), 'ignored: Secret volume internals');
    const quotas = join(keysDir, '..quotas.json');
    writeFileSync(quotas, JSON.stringify({ tiny: { documentsPerSecond: 0.2, burst: 3 } }));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    proc = spawnRuntime(
      'gateway',
      runtimeEnvFor(dev, {
        ENGRAM_CLUSTER: cluster,
        ENGRAM_TOPIC_PREFIX: t.prefix,
        ENGRAM_HTTP_PORT: String(port),
        ENGRAM_TENANT_KEYS_DIR: keysDir,
        ENGRAM_TENANT_QUOTAS_FILE: quotas,
        ENGRAM_MAX_BODY_BYTES: String(64 * 1024),
        ENGRAM_MAX_DOCUMENT_BYTES: String(16 * 1024),
        ENGRAM_MAX_BATCH_DOCUMENTS: '50',
      }),
    );
    await proc.waitForLog('running');
  });
  after(async () => {
    await proc?.stop('SIGKILL');
    await t?.cleanup();
    rmSync(keysDir, { recursive: true, force: true });
  });

  it('refuses bad requests with the right status and message, and produces nothing for them', async () => {
    const doc = { id: 'doc-1', content: 'Refused documents never reach Kafka.' };
    const cases: {
      name: string;
      status: number;
      code: string;
      message: RegExp;
      res: Promise<Awaited<ReturnType<typeof call>>>;
    }[] = [
      {
        name: 'no key',
        status: 401,
        code: 'unauthenticated',
        message: /missing API key/,
        res: call('/v1/tenants/acme/documents', { body: doc }),
      },
      {
        name: 'wrong key',
        status: 401,
        code: 'unauthenticated',
        message: /invalid API key for tenant acme/,
        res: call('/v1/tenants/acme/documents', { key: 'egk_acme_wrong', body: doc }),
      },
      {
        name: "another tenant's key",
        status: 403,
        code: 'forbidden',
        message: /belongs to another tenant, not to acme/,
        res: call('/v1/tenants/acme/documents', { key: KEYS.globex, body: doc }),
      },
      {
        name: 'unknown tenant',
        status: 401,
        code: 'unauthenticated',
        message: /invalid API key for tenant nobody/,
        res: call('/v1/tenants/nobody/documents', { key: 'whatever', body: doc }),
      },
      {
        name: 'not JSON content type',
        status: 415,
        code: 'unsupported_media_type',
        message: /application\/json/,
        res: call('/v1/tenants/acme/documents', { key: KEYS.acme, raw: 'hello', type: 'text/plain' }),
      },
      {
        name: 'malformed JSON',
        status: 400,
        code: 'malformed_json',
        message: /not valid JSON/,
        res: call('/v1/tenants/acme/documents', { key: KEYS.acme, raw: '{"id": "x", "content": ' }),
      },
      {
        name: 'missing content',
        status: 422,
        code: 'invalid_body',
        message: /content/,
        res: call('/v1/tenants/acme/documents', { key: KEYS.acme, body: { id: 'x' } }),
      },
      {
        name: 'unknown field',
        status: 422,
        code: 'invalid_body',
        message: /Unrecognized key/i,
        res: call('/v1/tenants/acme/documents', { key: KEYS.acme, body: { ...doc, tenant: 'globex' } }),
      },
      {
        name: 'bad document id',
        status: 422,
        code: 'invalid_body',
        message: /id/,
        res: call('/v1/tenants/acme/documents', { key: KEYS.acme, body: { id: 'has space', content: 'x' } }),
      },
      {
        name: 'oversized body',
        status: 413,
        code: 'payload_too_large',
        message: /exceeds 65536 bytes/,
        res: call('/v1/tenants/acme/documents', { key: KEYS.acme, body: { content: 'x'.repeat(100_000) } }),
      },
      {
        name: 'oversized document',
        status: 413,
        code: 'document_too_large',
        message: /over 16384 bytes \(ENGRAM_MAX_DOCUMENT_BYTES\)/,
        res: call('/v1/tenants/acme/documents', { key: KEYS.acme, body: { content: 'y'.repeat(20_000) } }),
      },
      {
        name: 'empty batch',
        status: 422,
        code: 'invalid_body',
        message: /documents must not be empty/,
        res: call('/v1/tenants/acme/documents/batch', { key: KEYS.acme, body: { documents: [] } }),
      },
      {
        name: 'batch too long',
        status: 422,
        code: 'invalid_body',
        message: /at most 50 documents/,
        res: call('/v1/tenants/acme/documents/batch', {
          key: KEYS.acme,
          body: { documents: Array.from({ length: 51 }, (_, i) => ({ content: `d${i}` })) },
        }),
      },
      {
        name: 'duplicate ids in a batch',
        status: 422,
        code: 'invalid_body',
        message: /documents.1.id duplicates documents.0.id/,
        res: call('/v1/tenants/acme/documents/batch', { key: KEYS.acme, body: { documents: [doc, doc] } }),
      },
      {
        name: 'unknown route',
        status: 404,
        code: 'not_found',
        message: /no route/,
        res: call('/v1/tenants/acme/elsewhere', { key: KEYS.acme, body: doc }),
      },
      {
        name: 'wrong method',
        status: 405,
        code: 'method_not_allowed',
        message: /use POST/,
        res: call('/v1/tenants/acme/documents', { key: KEYS.acme, method: 'GET' }),
      },
    ];
    for (const c of cases) {
      const r = await c.res;
      assert.equal(r.status, c.status, `${c.name}: ${JSON.stringify(r.json)}`);
      assert.equal(r.json.error.code, c.code, c.name);
      assert.match(r.json.error.message, c.message, c.name);
    }
    const wrong = await cases[1]!.res;
    assert.equal(wrong.headers.get('www-authenticate'), 'Bearer realm="engram"');
    assert.ok((await cases[7]!.res).json.error.details.length > 0, 'schema errors list the issues');

    // Over quota: burst 3, refill 0.2/s.
    const tiny = (id: string) =>
      call('/v1/tenants/tiny/documents', { key: KEYS.tiny, body: { id, content: `tiny ${id}` } });
    for (const id of ['t1', 't2', 't3']) assert.equal((await tiny(id)).status, 202, id);
    const over = await tiny('t4');
    assert.equal(over.status, 429);
    assert.equal(over.json.error.code, 'rate_limited');
    assert.match(over.json.error.message, /tenant tiny is over its rate limit \(0.2 documents\/s, burst 3\)/);
    assert.ok(Number(over.headers.get('retry-after')) >= 1);
    const bigBatch = await call('/v1/tenants/tiny/documents/batch', {
      key: KEYS.tiny,
      body: { documents: Array.from({ length: 4 }, (_, i) => ({ content: `b${i}` })) },
    });
    assert.equal(bigBatch.status, 429, 'an empty bucket refuses before the body is read');
    assert.equal(bigBatch.json.error.code, 'rate_limited');

    // Only the three accepted tiny documents reached Kafka; give a stray produce time to show up.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await topicEndOffsets(t.admin, t.topic('ingest.raw')), 3);
    const produced = await readTopic(t.kafka, t.topic('ingest.raw'), 3);
    assert.deepEqual(produced.map((m) => m.key).sort(), ['tiny/t1', 'tiny/t2', 'tiny/t3']);
  });

  it('ingests single and batch documents once per (id, content), keyed by tenant and document', async () => {
    const before = await topicEndOffsets(t.admin, t.topic('ingest.raw'));
    const one = {
      id: 'doc-1',
      content: 'Engram keeps memories for agents.',
      metadata: { source: 'test', page: 3 },
    };
    const first = await call('/v1/tenants/acme/documents', { key: KEYS.acme, body: one });
    assert.equal(first.status, 202);
    assert.deepEqual(first.json, { documentId: 'doc-1', status: 'accepted' });
    const again = await call('/v1/tenants/acme/documents', { key: KEYS.acme, body: one });
    assert.equal(again.status, 200);
    assert.deepEqual(again.json, { documentId: 'doc-1', status: 'duplicate' });
    const edited = await call('/v1/tenants/acme/documents', {
      key: KEYS.acme,
      body: { ...one, content: 'Edited.' },
    });
    assert.equal(edited.status, 202, 'new content under the same id is a new version');

    const noId = { content: 'A document without a client id is keyed by its content.' };
    const batch = await call('/v1/tenants/globex/documents/batch', {
      key: KEYS.globex,
      body: {
        documents: [{ id: 'g-1', content: 'Globex one.' }, { id: 'g-2', content: 'Globex two.' }, noId],
      },
    });
    assert.equal(batch.status, 202);
    assert.equal(batch.json.accepted, 3);
    assert.equal(batch.json.documents[2].documentId, sha256(noId.content).slice(0, 32));
    const batchAgain = await call('/v1/tenants/globex/documents/batch', {
      key: KEYS.globex,
      body: {
        documents: [{ id: 'g-1', content: 'Globex one.' }, { id: 'g-3', content: 'Globex three.' }, noId],
      },
    });
    assert.deepEqual(
      batchAgain.json.documents.map((d: { status: string }) => d.status),
      ['duplicate', 'accepted', 'duplicate'],
    );

    const produced = await readTopic(t.kafka, t.topic('ingest.raw'), before + 6);
    const docs = produced.slice(0).filter((m) => !m.key!.startsWith('tiny/'));
    assert.equal(docs.length, 6, 'doc-1 twice (two versions), g-1, g-2, no-id, g-3');
    for (const m of docs) {
      const raw = rawDocumentSchema.parse(JSON.parse(m.value!.toString()));
      assert.equal(m.key, `${raw.tenantId}/${raw.documentId}`);
      assert.equal(raw.contentHash, sha256(raw.content));
    }
    const acmeDoc = docs
      .map((m) => rawDocumentSchema.parse(JSON.parse(m.value!.toString())))
      .find((d) => d.content === one.content)!;
    assert.deepEqual(acmeDoc.metadata, one.metadata);
  });

  it('accepts queries, reports them pending, and 404s unknown ones', async () => {
    const q = await call('/v1/tenants/acme/queries', {
      key: KEYS.acme,
      body: { text: 'what does engram keep?', topK: 5 },
    });
    assert.equal(q.status, 202);
    const [msg] = await readTopic(t.kafka, t.topic('query.pending'), 1);
    const parsed = queryRequestSchema.parse(JSON.parse(msg!.value!.toString()));
    assert.equal(parsed.queryId, q.json.queryId);
    assert.equal(msg!.key, `acme/${q.json.queryId}`);
    const state = await call(`/v1/tenants/acme/queries/${q.json.queryId}`, { key: KEYS.acme, method: 'GET' });
    assert.equal(state.status, 202);
    assert.equal(state.json.status, 'pending');
    const other = await call(`/v1/tenants/globex/queries/${q.json.queryId}`, {
      key: KEYS.globex,
      method: 'GET',
    });
    assert.equal(other.status, 404, "another tenant cannot see acme's query");
  });

  it('picks up a new tenant key without a restart', async () => {
    const key = 'egk_initech_new';
    const body = { content: 'Hello from a tenant created after start.' };
    assert.equal((await call('/v1/tenants/initech/documents', { key, body })).status, 401);
    writeFileSync(join(keysDir, 'initech'), tenantKeyFileContent([apiKeyHash(key)]));
    await eventually(
      'new key accepted',
      async () => (await call('/v1/tenants/initech/documents', { key, body })).status === 202,
      { timeoutMs: 15_000, intervalMs: 500 },
    );
  });

  it('logs JSON without API keys or store passwords', () => {
    const all = JSON.stringify(proc.logs);
    assert.ok(proc.logs.length > 0);
    assert.ok(proc.logs.every((l) => typeof l['ts'] === 'string' && typeof l['level'] === 'string'));
    for (const secret of [...Object.values(KEYS), dev.NEO4J_PASSWORD]) {
      assert.ok(!all.includes(secret), 'a secret leaked into the logs');
    }
  });
});

describe('gateway with its Redis unreachable', () => {
  let t: PipelineTopics;
  let proc: RuntimeProcess;
  let keysDir: string;

  after(async () => {
    await proc?.stop('SIGKILL');
    await t?.cleanup();
    rmSync(keysDir, { recursive: true, force: true });
  });

  it('answers 503 with Retry-After, reports not ready, and produces nothing', async () => {
    t = await createPipelineTopics(dev.KAFKA_BROKERS, uniqueName('gwd'));
    keysDir = mkdtempSync(join(tmpdir(), 'engram-keys-'));
    writeFileSync(join(keysDir, 'acme'), tenantKeyFileContent([apiKeyHash(KEYS.acme)]));
    const [port, deadRedis] = [await freePort(), await freePort()];
    proc = spawnRuntime(
      'gateway',
      runtimeEnvFor(dev, {
        ENGRAM_CLUSTER: uniqueName('gwd'),
        ENGRAM_TOPIC_PREFIX: t.prefix,
        ENGRAM_HTTP_PORT: String(port),
        ENGRAM_TENANT_KEYS_DIR: keysDir,
        ENGRAM_REDIS_URL: `redis://127.0.0.1:${deadRedis}`,
      }),
    );
    await proc.waitForLog('running');
    const res = await fetch(`http://127.0.0.1:${port}/v1/tenants/acme/documents`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS.acme}` },
      body: JSON.stringify({ content: 'Redis is down.' }),
    });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '1');
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'unavailable');
    const metricsPort = (await proc.waitForLog('starting'))['metricsPort'] as number;
    const ready = await fetch(`http://127.0.0.1:${metricsPort}/readyz`);
    assert.equal(ready.status, 503);
    assert.match(await ready.text(), /redis: redis (connecting|reconnecting|close)/);
    assert.equal(await topicEndOffsets(t.admin, t.topic('ingest.raw')), 0);
  });
});
