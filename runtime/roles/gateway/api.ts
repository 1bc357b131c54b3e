/**
 * The gateway's HTTP API (node:http). Every request is checked in this order, and refused at the
 * first failure with a JSON error `{ error: { code, message } }`:
 *   route (404/405) -> API key (401 unknown, 403 another tenant's) -> content type (415)
 *   -> body size (413) -> JSON (400) -> schema (422) -> tenant rate limit (429)
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
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Redis } from 'ioredis';
import type { Counter, Histogram } from 'prom-client';
import { z } from 'zod';
import { redisKeys } from '../../contract/stores.ts';
import { TENANT_ID_PATTERN } from '../../contract/tenants.ts';
import { topicName } from '../../contract/topics.ts';
import type { Logger } from '../../observability/log.ts';
import {
  documentIdSchema,
  messageKey,
  metadataSchema,
  type QueryRequest,
  type RawDocument,
  sha256,
} from '../../pipeline/messages.ts';
import { classifyFailure } from '../../worker/errors.ts';
import type { ProducerTransport } from '../../worker/transport.ts';
import type { DocumentIdempotency, DocumentRef } from './idempotency.ts';
import type { TenantRateLimiter } from './rate-limit.ts';
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
  maxBatchDocuments: number;
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

export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly headers: Record<string, string>;
  readonly details: unknown;
  constructor(
    status: number,
    code: string,
    message: string,
    extra: { headers?: Record<string, string>; details?: unknown } = {},
  ) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = extra.headers ?? {};
    this.details = extra.details;
  }
}

const REJECT_REASON: Record<number, string> = {
  400: 'invalid',
  401: 'unauthenticated',
  403: 'forbidden',
  409: 'in_progress',
  413: 'too_large',
  415: 'unsupported_media_type',
  422: 'invalid',
  429: 'rate_limited',
};

function documentInputSchema(maxDocumentBytes: number) {
  return z.strictObject({
    id: documentIdSchema.optional(),
    content: z
      .string()
      .min(1, 'content must not be empty')
      .refine((s) => s.trim() !== '', 'content must not be blank')
      .refine(
        (s) => Buffer.byteLength(s, 'utf8') <= maxDocumentBytes,
        `content exceeds ${maxDocumentBytes} bytes (ENGRAM_MAX_DOCUMENT_BYTES): split the document`,
      ),
    metadata: metadataSchema.optional(),
  });
}

const queryInputSchema = z.strictObject({
  text: z.string().min(1).max(8192),
  topK: z.number().int().min(1).max(100).default(10),
});

type Route =
  | { name: 'document' | 'batch' | 'query'; tenantId: string; methods: ['POST'] }
  | { name: 'query-result'; tenantId: string; queryId: string; methods: ['GET'] };

function matchRoute(path: string): Route | undefined {
  const m = /^\/v1\/tenants\/([^/]+)\/(documents|documents\/batch|queries|queries\/([^/]+))$/.exec(path);
  if (!m) return undefined;
  const tenantId = decodeURIComponent(m[1]!);
  if (m[2] === 'documents') return { name: 'document', tenantId, methods: ['POST'] };
  if (m[2] === 'documents/batch') return { name: 'batch', tenantId, methods: ['POST'] };
  if (m[2] === 'queries') return { name: 'query', tenantId, methods: ['POST'] };
  return { name: 'query-result', tenantId, queryId: decodeURIComponent(m[3]!), methods: ['GET'] };
}

function presentedKey(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (auth) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    return m ? m[1] : undefined;
  }
  const header = req.headers['x-api-key'];
  return typeof header === 'string' && header !== '' ? header : undefined;
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  const tooLarge = () =>
    new HttpError(
      413,
      'payload_too_large',
      `request body exceeds ${limit} bytes (ENGRAM_MAX_BODY_BYTES): send fewer or smaller documents`,
    );
  if (Number.isFinite(declared) && declared > limit) throw tooLarge();
  const parts: Buffer[] = [];
  let total = 0;
  for await (const part of req as AsyncIterable<Buffer>) {
    total += part.length;
    if (total > limit) throw tooLarge();
    parts.push(part);
  }
  return Buffer.concat(parts, total);
}

function parseJson<S extends z.ZodType>(schema: S, body: Buffer): z.output<S> {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new HttpError(400, 'malformed_json', `request body is not valid JSON: ${(err as Error).message}`);
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const issues = result.error.issues.map((i) => ({
      path: i.path.join('.') || '(root)',
      message: i.message,
    }));
    const summary = issues
      .slice(0, 3)
      .map((i) => `${i.path}: ${i.message}`)
      .join('; ');
    throw new HttpError(422, 'invalid_body', `request body is invalid: ${summary}`, { details: issues });
  }
  return result.data;
}

export function createGatewayHandler(deps: GatewayDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const now = deps.now ?? Date.now;
  const rawTopic = topicName(deps.topicPrefix, 'ingest.raw');
  const queryTopic = topicName(deps.topicPrefix, 'query.pending');
  const documentSchema = documentInputSchema(deps.limits.maxDocumentBytes);
  const batchSchema = z.strictObject({
    documents: z
      .array(documentSchema)
      .min(1, 'documents must not be empty')
      .max(
        deps.limits.maxBatchDocuments,
        `at most ${deps.limits.maxBatchDocuments} documents per batch (ENGRAM_MAX_BATCH_DOCUMENTS)`,
      ),
  });

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const json = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(json),
      ...headers,
    });
    res.end(json);
  };

  async function rateLimit(tenantId: string, cost: number): Promise<void> {
    const decision = await deps.limiter.take(tenantId, cost);
    if (decision.allowed) return;
    const { documentsPerSecond, burst } = decision.quota;
    const message =
      cost > burst
        ? `this request needs ${cost} tokens but tenant ${tenantId}'s burst is ${burst}: send at most ${burst} documents per request`
        : `tenant ${tenantId} is over its rate limit (${documentsPerSecond} documents/s, burst ${burst}): retry after ${Math.ceil(decision.retryAfterMs / 1000)} s`;
    throw new HttpError(429, 'rate_limited', message, {
      headers: { 'retry-after': String(Math.max(1, Math.ceil(decision.retryAfterMs / 1000))) },
    });
  }

  /** Claims, produces and confirms; returns each document's status in input order. */
  async function ingest(tenantId: string, inputs: z.infer<typeof documentSchema>[], requestId: string) {
    const acceptedAt = now();
    const docs = inputs.map((d) => {
      const contentHash = sha256(d.content);
      const documentId = d.id ?? contentHash.slice(0, 32);
      return { ...d, documentId, contentHash };
    });
    const seen = new Map<string, number>();
    docs.forEach((d, i) => {
      const prev = seen.get(d.documentId);
      if (prev !== undefined)
        throw new HttpError(
          422,
          'invalid_body',
          `documents.${i}.id duplicates documents.${prev}.id (${d.documentId})`,
        );
      seen.set(d.documentId, i);
    });
    const refs: DocumentRef[] = docs.map((d) => ({
      tenantId,
      documentId: d.documentId,
      contentHash: d.contentHash,
    }));
    const claims = await deps.idempotency.claim(refs);
    const claimed = refs.filter((_, i) => claims[i] === 'claimed');
    const records = docs
      .filter((_, i) => claims[i] === 'claimed')
      .map((d) => {
        const raw: RawDocument = {
          v: 1,
          kind: 'document',
          tenantId,
          documentId: d.documentId,
          contentHash: d.contentHash,
          content: d.content,
          ...(d.metadata && { metadata: d.metadata }),
          acceptedAt,
          requestId,
        };
        return { key: messageKey(tenantId, d.documentId), value: JSON.stringify(raw) };
      });
    try {
      if (records.length > 0) await deps.producer.send([{ topic: rawTopic, messages: records }]);
    } catch (err) {
      await deps.idempotency.release(claimed).catch(() => undefined);
      deps.log.error('produce to ingest.raw failed', { tenantId, requestId, error: err });
      throw new HttpError(503, 'unavailable', 'the message log is unavailable: retry later', {
        headers: { 'retry-after': '1' },
      });
    }
    await deps.idempotency.confirm(claimed).catch((err: unknown) => {
      // Produced but not confirmed: a retry re-sends a duplicate the pipeline dedupes.
      deps.log.warn('could not confirm idempotency records', { tenantId, requestId, error: err });
    });
    const statuses = claims.map((c) => (c === 'claimed' ? 'accepted' : c));
    for (const s of statuses) deps.metrics.documents.inc({ tenant: tenantId, status: s });
    return docs.map((d, i) => ({ documentId: d.documentId, status: statuses[i]! }));
  }

  async function handle(
    req: IncomingMessage,
    res: ServerResponse,
    route: Route,
    requestId: string,
  ): Promise<number> {
    const key = presentedKey(req);
    const auth = deps.keys.authenticate(route.tenantId, key);
    if (!auth.ok) {
      if (auth.reason === 'other-tenant')
        throw new HttpError(
          403,
          'forbidden',
          `this API key belongs to another tenant, not to ${route.tenantId}`,
        );
      throw new HttpError(
        401,
        'unauthenticated',
        auth.reason === 'missing'
          ? 'missing API key: send Authorization: Bearer <key> or X-API-Key'
          : `invalid API key for tenant ${route.tenantId}`,
        { headers: { 'www-authenticate': 'Bearer realm="engram"' } },
      );
    }

    if (route.name === 'query-result') {
      const state = await deps.redis.get(redisKeys.query(deps.cluster, route.tenantId, route.queryId));
      if (state === null)
        throw new HttpError(404, 'not_found', `no query ${route.queryId} for tenant ${route.tenantId}`);
      if (state === 'pending') {
        send(res, 202, { queryId: route.queryId, status: 'pending' });
        return 202;
      }
      send(res, 200, { queryId: route.queryId, status: 'done', result: JSON.parse(state) });
      return 200;
    }

    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json')
      throw new HttpError(
        415,
        'unsupported_media_type',
        `content-type must be application/json (got ${type || 'none'})`,
      );
    const body = await readBody(req, deps.limits.maxBodyBytes);

    if (route.name === 'query') {
      const input = parseJson(queryInputSchema, body);
      await rateLimit(route.tenantId, 1);
      const queryId = randomUUID();
      const message: QueryRequest = {
        v: 1,
        kind: 'query',
        tenantId: route.tenantId,
        queryId,
        text: input.text,
        topK: input.topK,
        acceptedAt: now(),
      };
      const stateKey = redisKeys.query(deps.cluster, route.tenantId, queryId);
      await deps.redis.set(stateKey, 'pending', 'EX', 3600);
      try {
        await deps.producer.send([
          {
            topic: queryTopic,
            messages: [{ key: messageKey(route.tenantId, queryId), value: JSON.stringify(message) }],
          },
        ]);
      } catch (err) {
        await deps.redis.del(stateKey).catch(() => undefined);
        deps.log.error('produce to query.pending failed', {
          tenantId: route.tenantId,
          requestId,
          error: err,
        });
        throw new HttpError(503, 'unavailable', 'the message log is unavailable: retry later', {
          headers: { 'retry-after': '1' },
        });
      }
      send(res, 202, {
        queryId,
        status: 'pending',
        result: `/v1/tenants/${route.tenantId}/queries/${queryId}`,
      });
      return 202;
    }

    const inputs =
      route.name === 'document' ? [parseJson(documentSchema, body)] : parseJson(batchSchema, body).documents;
    await rateLimit(route.tenantId, inputs.length);
    const results = await ingest(route.tenantId, inputs, requestId);
    if (route.name === 'document') {
      const r = results[0]!;
      if (r.status === 'in_progress')
        throw new HttpError(
          409,
          'in_progress',
          `document ${r.documentId} is being ingested by a concurrent request: retry shortly`,
          {
            headers: { 'retry-after': '1' },
          },
        );
      const status = r.status === 'duplicate' ? 200 : 202;
      send(res, status, r);
      return status;
    }
    const count = (s: string) => results.filter((r) => r.status === s).length;
    send(res, 202, {
      accepted: count('accepted'),
      duplicates: count('duplicate'),
      inProgress: count('in_progress'),
      documents: results,
    });
    return 202;
  }

  return (req, res) => {
    const started = performance.now();
    const requestId =
      typeof req.headers['x-request-id'] === 'string'
        ? req.headers['x-request-id'].slice(0, 128)
        : randomUUID();
    res.setHeader('x-request-id', requestId);
    const path = (req.url ?? '/').split('?')[0]!;
    const route = matchRoute(path);
    const routeName = route?.name ?? 'unknown';
    const finish = (status: number) => {
      deps.metrics.requests.inc({ route: routeName, status: String(status) });
      deps.metrics.duration.observe({ route: routeName }, (performance.now() - started) / 1000);
    };
    const fail = (err: unknown) => {
      const e =
        err instanceof HttpError
          ? err
          : ['transient', 'unavailable'].includes(classifyFailure(err))
            ? new HttpError(503, 'unavailable', 'a backing store is unavailable: retry later', {
                headers: { 'retry-after': '1' },
              })
            : new HttpError(500, 'internal', 'internal error: see the gateway logs for the request id');
      if (!(err instanceof HttpError))
        deps.log.error('request failed', { requestId, route: routeName, error: err });
      const tenant =
        route && TENANT_ID_PATTERN.test(route.tenantId) && e.status !== 401 ? route.tenantId : 'unknown';
      const reason = REJECT_REASON[e.status];
      if (reason) deps.metrics.rejected.inc({ tenant, reason });
      if (res.headersSent) {
        res.destroy();
      } else {
        const body = {
          error: { code: e.code, message: e.message, ...(e.details !== undefined && { details: e.details }) },
        };
        // An unread body (e.g. too large) is not worth draining: close the connection after the reply.
        const closing = !req.readableEnded;
        send(res, e.status, body, { ...e.headers, ...(closing && { connection: 'close' }) });
        if (closing) {
          req.resume();
          res.on('finish', () => setTimeout(() => req.destroy(), 1000).unref());
        }
      }
      finish(e.status);
    };
    if (!route) return fail(new HttpError(404, 'not_found', `no route for ${path}`));
    if (!(route.methods as string[]).includes(req.method ?? '')) {
      return fail(
        new HttpError(
          405,
          'method_not_allowed',
          `${req.method} is not allowed on ${path}: use ${route.methods.join(', ')}`,
          { headers: { allow: route.methods.join(', ') } },
        ),
      );
    }
    handle(req, res, route, requestId).then(finish, fail);
  };
}
