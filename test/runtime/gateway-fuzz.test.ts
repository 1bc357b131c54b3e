// Fuzzes a real gateway process (real Redis, real Kafka) with random and malformed requests: paths
// (percent-escapes, overlong, raw unicode and invalid bytes, dot segments), methods, headers
// (content types, content-length lies, transfer-encoding, auth) and bodies (binary, invalid UTF-8,
// deep nesting, huge numbers, many keys). The process must never exit and every answer must be a
// 4xx with the API's error body, or a 2xx for a well-formed authorised request; never a 5xx.
// ENGRAM_FUZZ_SEED / ENGRAM_FUZZ_REQUESTS reproduce or lengthen a run.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { requireDevEnv } from '../support/devenv.ts';
import { rawRequest, readiness, startGateway, type TestGateway } from './gateway-fixtures.ts';

const dev = requireDevEnv();
const KEYS = { acme: 'egk_acme_0123456789abcdef', globex: 'egk_globex_fedcba9876543210' };
const REQUESTS = Number(process.env['ENGRAM_FUZZ_REQUESTS'] ?? 10_000);
const SEED = Number(process.env['ENGRAM_FUZZ_SEED'] ?? Date.now() % 2 ** 31);
const CONCURRENCY = 8;

/** mulberry32: a small seeded generator, so a failing run can be replayed with its seed. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const chance = (p: number) => next() < p;
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  return { next, int, pick, chance, bytes };
}
type Rng = ReturnType<typeof rng>;

interface FuzzRequest {
  bytes: Buffer;
  /** A well-formed, authorised request: 2xx is a right answer for it. */
  mayAccept: boolean;
  /** The request is deliberately incomplete: the server may close without answering. */
  mayDrop: boolean;
  label: string;
}

const TENANTS = [
  'acme',
  'globex',
  'nobody',
  'ACME',
  'a'.repeat(64),
  '-x',
  '%zz',
  '%',
  '%2e%2e',
  '..',
  '%00',
  'ä',
  '%C0%AF',
];

function segment(r: Rng): string {
  switch (r.int(9)) {
    case 0:
      return `%${r.pick(['', 'z', 'zz', 'G0', '0', 'C0%AF', 'E0%A4%A', 'FF', 'ed%a0%80', '25'])}`;
    case 1:
      return 'x'.repeat(r.pick([100, 101, 1000, 9000]));
    case 2:
      return r.pick(['..', '.', '%2e', '%2E%2E', '%2f', 'a%2Fb', '']);
    case 3:
      return r.pick(['ünï', '日本', '😀', '\u202e']);
    case 4:
      return r.bytes(1 + r.int(4)).toString('latin1');
    default:
      return r.pick(TENANTS);
  }
}

function path(r: Rng): { path: string; route: 'document' | 'batch' | 'query' | 'query-result' | 'other' } {
  const tenant = r.chance(0.6) ? r.pick(['acme', 'globex']) : segment(r);
  const base = `/v1/tenants/${tenant}`;
  let p: string;
  let route: ReturnType<typeof path>['route'];
  switch (r.int(11)) {
    case 0:
    case 1:
    case 2:
      p = `${base}/documents`;
      route = 'document';
      break;
    case 3:
    case 4:
      p = `${base}/documents/batch`;
      route = 'batch';
      break;
    case 5:
      p = `${base}/queries`;
      route = 'query';
      break;
    case 6:
      p = `${base}/queries/${r.chance(0.5) ? '00000000-0000-4000-8000-000000000000' : segment(r)}`;
      route = 'query-result';
      break;
    case 7:
      // Absolute-form request target.
      p = `http://example${base}/documents`;
      route = 'document';
      break;
    default:
      p = r.pick([
        '/',
        '*',
        '/v1',
        '/v1/tenants',
        `${base}`,
        `${base}/documents/`,
        `//v1/tenants/acme/documents`,
        `/v1/tenants/acme/../acme/documents`,
        `/v1/./tenants/acme/documents`,
        `/v1/tenants/acme/documents/batch/extra`,
        `/metrics`,
        `/readyz`,
        `/${segment(r)}`,
      ]);
      route = 'other';
  }
  if (r.chance(0.15)) p += r.pick(['?a=1', '?%zz', '?a[b]=1&a[c]=2', '#frag', '?x=' + 'y'.repeat(3000), '?']);
  return { path: p, route };
}

/** Whether random bytes happen to make a document the gateway must accept. */
function acceptableDocument(body: Buffer): boolean {
  try {
    const doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body)) as { content: string };
    return doc.content.trim() !== '' && doc.content.isWellFormed();
  } catch {
    return false;
  }
}

