/**
 * The gateway's HTTP API on fastify (body limits, URL decoding, framing, timeouts; one error
 * handler so nothing thrown escapes). Every request is checked in this order, cheapest first, and
 * refused at the first failure with `{ error: { code, message } }`:
 *   in-flight cap (503) -> route (404/405, 400 for a malformed URL) -> API key (401 unknown, 403 another
 *   tenant's) -> content type (415) -> declared size (413) -> rate-limit admission, one token (429)
 *   -> body: UTF-8 (400), shape (422), JSON (400), Unicode (400)
 *   -> the route's handler (document-handlers.ts, query-handlers.ts: schema, sizes, tokens, produce).
 * This file is the HTTP plumbing only; the handlers are testable without HTTP.
 *
 *   POST /v1/tenants/{tenant}/documents        { id?, content, metadata? }
 *   POST /v1/tenants/{tenant}/documents/batch  { documents: [{ id?, content, metadata? }, ...] }
 *   POST /v1/tenants/{tenant}/queries          { text, topK? }
 *   GET  /v1/tenants/{tenant}/queries/{id}
 * Authentication: `Authorization: Bearer <key>` or `X-API-Key: <key>`.
 */
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type { Counter, Histogram } from 'prom-client';
import type { GatewayConfig } from '../../contract/config/gateway.ts';
import { TENANT_ID_PATTERN } from '../../contract/tenants.ts';
import type { ProducerTransport } from '../../core/transport.ts';
import type { Logger } from '../../observability/log.ts';
import { DocumentHandlers, type DocumentLimits, type HandlerReply } from './document-handlers.ts';
import { errorBody, HttpError, REJECT_REASON, retryLater, toHttpError } from './http-error.ts';
import type { DocumentIdempotency } from './idempotency.ts';
import { MAX_METADATA_KEYS } from './inputs.ts';
import { type QueryHandlerDeps, QueryHandlers } from './query-handlers.ts';
import { type TenantRateLimiter, takeTokens } from './rate-limit.ts';
import { type JsonShapeLimits, readJsonBody } from './request-body.ts';
import type { TenantKeyStore } from './tenant-keys.ts';

export interface GatewayMetrics {
  requests: Counter<'route' | 'status'>;
  duration: Histogram<'route'>;
  documents: Counter<'tenant' | 'status'>;
  rejected: Counter<'tenant' | 'reason'>;
}

export type GatewayLimits = DocumentLimits & Pick<GatewayConfig, 'maxBodyBytes' | 'maxConcurrentRequests'>;

export interface GatewayDeps {
  cluster: string;
  topicPrefix: string;
  keys: TenantKeyStore;
  limiter: TenantRateLimiter;
  idempotency: DocumentIdempotency;
  producer: ProducerTransport;
  redis: Redis;
  limits: GatewayLimits;
  metrics: GatewayMetrics;
  log: Logger;
  now?: () => number;
  /** Answers a query in the request (roles/query); without it the synchronous route says what to set. */
  answer?: QueryHandlerDeps['answer'];
}

type RouteName = 'document' | 'batch' | 'query' | 'query-sync' | 'query-result';
const isQueryRoute = (name: RouteName | 'unknown') => name === 'query' || name === 'query-sync';

const ROUTES: readonly { name: RouteName; url: string; method: 'POST' | 'GET' }[] = [
  { name: 'document', url: '/v1/tenants/:tenant/documents', method: 'POST' },
  { name: 'batch', url: '/v1/tenants/:tenant/documents/batch', method: 'POST' },
  { name: 'query', url: '/v1/tenants/:tenant/queries', method: 'POST' },
  { name: 'query-sync', url: '/v1/tenants/:tenant/query', method: 'POST' },
  { name: 'query-result', url: '/v1/tenants/:tenant/queries/:queryId', method: 'GET' },
];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;
/** Query bodies are small: `text` is at most 8192 characters. */
const MAX_QUERY_BODY_BYTES = 64 * 1024;

interface RequestState {
  route: RouteName | 'unknown';
  started: number;
  /** Set once the API key matched: the only tenant id a metric label may carry. */
  tenant?: string;
}

