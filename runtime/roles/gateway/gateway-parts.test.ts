import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_TOPIC_CONFIG } from '../../../operator/api/defaults.ts';
import {
  DEFAULT_RAW_TOPIC_MAX_MESSAGE_BYTES,
  parseRuntimeConfig,
  RuntimeConfigError,
} from '../../contract/config.ts';
import { controlRedisPrefix, redisKeys, tenantRedisPrefix } from '../../contract/stores.ts';
import { HttpError } from './http-error.ts';
import { documentInputSchema, validateInput } from './inputs.ts';
import { buildRawRecords } from './raw-documents.ts';
import { checkJsonShape, invalidUtf8Offset, readJsonBody } from './request-body.ts';

const limits = { maxDepth: 3, maxKeysPerObject: 64, maxItemsPerArray: 64, arrayHint: 'no arrays' };

function refusal(fn: () => unknown): HttpError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof HttpError, String(err));
    return err;
  }
  assert.fail('expected an HttpError');
}

describe('invalidUtf8Offset', () => {
  const table: [string, number[], number][] = [
    ['ASCII', [0x61, 0x62], -1],
    ['2, 3 and 4 byte sequences', [0xc3, 0xa9, 0xe4, 0xb8, 0xad, 0xf0, 0x9f, 0x98, 0x80], -1],
    ['U+10FFFF', [0xf4, 0x8f, 0xbf, 0xbf], -1],
    ['stray FF', [0x61, 0xff], 1],
    ['overlong 2-byte', [0xc1, 0xbf], 0],
    ['overlong 3-byte', [0x61, 0xe0, 0x9f, 0xbf], 1],
    ['overlong 4-byte', [0xf0, 0x8f, 0xbf, 0xbf], 0],
    ['surrogate D800', [0xed, 0xa0, 0x80], 0],
    ['above U+10FFFF', [0xf4, 0x90, 0x80, 0x80], 0],
    ['lone continuation', [0x61, 0x62, 0x80], 2],
    ['truncated at the end', [0x61, 0xe2, 0x82], 1],
    ['truncated before ASCII', [0xe2, 0x61], 0],
  ];
  for (const [name, bytes, want] of table)
    it(name, () => {
      assert.equal(invalidUtf8Offset(Uint8Array.from(bytes)), want);
      // The decoder agrees: -1 exactly when a fatal TextDecoder accepts the bytes.
      let ok = true;
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
      } catch {
        ok = false;
      }
      assert.equal(want === -1, ok);
    });
});

describe('readJsonBody', () => {
  it('refuses shapes no request has before parsing, with the reason', () => {
    assert.match(refusal(() => checkJsonShape(Buffer.from('[[[[1]]]]'), limits)).message, /deeper than 3/);
    const keys = `{${Array.from({ length: 65 }, (_, i) => `"k${i}":1`).join(',')}}`;
    assert.match(refusal(() => checkJsonShape(Buffer.from(keys), limits)).message, /more than 64 keys/);
    // Brackets, commas and escaped quotes inside strings are text, not structure.
    checkJsonShape(Buffer.from(`{"a":"[[[[,,,,\\"{{{{"}`), limits);
  });

  it('reports invalid UTF-8, malformed JSON and lone surrogates as 400 with where', () => {
    const bad = refusal(() => readJsonBody(Buffer.from([0x7b, 0x22, 0xc0, 0xaf, 0x22, 0x7d]), limits));
    assert.equal(bad.code, 'invalid_utf8');
    assert.match(bad.message, /byte offset 2/);
    assert.equal(refusal(() => readJsonBody(Buffer.from('{"a":'), limits)).code, 'malformed_json');
    const lone = refusal(() => readJsonBody(Buffer.from('{"m":{"k":"ok\\udc00"}}'), limits));
    assert.equal(lone.code, 'invalid_unicode');
    assert.match(lone.message, /m\.k has a lone surrogate \(\\udc00\) at character 2/);
    assert.deepEqual(readJsonBody(Buffer.from('{"a":"\\ud83d\\ude00"}'), limits), { a: '\u{1f600}' });
  });

  it('refuses __proto__ keys', () => {
    assert.equal(refusal(() => readJsonBody(Buffer.from('{"__proto__":{"x":1}}'), limits)).status, 422);
  });
});