function json(r: Rng, route: string): { body: Buffer; valid: boolean } {
  const content = () =>
    r.pick([
      'A memory for the agent.',
      'caf\u00e9 \ud83d\ude00',
      '\u0001\u0002\t\n',
      ' ',
      '',
      'x'.repeat(r.pick([10, 2000, 5000])),
    ]);
  const valid = (s: string) => s.trim() !== '' && Buffer.byteLength(JSON.stringify(s)) < 3000;
  switch (r.int(16)) {
    case 0: {
      const c = content();
      const metadata = r.chance(0.5) ? { source: 'fuzz', page: r.int(100), ok: true, none: null } : undefined;
      const body = {
        ...(r.chance(0.5) && { id: `doc-${r.int(50)}` }),
        content: c,
        ...(metadata && { metadata }),
      };
      if (route === 'batch')
        return { body: Buffer.from(JSON.stringify({ documents: [body] })), valid: valid(c) };
      if (route === 'query')
        return { body: Buffer.from(JSON.stringify({ text: c || 'q', topK: 3 })), valid: true };
      return { body: Buffer.from(JSON.stringify(body)), valid: valid(c) };
    }
    case 1: {
      const docs = Array.from({ length: 1 + r.int(30) }, (_, i) => ({
        id: `b-${r.int(1000)}-${i}`,
        content: `d${i}`,
      }));
      return {
        body: Buffer.from(JSON.stringify({ documents: docs })),
        valid: route === 'batch' && docs.length <= 20,
      };
    }
    case 2:
      return { body: r.bytes(r.int(3000)), valid: false };
    case 3: {
      const body = Buffer.concat([Buffer.from('{"content":"'), r.bytes(1 + r.int(20)), Buffer.from('"}')]);
      return { body, valid: route === 'document' && acceptableDocument(body) };
    }
    case 4: {
      const depth = r.pick([10, 1000, 10_000]);
      return {
        body: Buffer.from(`{"content":"x","metadata":{"k":${'['.repeat(depth)}${']'.repeat(depth)}}}`),
        valid: false,
      };
    }
    case 5:
      return {
        body: Buffer.from(
          r.pick([
            '{"content":"x","metadata":{"n":1e400}}',
            '{"text":"q","topK":1e308}',
            '{"text":"q","topK":-0}',
            '{"content":1e999}',
          ]),
        ),
        valid: false,
      };
    case 6: {
      const n = r.pick([65, 1000, 5000]);
      const keys = Array.from({ length: n }, (_, i) => `"k${i}":${i}`).join(',');
      return { body: Buffer.from(`{"content":"x","metadata":{${keys}}}`), valid: false };
    }
    case 7:
      return {
        body: Buffer.from(
          r.pick([
            '',
            'null',
            '[]',
            '"str"',
            '0',
            '{',
            '{"content":"x",}',
            '{"__proto__":{"polluted":1},"content":"x"}',
            '{"constructor":{"prototype":{"x":1}},"content":"x"}',
            '{"content":"\\ud800"}',
            '{"documents":null}',
            '{"documents":[null]}',
            '{"documents":[[]]}',
            '{"text":"' + 'q'.repeat(9000) + '"}',
            '{"content":"x","metadata":{"":1}}',
            '{"content":"x","metadata":[]}',
            '{"id":"has space","content":"x"}',
            '{"id":"' + 'i'.repeat(300) + '","content":"x"}',
          ]),
        ),
        valid: false,
      };
    case 8:
      return { body: Buffer.from(JSON.stringify({ content: 'y'.repeat(20_000) })), valid: false };
    case 9:
      // Valid, if odd: duplicate keys (the last wins), control characters, a leading byte order mark.
      return {
        body: Buffer.from(
          r.pick(['{"content":"x","content":"y"}', '{"content":"\\u0000"}', '\ufeff{"content":"bom"}']),
        ),
        valid: route === 'document',
      };
    default: {
      const c = `fuzz document ${r.int(1_000_000)}`;
      if (route === 'batch')
        return {
          body: Buffer.from(JSON.stringify({ documents: [{ content: c }, { content: `${c}!` }] })),
          valid: true,
        };
      if (route === 'query') return { body: Buffer.from(JSON.stringify({ text: c })), valid: true };
      return { body: Buffer.from(JSON.stringify({ content: c })), valid: true };
    }
  }
}