function presentedKey(req: FastifyRequest): string | undefined {
  const auth = req.headers.authorization;
  if (auth) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    return m ? m[1] : undefined;
  }
  const header = req.headers['x-api-key'];
  return typeof header === 'string' && header !== '' ? header : undefined;
}

/** `application/json`, optionally `; charset=utf-8`: anything else would be decoded wrong. */
function contentTypeProblem(header: string | undefined): string | undefined {
  if (header === undefined || header.trim() === '') return 'content-type must be application/json (got none)';
  const [type, ...params] = header.split(';');
  const mediaType = type!.trim().toLowerCase();
  if (mediaType !== 'application/json')
    return `content-type must be application/json (got ${mediaType.slice(0, 100)})`;
  for (const p of params) {
    const [name, value] = p.split('=').map((s) => s.trim().toLowerCase());
    if (name === 'charset' && value?.replace(/^"(.*)"$/, '$1') !== 'utf-8')
      return `content-type charset must be utf-8 (got ${String(value).slice(0, 40)}): send the body as UTF-8`;
  }
  return undefined;
}

function shapeLimits(route: RouteName, maxBatchDocuments: number): JsonShapeLimits {
  // Containers of a valid body: root, (documents, document,) metadata; one level spare so the
  // schema names a value that is an object or array where a primitive belongs.
  const depth = route === 'batch' ? 5 : route === 'document' ? 3 : 2;
  return {
    maxDepth: depth,
    maxKeysPerObject: MAX_METADATA_KEYS,
    // Outside a batch no array is valid; short ones reach the schema, which names the field.
    maxItemsPerArray: route === 'batch' ? maxBatchDocuments : MAX_METADATA_KEYS,
    arrayHint:
      route === 'batch'
        ? `at most ${maxBatchDocuments} documents per batch (ENGRAM_MAX_BATCH_DOCUMENTS)`
        : 'this request takes no arrays (metadata values are strings, numbers, booleans or null)',
  };
}

