// The gateway's answers to hostile and mistaken requests, as a real process on the real Kafka and
// Redis: a bad URL never kills it, invalid UTF-8 is refused with where it is, sizes are counted as
// produced (JSON escapes included), a request that can never pass is not invited to retry, cheap
// refusals come before parsing, concurrency is bounded, and /readyz means ready.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { requireDevEnv } from '../support/devenv.ts';
import { uniqueName } from '../support/wait.ts';
import {
  eventually,
  freePort,
  metricsText,
  rawRequest,
  readiness,
  startGateway,
  type TestGateway,
} from './gateway-fixtures.ts';
import { createPipelineTopics, readTopic, topicEndOffsets } from './kafka-fixtures.ts';

const dev = requireDevEnv();
const KEYS = { acme: 'egk_acme_0123456789abcdef', tiny: 'egk_tiny_x1', small: 'egk_small_x2' };

describe('gateway refusals (child process)', () => {
  let gw: TestGateway;
  const raw = () => gw.topics.topic('ingest.raw');

  before(async () => {
    gw = await startGateway(dev, {
      keys: KEYS,
      quotas: {
        tiny: { documentsPerSecond: 0.2, burst: 3 },
        small: { documentsPerSecond: 0.2, burst: 3 },
      },
      env: {
        ENGRAM_MAX_BODY_BYTES: String(64 * 1024),
        ENGRAM_MAX_DOCUMENT_BYTES: String(16 * 1024),
        ENGRAM_MAX_BATCH_DOCUMENTS: '50',
        ENGRAM_MAX_METADATA_BYTES: '1024',
      },
    });
  });
  after(async () => {
    await gw?.stop();
  });

  it('answers a malformed percent-escape in the path with 400 and stays up', async () => {
    for (const path of [
      '/v1/tenants/%zz/documents',
      '/v1/tenants/%/documents',
      '/v1/tenants/acme/queries/%E0%A4%A',
      '/v1/tenants/%C0%AF/documents/batch',
    ]) {
      const r = await rawRequest(
        gw.port,
        `POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}`,
      );
      assert.ok(r.status !== undefined && r.status >= 400 && r.status < 500, `${path}: ${r.head}`);
      assert.match(JSON.parse(r.body).error.message, /path|URL|url/, path);
    }
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(gw.proc.child.exitCode, null, 'the gateway is still running');
    const ok = await gw.call('/v1/tenants/acme/documents', { key: KEYS.acme, body: { content: 'still up' } });
    assert.equal(ok.status, 202);
  });

  it('refuses invalid UTF-8 and lone surrogates with 400 saying where, and produces nothing', async () => {
    const before = await topicEndOffsets(gw.topics.admin, raw());
    const prefix = Buffer.from('{"content":"ab');
    const suffix = Buffer.from('cd"}');
    const bad: [string, Buffer, number][] = [
      ['stray FF FE', Buffer.from([0xff, 0xfe]), prefix.length],
      ['overlong "/"', Buffer.from([0xc0, 0xaf]), prefix.length],
      ['overlong 3-byte', Buffer.from([0xe0, 0x80, 0xaf]), prefix.length],
      ['UTF-8 encoded surrogate', Buffer.from([0xed, 0xa0, 0x80]), prefix.length],
      ['lone continuation byte', Buffer.from([0x80]), prefix.length],
      ['truncated sequence', Buffer.from([0xe2, 0x82]), prefix.length],
      ['above U+10FFFF', Buffer.from([0xf4, 0x90, 0x80, 0x80]), prefix.length],
    ];
    for (const [name, bytes, offset] of bad) {
      const r = await gw.call('/v1/tenants/acme/documents', {
        key: KEYS.acme,
        raw: Buffer.concat([prefix, bytes, suffix]),
      });
      assert.equal(r.status, 400, `${name}: ${r.text}`);
      assert.equal(r.json.error.code, 'invalid_utf8', name);
      assert.match(r.json.error.message, new RegExp(`byte offset ${offset}\\b`), name);
    }
    for (const [name, body, where] of [
      ['escaped lone high surrogate', '{"content":"ab\\ud800cd"}', /content/],
      ['escaped lone low surrogate', '{"content":"x","metadata":{"k":"\\udc00"}}', /metadata\.k/],
      ['surrogate in a metadata key', '{"content":"x","metadata":{"\\ud83d":"v"}}', /metadata/],
      [
        'surrogate in a batch',
        '{"documents":[{"content":"ok"},{"content":"\\udfff"}]}',
        /documents\.1\.content/,
      ],
    ] as const) {
      const path = body.startsWith('{"documents"')
        ? '/v1/tenants/acme/documents/batch'
        : '/v1/tenants/acme/documents';
      const r = await gw.call(path, { key: KEYS.acme, raw: body });
      assert.equal(r.status, 400, `${name}: ${r.text}`);
      assert.equal(r.json.error.code, 'invalid_unicode', name);
      assert.match(r.json.error.message, where, name);
    }
    // A well-formed pair and real multi-byte text still pass.
    const good = await gw.call('/v1/tenants/acme/documents', {
      key: KEYS.acme,
      raw: Buffer.from('{"id":"utf8-ok","content":"caf\u00e9 \\ud83d\\ude00 \u4e2d\u6587"}'),
    });
    assert.equal(good.status, 202, good.text);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await topicEndOffsets(gw.topics.admin, raw()), before + 1);
  });

  it('measures a document as produced (JSON escapes included) and answers 413 without Retry-After', async () => {
    const before = await topicEndOffsets(gw.topics.admin, raw());
    // 4,000 control characters are 4,000 bytes of content but 24,000 bytes once JSON-escaped.
    for (const [name, content] of [
      ['plain text over the limit', 'y'.repeat(20_000)],
      ['control characters that grow 6x when escaped', '\u0001'.repeat(4_000)],
      ['quotes and backslashes that double', '"\\'.repeat(5_000)],
    ] as const) {
      const r = await gw.call('/v1/tenants/acme/documents', { key: KEYS.acme, body: { content } });
      assert.equal(r.status, 413, `${name}: ${r.text}`);
      assert.equal(r.json.error.code, 'document_too_large', name);
      assert.match(r.json.error.message, /16384 bytes.*ENGRAM_MAX_DOCUMENT_BYTES/, name);
      assert.equal(r.headers.get('retry-after'), null, `${name}: a 413 never invites a retry`);
    }
    const inBatch = await gw.call('/v1/tenants/acme/documents/batch', {
      key: KEYS.acme,
      body: { documents: [{ content: 'fine' }, { content: '\u0002'.repeat(4_000) }] },
    });
    assert.equal(inBatch.status, 413, inBatch.text);
    assert.match(inBatch.json.error.message, /documents\.1/);
    const body = await gw.call('/v1/tenants/acme/documents', {
      key: KEYS.acme,
      body: { content: 'z'.repeat(100_000) },
    });
    assert.equal(body.status, 413);
    assert.equal(body.json.error.code, 'payload_too_large');
    assert.equal(body.headers.get('retry-after'), null);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await topicEndOffsets(gw.topics.admin, raw()), before, 'nothing produced');
  });

  it('refuses a batch larger than the burst with a non-retryable 413, not 429', async () => {
    const r = await gw.call('/v1/tenants/small/documents/batch', {
      key: KEYS.small,
      body: { documents: Array.from({ length: 4 }, (_, i) => ({ content: `b${i}` })) },
    });
    assert.equal(r.status, 413, r.text);
    assert.equal(r.json.error.code, 'batch_exceeds_burst');
    assert.match(r.json.error.message, /4 documents.*burst is 3.*at most 3/);
    assert.equal(r.headers.get('retry-after'), null);
    // The refused batch cost only its admission token (the price of reading it): 2 of 3 are left.
    const fits = await gw.call('/v1/tenants/small/documents/batch', {
      key: KEYS.small,
      body: { documents: Array.from({ length: 2 }, (_, i) => ({ content: `c${i}` })) },
    });
    assert.equal(fits.status, 202, fits.text);
  });

  it('refuses an over-quota tenant before reading its body', async () => {
    for (const id of ['t1', 't2', 't3'])
      assert.equal(
        (await gw.call('/v1/tenants/tiny/documents', { key: KEYS.tiny, body: { id, content: id } })).status,
        202,
      );
    for (const [name, rawBody] of [
      ['malformed JSON', '{"content": '],
      ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0x7d])],
      ['schema violation', '{"nope": 1}'],
    ] as const) {
      const r = await gw.call('/v1/tenants/tiny/documents', { key: KEYS.tiny, raw: rawBody });
      assert.equal(r.status, 429, `${name}: ${r.text}`);
      assert.equal(r.json.error.code, 'rate_limited');
      assert.ok(Number(r.headers.get('retry-after')) >= 1);
    }
    const batch = await gw.call('/v1/tenants/tiny/documents/batch', { key: KEYS.tiny, raw: '[' });
    assert.equal(batch.status, 429, batch.text);
  });

  it('bounds metadata: keys, sizes, shapes and total encoded bytes', async () => {
    const cases: [string, unknown, RegExp][] = [
      ['65 keys', Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i])), /at most 64/],
      [
        'over ENGRAM_MAX_METADATA_BYTES',
        Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`k${i}`, 'v'.repeat(200)])),
        /1024 bytes.*ENGRAM_MAX_METADATA_BYTES/,
      ],
      ['escaped control characters count as encoded', { k: '\u0003'.repeat(200) }, /1024 bytes/],
      ['a nested object', { k: { nested: true } }, /metadata\.k/],
      ['an array value', { k: [1, 2] }, /metadata\.k/],
      ['a key over 128 characters', { ['k'.repeat(129)]: 1 }, /metadata/],
      ['an empty key', { '': 1 }, /metadata/],
      ['a number that overflows to Infinity', '1e400', /metadata\.k/],
    ];
    for (const [name, metadata, message] of cases) {
      const r = await gw.call('/v1/tenants/acme/documents', {
        key: KEYS.acme,
        ...(typeof metadata === 'string'
          ? { raw: `{"content":"x","metadata":{"k":${metadata}}}` }
          : { body: { content: 'x', metadata } }),
      });
      assert.equal(r.status, 422, `${name}: ${r.text}`);
      assert.equal(r.json.error.code, 'invalid_body', name);
      assert.match(r.json.error.message, message, name);
    }
    const nested = `{"content":"x","metadata":{"k":${'['.repeat(5000)}${']'.repeat(5000)}}}`;
    const deep = await gw.call('/v1/tenants/acme/documents', { key: KEYS.acme, raw: nested });
    assert.equal(deep.status, 422, deep.text);
    assert.match(deep.json.error.message, /nest/);
  });

  it('answers 413, not 503, when the broker refuses a message as too large', async () => {
    // The topic is smaller than the gateway was told (ENGRAM_RAW_TOPIC_MAX_MESSAGE_BYTES): the
    // broker refuses with MESSAGE_TOO_LARGE, which no retry can fix.
    const topics = await createPipelineTopics(dev.KAFKA_BROKERS, uniqueName('gws'));
    await topics.admin.alterConfigs({
      validateOnly: false,
      resources: [
        {
          type: 2,
          name: topics.topic('ingest.raw'),
          configEntries: [{ name: 'max.message.bytes', value: '2048' }],
        },
      ],
    });
    const small = await startGateway(dev, { keys: KEYS, topics });
    try {
      const r = await small.call('/v1/tenants/acme/documents', {
        key: KEYS.acme,
        body: { content: 'm'.repeat(8_000) },
      });
      assert.equal(r.status, 413, r.text);
      assert.equal(r.json.error.code, 'document_too_large');
      assert.equal(r.headers.get('retry-after'), null);
      // The claim was released: once the topic is fixed, the same document is accepted.
      await topics.admin.alterConfigs({
        validateOnly: false,
        resources: [
          {
            type: 2,
            name: topics.topic('ingest.raw'),
            configEntries: [{ name: 'max.message.bytes', value: '1048576' }],
          },
        ],
      });
      await eventually(
        'accepted after the topic grew',
        async () =>
          (
            await small.call('/v1/tenants/acme/documents', {
              key: KEYS.acme,
              body: { content: 'm'.repeat(8_000) },
            })
          ).status === 202,
        { timeoutMs: 20_000, intervalMs: 500 },
      );
    } finally {
      await small.stop();
      await topics.cleanup();
    }
  });

  it('labels metrics with known tenants only', async () => {
    const stranger = uniqueName('zz');
    const r = await gw.call(`/v1/tenants/${stranger}/documents`, { key: KEYS.acme, body: { content: 'x' } });
    assert.equal(r.status, 403);
    const text = await metricsText(gw.metricsPort);
    assert.ok(!text.includes(stranger), 'an unauthenticated tenant id must not become a metric label');
  });

  it('logs no API key', () => {
    const all = JSON.stringify(gw.proc.logs);
    for (const secret of Object.values(KEYS)) assert.ok(!all.includes(secret), 'a key leaked into the logs');
  });
});