function request(r: Rng): FuzzRequest {
  const { path: p, route } = path(r);
  // Absolute-form (`http://host/path`) is a valid request target too.
  const wellFormedPath = route !== 'other' && /^(http:\/\/example)?\/v1\/tenants\/(acme|globex)\//.test(p);
  const method = r.chance(0.8)
    ? route === 'query-result'
      ? 'GET'
      : 'POST'
    : r.pick([
        'GET',
        'PUT',
        'DELETE',
        'PATCH',
        'HEAD',
        'OPTIONS',
        'TRACE',
        'FOO',
        'post',
        'M-SEARCH',
        'PROPFIND',
        '',
      ]);
  const { body, valid } =
    route === 'query-result' && r.chance(0.8) ? { body: Buffer.alloc(0), valid: true } : json(r, route);
  const headers: string[] = r.chance(0.02) ? [] : [`host: ${r.chance(0.95) ? 'gateway' : ''}`];
  let mayAccept =
    wellFormedPath && valid && (method === 'POST' || (method === 'GET' && route === 'query-result'));
  const tenant = /^(?:http:\/\/example)?\/v1\/tenants\/([^/?#]+)/.exec(p)?.[1];
  switch (r.int(8)) {
    case 0:
      mayAccept = false;
      break;
    case 1: {
      const key = r.pick(Object.values(KEYS));
      headers.push(`authorization: Bearer ${key}`);
      if (key !== KEYS[tenant === 'globex' ? 'globex' : 'acme']) mayAccept = false;
      break;
    }
    case 2:
      headers.push(
        `authorization: ${r.pick(['Bearer', 'Basic abc', 'Bearer  ', `Bearer ${'k'.repeat(5000)}`, 'bearer x y'])}`,
      );
      mayAccept = false;
      break;
    case 3: {
      const key = r.pick([KEYS.acme, '', 'nope']);
      headers.push(`x-api-key: ${key}`);
      if (!(tenant === 'acme' && key === KEYS.acme)) mayAccept = false;
      break;
    }
    default:
      headers.push(`authorization: Bearer ${KEYS[tenant === 'globex' ? 'globex' : 'acme']}`);
  }
  if (!(tenant === 'acme' || tenant === 'globex')) mayAccept = false;
  const ctype = r.chance(0.75)
    ? r.pick(['application/json', 'application/json; charset=utf-8', 'Application/JSON'])
    : r.pick([
        '',
        'text/plain',
        'application/json; charset=latin1',
        'application/json;;;',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        '*/*',
        'application/jsonx',
        '\u00ff',
      ]);
  if (ctype) headers.push(`content-type: ${ctype}`);
  if (!/^application\/json(; charset=utf-8|;;;)?$/i.test(ctype)) mayAccept = false;
  if (r.chance(0.03))
    headers.push(
      r.pick(['expect: 100-continue', 'expect: nonsense', 'connection: upgrade\r\nupgrade: websocket']),
    );
  if (r.chance(0.05)) headers.push(`x-request-id: ${r.pick(['abc', 'x'.repeat(500), '\u00e9\u00e9', ''])}`);
  if (r.chance(0.03))
    headers.push(r.pick(['bad header: x', 'x-y\u0001: z', ': empty', 'x-long: ' + 'l'.repeat(20_000)]));
  let framing: Buffer;
  let mayDrop = false;
  const frame = r.int(12);
  if (frame === 0) {
    // content-length larger than the body: the client gives up (half-close) before sending it all.
    headers.push(`content-length: ${body.length + 1 + r.int(1000)}`);
    framing = body;
    mayDrop = true;
    mayAccept = false;
  } else if (frame === 1) {
    headers.push(`content-length: ${Math.max(0, body.length - 1 - r.int(10))}`);
    framing = body;
    mayAccept = false;
  } else if (frame === 2) {
    headers.push('transfer-encoding: chunked');
    const chunks: Buffer[] = [];
    for (let i = 0; i < body.length; i += 700) {
      const part = body.subarray(i, i + 700);
      chunks.push(Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n'));
    }
    chunks.push(Buffer.from(r.chance(0.8) ? '0\r\n\r\n' : 'zz\r\n'));
    framing = Buffer.concat(chunks);
    mayDrop = true;
  } else if (frame === 3) {
    headers.push('transfer-encoding: chunked', `content-length: ${body.length}`);
    framing = body;
    mayAccept = false;
  } else if (frame === 4) {
    headers.push(
      r.pick([
        'content-length: -1',
        'content-length: abc',
        `content-length: ${body.length}, ${body.length + 1}`,
        'content-length: 99999999999999999999',
        'transfer-encoding: gzip',
      ]),
    );
    framing = body;
    mayDrop = true;
    mayAccept = false;
  } else {
    headers.push(`content-length: ${body.length}`);
    framing = body;
  }
  const version = r.chance(0.97) ? 'HTTP/1.1' : r.pick(['HTTP/1.0', 'HTTP/2.0', 'HTTP/9', 'HTTX/1.1', '']);
  if (!/^HTTP\/1\.[01]$/.test(version)) mayAccept = false;
  const head = Buffer.from(`${method} ${p} ${version}\r\n${headers.join('\r\n')}\r\n\r\n`, 'latin1');
  if (method !== 'POST' && !(method === 'GET' && route === 'query-result')) mayAccept = false;
  return {
    bytes: Buffer.concat([head, framing]),
    // Host is required from HTTP/1.1 on (RFC 9112 3.2); an HTTP/1.0 request may leave it out.
    mayAccept: mayAccept && (version === 'HTTP/1.0' || headers.some((h) => h.startsWith('host:'))),
    mayDrop,
    label: `${method} ${p.slice(0, 80)} [${headers.slice(1, 4).join('; ').slice(0, 160)}]`,
  };
}

describe('gateway fuzz (child process)', () => {
  let gw: TestGateway;

  before(async () => {
    gw = await startGateway(dev, {
      keys: KEYS,
      env: {
        ENGRAM_MAX_BODY_BYTES: String(16 * 1024),
        ENGRAM_MAX_DOCUMENT_BYTES: String(4 * 1024),
        ENGRAM_MAX_BATCH_DOCUMENTS: '20',
        ENGRAM_MAX_METADATA_BYTES: '1024',
        ENGRAM_RATE_LIMIT_PER_SECOND: '1000000',
        ENGRAM_RATE_LIMIT_BURST: '1000000',
      },
    });
  });
  after(async () => {
    await gw?.stop();
  });

  it(`answers ${REQUESTS} random and malformed requests with clean 4xx (2xx only when well-formed), never dying`, async () => {
    const r = rng(SEED);
    const plan = Array.from({ length: REQUESTS }, () => request(r));
    const byStatus = new Map<string, number>();
    const failures: string[] = [];
    const started = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < plan.length && failures.length < 20) {
        const req = plan[next++]!;
        let reply: Awaited<ReturnType<typeof rawRequest>>;
        try {
          reply = await rawRequest(gw.port, req.bytes, { halfClose: req.mayDrop, timeoutMs: 10_000 });
        } catch (err) {
          failures.push(`${req.label}: ${(err as Error).message}`);
          continue;
        }
        const key = String(reply.status ?? 'closed');
        byStatus.set(key, (byStatus.get(key) ?? 0) + 1);
        const s = reply.status;
        if (s === undefined) {
          if (!req.mayDrop) failures.push(`${req.label}: closed without an answer`);
        } else if (s >= 500) {
          failures.push(`${req.label}: ${s} ${reply.body.slice(0, 300)}`);
        } else if (s < 400 && !req.mayAccept) {
          failures.push(
            `${s} for a request that is not well-formed and authorised: ${JSON.stringify(req.bytes.toString('latin1').slice(0, 400))}`,
          );
        } else if (s >= 400 && !/^HEAD /.test(req.label)) {
          let code: unknown;
          try {
            code = JSON.parse(reply.body).error?.code;
          } catch {
            code = undefined;
          }
          if (typeof code !== 'string')
            failures.push(`${req.label}: ${s} without the error body: ${reply.body.slice(0, 200)}`);
        }
        if (gw.proc.child.exitCode !== null) failures.push(`gateway exited with ${gw.proc.child.exitCode}`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const seconds = (performance.now() - started) / 1000;
    const summary = [...byStatus.entries()]
      .sort()
      .map(([s, n]) => `${s}:${n}`)
      .join(' ');
    console.log(
      `# fuzz seed ${SEED}: ${REQUESTS} requests in ${seconds.toFixed(1)} s (${(REQUESTS / seconds).toFixed(0)}/s): ${summary}`,
    );
    assert.deepEqual(failures, [], `seed ${SEED} (replay with ENGRAM_FUZZ_SEED=${SEED})`);
    assert.equal(gw.proc.child.exitCode, null, 'the gateway is still running');
    assert.ok((byStatus.get('202') ?? 0) > 0, 'some well-formed requests were accepted');
    assert.equal((await readiness(gw.metricsPort)).status, 200, 'still ready');
    const ok = await gw.call('/v1/tenants/acme/documents', {
      key: KEYS.acme,
      body: { content: 'after the fuzz' },
    });
    assert.equal(ok.status, 202);
  });
});