describe('buildRawRecords', () => {
  const meta = { requestId: 'r1', acceptedAt: 1, batch: true };
  const big = { maxDocumentBytes: 2048, rawTopicMaxMessageBytes: 1 << 20 };

  it('measures each document as its JSON-encoded message', () => {
    const [ok] = buildRawRecords('acme', [{ content: 'x'.repeat(100) }], meta, big);
    assert.equal(ok!.key, `acme/${ok!.documentId}`);
    assert.ok(Buffer.byteLength(ok!.value) < 2048);
    // 400 control characters: 400 bytes of content, 2,400 once escaped.
    const e = refusal(() =>
      buildRawRecords('acme', [{ content: 'a' }, { content: '\u0001'.repeat(400) }], meta, big),
    );
    assert.equal(e.status, 413);
    assert.match(e.message, /documents\.1 is \d+ bytes/);
  });

  it("keeps a request's records within the topic's max.message.bytes", () => {
    const docs = Array.from({ length: 10 }, (_, i) => ({ content: `${i}`.repeat(1500) }));
    const e = refusal(() =>
      buildRawRecords('acme', docs, meta, { maxDocumentBytes: 2048, rawTopicMaxMessageBytes: 8192 }),
    );
    assert.equal(e.code, 'batch_too_large');
  });

  it('refuses duplicate ids in one batch', () => {
    const e = refusal(() =>
      buildRawRecords(
        'acme',
        [
          { id: 'a', content: 'x' },
          { id: 'a', content: 'y' },
        ],
        meta,
        big,
      ),
    );
    assert.match(e.message, /documents\.1\.id duplicates documents\.0\.id/);
  });

  it("carries a document's observedAt as ms since epoch, and refuses a time that is not RFC 3339", () => {
    const schema = documentInputSchema(1024);
    const input = validateInput(schema, { id: 'a', content: 'x', observedAt: '2026-01-31T09:00:00+01:00' });
    const [record] = buildRawRecords('acme', [input], meta, big);
    assert.equal(JSON.parse(record!.value).observedAt, Date.UTC(2026, 0, 31, 8));
    const [plain] = buildRawRecords('acme', [{ id: 'b', content: 'y' }], meta, big);
    assert.equal('observedAt' in JSON.parse(plain!.value), false);
    for (const bad of ['yesterday', '2026-01-31', 1767225600000]) {
      const e = refusal(() => validateInput(schema, { content: 'x', observedAt: bad }));
      assert.match(e.message, /observedAt/, String(bad));
    }
  });
});

describe('gateway configuration', () => {
  const base = { ENGRAM_CLUSTER: 'demo', ENGRAM_TOPIC_PREFIX: 'engram.demo', ENGRAM_KAFKA_BROKERS: 'k:9092' };
  const gateway = { ...base, ENGRAM_REDIS_URL: 'redis://r:6379' };

  it("defaults the raw topic bound to the operator's ingest.raw max.message.bytes", () => {
    assert.equal(
      String(DEFAULT_RAW_TOPIC_MAX_MESSAGE_BYTES),
      DEFAULT_TOPIC_CONFIG['ingest.raw']?.['max.message.bytes'],
    );
    assert.equal(
      parseRuntimeConfig(gateway, { role: 'gateway' }).gateway.rawTopicMaxMessageBytes,
      10 * 1024 * 1024,
    );
  });

  it('refuses a document bound the topic cannot hold, and metadata larger than a document', () => {
    for (const [env, want] of [
      [
        { ENGRAM_MAX_DOCUMENT_BYTES: '1048576', ENGRAM_RAW_TOPIC_MAX_MESSAGE_BYTES: '1048576' },
        /the broker would refuse/,
      ],
      [
        { ENGRAM_MAX_DOCUMENT_BYTES: '4096', ENGRAM_MAX_METADATA_BYTES: '8192' },
        /must be below ENGRAM_MAX_DOCUMENT_BYTES/,
      ],
    ] as const) {
      assert.throws(
        () => parseRuntimeConfig({ ...gateway, ...env }, { role: 'gateway' }),
        (err: unknown) => err instanceof RuntimeConfigError && err.problems.some((p) => want.test(p)),
      );
    }
  });
});

describe('control keys', () => {
  it('never fall under a tenant prefix, for any tenant', () => {
    for (const tenant of ['c', 'acme', 't', 'ratelimit', 'doc', 'expiry']) {
      const prefix = tenantRedisPrefix('demo', tenant);
      for (const key of [
        redisKeys.rateLimit('demo', tenant),
        redisKeys.document('demo', tenant, 'd:1'),
        redisKeys.controlExpiry('demo'),
      ]) {
        assert.ok(key.startsWith(controlRedisPrefix('demo')));
        assert.ok(!key.startsWith(prefix), `${key} is under ${prefix}`);
      }
    }
  });
});