describe('gateway under load (child process)', () => {
  let gw: TestGateway;

  before(async () => {
    gw = await startGateway(dev, {
      keys: KEYS,
      env: {
        ENGRAM_MAX_CONCURRENT_REQUESTS: '2',
        ENGRAM_MAX_BODY_BYTES: String(8 * 1024 * 1024),
        ENGRAM_RATE_LIMIT_BURST: '100000',
        ENGRAM_RATE_LIMIT_PER_SECOND: '100000',
      },
    });
  });
  after(async () => {
    await gw?.stop();
  });

  it('answers 503 with Retry-After once the requests in flight reach the cap, and recovers', async () => {
    const slow = [0, 1].map(() => {
      const s = connect({ port: gw.port, host: '127.0.0.1' });
      s.write(
        'POST /v1/tenants/acme/documents HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n' +
          `authorization: Bearer ${KEYS.acme}\r\ncontent-length: 1000\r\n\r\n{"content":"`,
      );
      s.on('error', () => undefined);
      return s;
    });
    try {
      await eventually(
        'saturated',
        async () => {
          const r = await gw.call('/v1/tenants/acme/documents', {
            key: KEYS.acme,
            body: { content: 'third' },
          });
          return r.status === 503 ? r : undefined;
        },
        { timeoutMs: 5000, intervalMs: 100 },
      ).then((r) => {
        assert.equal(r.json.error.code, 'overloaded');
        assert.ok(Number(r.headers.get('retry-after')) >= 1);
      });
    } finally {
      for (const s of slow) s.destroy();
    }
    await eventually(
      'accepting again',
      async () =>
        (
          await gw.call('/v1/tenants/acme/documents', {
            key: KEYS.acme,
            body: { content: 'after the stall' },
          })
        ).status === 202,
      { timeoutMs: 5000, intervalMs: 100 },
    );
  });

  it('refuses a body with 350,000 metadata keys with 422 without parsing it into an object', async () => {
    const metadata: Record<string, string> = {};
    for (let i = 0; i < 350_000; i++) metadata[`k${i}`] = 'v';
    const body = JSON.stringify({ content: 'x', metadata });
    let worstProbeMs = 0;
    let probing = true;
    // Latency of a tiny request on the same process while the big one is handled.
    const probe = (async () => {
      while (probing) {
        const t = performance.now();
        await fetch(`http://127.0.0.1:${gw.metricsPort}/healthz`);
        worstProbeMs = Math.max(worstProbeMs, performance.now() - t);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const started = performance.now();
    const r = await gw.call('/v1/tenants/acme/documents', { key: KEYS.acme, raw: body });
    const tookMs = performance.now() - started;
    probing = false;
    await probe;
    assert.equal(r.status, 422, r.text.slice(0, 300));
    assert.match(r.json.error.message, /at most 64/);
    console.log(
      `# ${(body.length / 1048576).toFixed(1)} MiB body with 350k metadata keys: answered in ${tookMs.toFixed(0)} ms, ` +
        `worst /healthz latency meanwhile ${worstProbeMs.toFixed(0)} ms`,
    );
  });
});

describe('gateway readiness (child process)', () => {
  it('is not ready before its port and its dependencies are', async () => {
    // Kafka unreachable: the producer never connects, so the gateway must never say ready.
    const deadKafka = await freePort();
    const gw = await startGateway(dev, {
      keys: KEYS,
      env: { ENGRAM_KAFKA_BROKERS: `127.0.0.1:${deadKafka}` },
      waitRunning: false,
    });
    try {
      const seen: number[] = [];
      const deadline = Date.now() + 4000;
      while (Date.now() < deadline && gw.proc.child.exitCode === null) {
        const r = await readiness(gw.metricsPort).catch(() => undefined);
        if (r) seen.push(r.status);
        if (r?.status === 200) break;
        await new Promise((res) => setTimeout(res, 50));
      }
      assert.ok(seen.length > 0, 'the health port answered while the role was starting');
      assert.ok(!seen.includes(200), `readyz said 200 with Kafka unreachable (${seen.join(',')})`);
      const r = await readiness(gw.metricsPort).catch(() => undefined);
      if (r) assert.match(r.body, /start|kafka/);
    } finally {
      await gw.stop();
    }
  });

  it('says ready only once the HTTP port accepts connections', async () => {
    const gw = await startGateway(dev, { keys: KEYS, waitRunning: false });
    try {
      await eventually('ready', async () => (await readiness(gw.metricsPort)).status === 200, {
        timeoutMs: 30_000,
        intervalMs: 20,
      });
      const r = await gw.call('/v1/tenants/acme/documents', {
        key: KEYS.acme,
        body: { content: 'ready means ready' },
      });
      assert.equal(r.status, 202, r.text);
      const [msg] = await readTopic(gw.topics.kafka, gw.topics.topic('ingest.raw'), 1);
      assert.equal(msg!.key?.startsWith('acme/'), true);
    } finally {
      await gw.stop();
    }
  });
});
