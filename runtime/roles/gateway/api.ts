/**
 * The gateway's HTTP API on fastify (body limits, URL decoding, framing, timeouts; one error
 * handler so nothing thrown escapes). Every request is checked in this order, cheapest first, and
 * refused at the first failure with `{ error: { code, message } }`:
 *   in-flight cap (503) -> route (404/405, 400 for a malformed URL) -> API key (401 unknown, 403 another
 *   tenant's) -> content type (415) -> declared size (413) -> rate-limit admission, one token (429)
 *   -> body: UTF-8 (400), shape (422), JSON (400), Unicode (400), schema (422)
 *   -> produced size (413) -> the batch's remaining tokens (413 over the burst, 429)
 *   -> idempotency claim -> produce (202; 200 for a duplicate; 409 while a twin is in flight; 503).
 * Nothing reaches Kafka unless every check passed.
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
import { redisKeys } from '../../contract/stores.ts';
import { TENANT_ID_PATTERN } from '../../contract/tenants.ts';
import { topicName } from '../../contract/topics.ts';
import type { Logger } from '../../observability/log.ts';
import { messageKey, type QueryRequest } from '../../pipeline/messages.ts';
import type { ProducerTransport } from '../../worker/transport.ts';
import { errorBody, HttpError, REJECT_REASON, retryLater, toHttpError } from './http-error.ts';
import type { DocumentIdempotency, DocumentRef } from './idempotency.ts';
import {
  batchInputSchema,
  type DocumentInput,
  documentInputSchema,
  MAX_METADATA_KEYS,
  queryInputSchema,
  validateInput,
} from './inputs.ts';
import type { TenantRateLimiter } from './rate-limit.ts';
import { buildRawRecords, type RawRecord } from './raw-documents.ts';
import { type JsonShapeLimits, readJsonBody } from './request-body.ts';
import type { TenantKeyStore } from './tenant-keys.ts';

export interface GatewayMetrics {
  requests: Counter<'route' | 'status'>;
  duration: Histogram<'route'>;
  documents: Counter<'tenant' | 'status'>;
  rejected: Counter<'tenant' | 'reason'>;
}

export interface GatewayLimits {
  maxBodyBytes: number;
  maxDocumentBytes: number;
  maxMetadataBytes: number;
  maxBatchDocuments: number;
  rawTopicMaxMessageBytes: number;
  maxConcurrentRequests: number;
}

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
}

type RouteName = 'document' | 'batch' | 'query' | 'query-result';

const ROUTES: readonly { name: RouteName; url: string; method: 'POST' | 'GET' }[] = [
  { name: 'document', url: '/v1/tenants/:tenant/documents', method: 'POST' },
  { name: 'batch', url: '/v1/tenants/:tenant/documents/batch', method: 'POST' },
  { name: 'query', url: '/v1/tenants/:tenant/queries', method: 'POST' },
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
  const now = deps.now ?? Date.now;
  const rawTopic = topicName(deps.topicPrefix, 'ingest.raw');
  const queryTopic = topicName(deps.topicPrefix, 'query.pending');
  const documentSchema = documentInputSchema(limits.maxMetadataBytes);
  const batchSchema = batchInputSchema(limits.maxMetadataBytes, limits.maxBatchDocuments);
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
    const query = stateOf(req).route === 'query';
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

  async function rateLimit(tenantId: string, cost: number): Promise<void> {
    const decision = await deps.limiter.take(tenantId, cost);
    if (decision.allowed) return;
    const { documentsPerSecond, burst } = decision.quota;
    const seconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
    throw new HttpError(
      429,
      'rate_limited',
      `tenant ${tenantId} is over its rate limit (${documentsPerSecond} documents/s, burst ${burst}): retry after ${seconds} s`,
      { headers: { 'retry-after': String(seconds) } },
    );
  }

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
      const limit = name === 'query' ? queryBodyLimit : limits.maxBodyBytes;
      const declared = Number(req.headers['content-length']);
      if (declared > limit) throw tooLarge(limit, name === 'query');
      // One token before the body is read: parsing costs the gateway, so it costs the tenant.
      await rateLimit(tenant, 1);
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

  /** Sizes, the batch's remaining tokens, claims, produce, confirm: each document's status in input order. */
  async function ingest(tenantId: string, inputs: DocumentInput[], requestId: string, batch: boolean) {
    const records = buildRawRecords(tenantId, inputs, { requestId, acceptedAt: now(), batch }, limits);
    if (batch) {
      const { burst } = deps.limiter.quotaOf(tenantId);
      if (inputs.length > burst)
        throw new HttpError(
          413,
          'batch_exceeds_burst',
          `this batch has ${inputs.length} documents but tenant ${tenantId}'s burst is ${burst}: it can never pass; send at most ${burst} documents per request`,
        );
      if (inputs.length > 1) await rateLimit(tenantId, inputs.length - 1);
    }
    const refs: DocumentRef[] = records.map((r) => ({
      tenantId,
      documentId: r.documentId,
      contentHash: r.contentHash,
    }));
    const claims = await deps.idempotency.claim(refs);
    const claimed = refs.filter((_, i) => claims[i] === 'claimed');
    const toSend: RawRecord[] = records.filter((_, i) => claims[i] === 'claimed');
    try {
      if (toSend.length > 0)
        await deps.producer.send([
          { topic: rawTopic, messages: toSend.map((r) => ({ key: r.key, value: r.value })) },
        ]);
    } catch (err) {
      await deps.idempotency.release(claimed).catch(() => undefined);
      if (isRecordTooLarge(err))
        throw new HttpError(
          413,
          'document_too_large',
          "the message log refused the documents as too large for the ingest.raw topic: send smaller documents (and set ENGRAM_RAW_TOPIC_MAX_MESSAGE_BYTES to the topic's max.message.bytes)",
        );
      log.error('produce to ingest.raw failed', { tenantId, requestId, error: err });
      throw retryLater('unavailable', 'the message log is unavailable: retry later');
    }
    await deps.idempotency.confirm(claimed).catch((err: unknown) => {
      // Produced but not confirmed: a retry re-sends a duplicate the pipeline dedupes.
      log.warn('could not confirm idempotency records', { tenantId, requestId, error: err });
    });
    const statuses = claims.map((c) => (c === 'claimed' ? 'accepted' : c));
    for (const s of statuses) metrics.documents.inc({ tenant: tenantId, status: s });
    return records.map((r, i) => ({ documentId: r.documentId, status: statuses[i]! }));
  }

  type Req = FastifyRequest<{ Params: { tenant: string; queryId?: string } }>;
  const handlers: Record<RouteName, (req: Req, reply: FastifyReply) => Promise<unknown>> = {
    async document(req, reply) {
      const input = validateInput(documentSchema, bodyOf(req, 'document'));
      const [r] = await ingest(req.params.tenant, [input], req.id, false);
      if (r!.status === 'in_progress')
        throw new HttpError(
          409,
          'in_progress',
          `document ${r!.documentId} is being ingested by a concurrent request: retry shortly`,
          { headers: { 'retry-after': '1' } },
        );
      return reply.code(r!.status === 'duplicate' ? 200 : 202).send(r);
    },
    async batch(req, reply) {
      const { documents } = validateInput(batchSchema, bodyOf(req, 'batch'));
      const results = await ingest(req.params.tenant, documents, req.id, true);
      const count = (s: string) => results.filter((r) => r.status === s).length;
      return reply.code(202).send({
        accepted: count('accepted'),
        duplicates: count('duplicate'),
        inProgress: count('in_progress'),
        documents: results,
      });
    },
    async query(req, reply) {
      const tenantId = req.params.tenant;
      const input = validateInput(queryInputSchema, bodyOf(req, 'query'));
      const queryId = randomUUID();
      const message: QueryRequest = {
        v: 1,
        kind: 'query',
        tenantId,
        queryId,
        text: input.text,
        topK: input.topK,
        acceptedAt: now(),
      };
      const stateKey = redisKeys.query(deps.cluster, tenantId, queryId);
      await deps.redis.set(stateKey, 'pending', 'EX', 3600);
      try {
        await deps.producer.send([
          {
            topic: queryTopic,
            messages: [{ key: messageKey(tenantId, queryId), value: JSON.stringify(message) }],
          },
        ]);
      } catch (err) {
        await deps.redis.del(stateKey).catch(() => undefined);
        log.error('produce to query.pending failed', { tenantId, requestId: req.id, error: err });
        throw retryLater('unavailable', 'the message log is unavailable: retry later');
      }
      return reply
        .code(202)
        .send({ queryId, status: 'pending', result: `/v1/tenants/${tenantId}/queries/${queryId}` });
    },
    async 'query-result'(req, reply) {
      const { tenant, queryId } = req.params as { tenant: string; queryId: string };
      const state = await deps.redis.get(redisKeys.query(deps.cluster, tenant, queryId));
      if (state === null) throw new HttpError(404, 'not_found', `no query ${queryId} for tenant ${tenant}`);
      if (state === 'pending') return reply.code(202).send({ queryId, status: 'pending' });
      let result: unknown = state;
      try {
        result = JSON.parse(state);
      } catch {
        // Written by the query role as JSON; anything else is passed through as text.
      }
      return reply.code(200).send({ queryId, status: 'done', result });
    },
  };

  // Every method on a known path reaches the route, so a wrong one is a 405 (before any body is read).
  const methods = app.supportedMethods.filter((m) => m !== 'CONNECT');
  for (const route of ROUTES)
    app.route({
      method: methods,
      url: route.url,
      bodyLimit: route.name === 'query' ? queryBodyLimit : limits.maxBodyBytes,
      onRequest: admit(route.name, route.method) as never,
      handler: handlers[route.name] as never,
    });
  return app;
}

/** kafkajs reports a record the broker will never take as MESSAGE_TOO_LARGE (possibly wrapped). */
function isRecordTooLarge(err: unknown): boolean {
  for (
    let e = err as { type?: unknown; cause?: unknown; originalError?: unknown } | undefined, i = 0;
    e && i < 5;
    i++
  ) {
    if (e.type === 'MESSAGE_TOO_LARGE' || e.type === 'RECORD_LIST_TOO_LARGE') return true;
    e = (e.cause ?? e.originalError) as typeof e;
  }
  return false;
}