export function buildGatewayApp(deps: GatewayDeps): FastifyInstance {
  const { limits, metrics, log } = deps;
  const documents = new DocumentHandlers({
    topicPrefix: deps.topicPrefix,
    limiter: deps.limiter,
    idempotency: deps.idempotency,
    producer: deps.producer,
    limits,
    documents: metrics.documents,
    log,
    ...(deps.now && { now: deps.now }),
  });
  const queries = new QueryHandlers({
    cluster: deps.cluster,
    topicPrefix: deps.topicPrefix,
    producer: deps.producer,
    redis: deps.redis,
    log,
    ...(deps.now && { now: deps.now }),
    ...(deps.answer && { answer: deps.answer }),
  });
  const states = new WeakMap<FastifyRequest, RequestState>();
  const queryBodyLimit = Math.min(MAX_QUERY_BODY_BYTES, limits.maxBodyBytes);
  let inFlight = 0;

  const app = Fastify({
    logger: false,
    bodyLimit: limits.maxBodyBytes,
    exposeHeadRoutes: false,
    requestTimeout: 30_000,
    connectionTimeout: 60_000,
    keepAliveTimeout: 5_000,
    // Checked in onRequest instead, so the refusal carries the API's error body.
    http: { requireHostHeader: false },
    genReqId: (req) => {
      const header = req.headers['x-request-id'];
      return typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID();
    },
    // A URL fastify cannot decode (a malformed percent-escape) never reaches a route.
    frameworkErrors: (err, req, reply) => {
      const bad = err.code === 'FST_ERR_BAD_URL';
      const e = new HttpError(
        400,
        bad ? 'invalid_path' : 'bad_request',
        bad
          ? `the request path is not a valid URL (a malformed percent-escape?): ${req.url.slice(0, 200)}`
          : `the request was refused: ${err.message}`,
      );
      sendError(req, reply, e);
    },
    // Malformed HTTP (bad framing, oversized headers, timeouts) has no request object: answer on the socket.
    clientErrorHandler: (err: Error & { code?: string }, socket: Socket) => {
      const answered = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage
        ?.headersSent;
      if (err.code === 'ECONNRESET' || !socket.writable || answered) {
        socket.destroy();
        return;
      }
      const [status, reason, message] =
        err.code === 'HPE_HEADER_OVERFLOW'
          ? [
              431,
              'Request Header Fields Too Large',
              'request headers are too large: send fewer or shorter headers',
            ]
          : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? [408, 'Request Timeout', 'the request did not arrive in time: send it again']
            : [
                400,
                'Bad Request',
                'malformed HTTP request: check the request line, headers and body framing',
              ];
      const body = JSON.stringify(errorBody(new HttpError(status, 'bad_request', message)));
      metrics.requests.inc({ route: 'unknown', status: String(status) });
      socket.end(
        `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
          `connection: close\r\n\r\n${body}`,
      );
    },
  });
  app.server.headersTimeout = 10_000;
  // Node answers an Expect it does not know with a bare 417; say what to change instead.
  app.server.on('checkExpectation', (_req, res) => {
    const body = JSON.stringify(
      errorBody(
        new HttpError(417, 'bad_request', 'only "Expect: 100-continue" is supported: drop the Expect header'),
      ),
    );
    res.writeHead(417, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      connection: 'close',
    });
    res.end(body);
  });

  function stateOf(req: FastifyRequest): RequestState {
    let s = states.get(req);
    if (!s) {
      s = { route: 'unknown', started: performance.now() };
      states.set(req, s);
    }
    return s;
  }

  function sendError(req: FastifyRequest, reply: FastifyReply, e: HttpError): void {
    const state = stateOf(req);
    const reason = e.code === 'overloaded' ? 'overloaded' : REJECT_REASON[e.status];
    if (reason) metrics.rejected.inc({ tenant: state.tenant ?? 'unknown', reason });
    if (reply.sent) return;
    // An unread body is not worth draining: close the connection after the answer.
    const closing = !req.raw.complete;
    reply
      .code(e.status)
      .headers({ ...e.headers, ...(closing && { connection: 'close' }) })
      .type('application/json')
      .send(errorBody(e));
  }

  app.setErrorHandler((err, req, reply) => {
    const query = isQueryRoute(stateOf(req).route);
    if ((err as { code?: unknown }).code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      return sendError(req, reply, tooLarge(query ? queryBodyLimit : limits.maxBodyBytes, query));
    const { error, unexpected } = toHttpError(err, limits.maxBodyBytes);
    if (unexpected) log.error('request failed', { requestId: req.id, route: stateOf(req).route, error: err });
    sendError(req, reply, error);
  });
  app.setNotFoundHandler((req, reply) => {
    sendError(
      req,
      reply,
      new HttpError(404, 'not_found', `no route for ${req.url.split('?')[0]!.slice(0, 200)}`),
    );
  });

  // Bodies are read as bytes whatever their type: the route decides (content type was checked earlier).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.addHook('onRequest', async (req, reply) => {
    const state = stateOf(req);
    reply.header('x-request-id', req.id);
    const version = req.raw.httpVersion;
    if (version !== '1.1' && version !== '1.0')
      throw new HttpError(
        400,
        'bad_request',
        `HTTP/${version.slice(0, 10)} is not spoken here: use HTTP/1.1`,
      );
    if (version === '1.1' && req.headers.host === undefined)
      throw new HttpError(400, 'bad_request', 'HTTP/1.1 requests must carry a Host header');
    if (inFlight >= limits.maxConcurrentRequests)
      throw retryLater(
        'overloaded',
        `the gateway is serving ${limits.maxConcurrentRequests} requests (ENGRAM_MAX_CONCURRENT_REQUESTS): retry shortly`,
      );
    inFlight++;
    let left = false;
    reply.raw.once('close', () => {
      if (!left) inFlight--;
      left = true;
    });
    state.started = performance.now();
  });
  app.addHook('onResponse', async (req, reply) => {
    const state = stateOf(req);
    metrics.requests.inc({ route: state.route, status: String(reply.statusCode) });
    metrics.duration.observe({ route: state.route }, (performance.now() - state.started) / 1000);
  });

  /** Route, key, content type, declared size, one token: everything that needs no body. */
  function admit(name: RouteName, method: string) {
    return async (req: FastifyRequest<{ Params: { tenant: string; queryId?: string } }>) => {
      const state = stateOf(req);
      state.route = name;
      const path = req.url.split('?')[0]!.slice(0, 200);
      if (req.method !== method)
        throw new HttpError(
          405,
          'method_not_allowed',
          `${req.method} is not allowed on ${path}: use ${method}`,
          {
            headers: { allow: method },
          },
        );
      const { tenant, queryId } = req.params;
      if (!TENANT_ID_PATTERN.test(tenant))
        throw new HttpError(
          404,
          'not_found',
          `no tenant ${JSON.stringify(tenant.slice(0, 80))}: tenant ids are DNS labels`,
        );
      if (queryId !== undefined && !UUID.test(queryId))
        throw new HttpError(
          404,
          'not_found',
          `no query ${JSON.stringify(queryId.slice(0, 80))} for tenant ${tenant}`,
        );
      const auth = deps.keys.authenticate(tenant, presentedKey(req));
      if (!auth.ok) {
        if (auth.reason === 'other-tenant')
          throw new HttpError(403, 'forbidden', `this API key belongs to another tenant, not to ${tenant}`);
        throw new HttpError(
          401,
          'unauthenticated',
          auth.reason === 'missing'
            ? 'missing API key: send Authorization: Bearer <key> or X-API-Key'
            : `invalid API key for tenant ${tenant}`,
          { headers: { 'www-authenticate': 'Bearer realm="engram"' } },
        );
      }
      state.tenant = tenant;
      if (method === 'GET') return;
      const typeProblem = contentTypeProblem(req.headers['content-type']);
      if (typeProblem) throw new HttpError(415, 'unsupported_media_type', typeProblem);
      const limit = isQueryRoute(name) ? queryBodyLimit : limits.maxBodyBytes;
      const declared = Number(req.headers['content-length']);
      if (declared > limit) throw tooLarge(limit, isQueryRoute(name));
      // One token before the body is read: parsing costs the gateway, so it costs the tenant.
      await takeTokens(deps.limiter, tenant, 1);
    };
  }

  function tooLarge(limit: number, query: boolean): HttpError {
    return new HttpError(
      413,
      'payload_too_large',
      query
        ? `request body exceeds ${limit} bytes: a query's text has at most 8192 characters`
        : `request body exceeds ${limit} bytes (ENGRAM_MAX_BODY_BYTES): send fewer or smaller documents`,
    );
  }

  function bodyOf(req: FastifyRequest, name: RouteName): unknown {
    const body = req.body;
    const bytes = Buffer.isBuffer(body) ? body : Buffer.alloc(0);
    return readJsonBody(bytes, shapeLimits(name, limits.maxBatchDocuments));
  }

  type Req = FastifyRequest<{ Params: { tenant: string; queryId?: string } }>;
  const handlers: Record<RouteName, (req: Req) => Promise<HandlerReply>> = {
    document: (req) => documents.document(req.params.tenant, bodyOf(req, 'document'), req.id),
    batch: (req) => documents.batch(req.params.tenant, bodyOf(req, 'batch'), req.id),
    query: (req) => queries.submit(req.params.tenant, bodyOf(req, 'query'), req.id),
    'query-sync': (req) => queries.answer(req.params.tenant, bodyOf(req, 'query-sync')),
    'query-result': (req) => queries.result(req.params.tenant, req.params.queryId!),
  };
  const reply = (name: RouteName) => async (req: Req, res: FastifyReply) => {
    const { status, body } = await handlers[name](req);
    return res.code(status).send(body);
  };

  // Every method on a known path reaches the route, so a wrong one is a 405 (before any body is read).
  const methods = app.supportedMethods.filter((m) => m !== 'CONNECT');
  for (const route of ROUTES)
    app.route({
      method: methods,
      url: route.url,
      bodyLimit: isQueryRoute(route.name) ? queryBodyLimit : limits.maxBodyBytes,
      onRequest: admit(route.name, route.method) as never,
      handler: reply(route.name) as never,
    });
  return app;
}
