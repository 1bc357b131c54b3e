/**
 * The query endpoints without HTTP. An asynchronous query is a `pending` state in Redis plus a
 * message on query.pending; the query role replaces the state with its JSON result.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { redisKeys } from '../../contract/stores.ts';
import { topicName } from '../../contract/topics.ts';
import type { ProducerTransport } from '../../core/transport.ts';
import type { Logger } from '../../observability/log.ts';
import { messageKey, type QueryRequest } from '../../pipeline/messages.ts';
import type { HandlerReply } from './document-handlers.ts';
import { HttpError, retryLater } from './http-error.ts';
import { queryInputSchema, validateInput } from './inputs.ts';

/** How long a query's state (pending, then its result) stays readable. */
export const QUERY_STATE_TTL_SECONDS = 3600;

export interface QueryHandlerDeps {
  cluster: string;
  topicPrefix: string;
  producer: ProducerTransport;
  redis: Redis;
  log: Logger;
  now?: () => number;
  /** The query engine (roles/query/query-engine.ts) when this gateway has Neo4j and the model. */
  answer?: (tenantId: string, text: string, topK: number) => Promise<unknown>;
}

export class QueryHandlers {
  readonly #deps: QueryHandlerDeps;
  readonly #queryTopic: string;
  readonly #now: () => number;

  constructor(deps: QueryHandlerDeps) {
    this.#deps = deps;
    this.#queryTopic = topicName(deps.topicPrefix, 'query.pending');
    this.#now = deps.now ?? Date.now;
  }

  /** POST /v1/tenants/{tenant}/queries: 202 with the id and where to read the result. */
  async submit(tenantId: string, body: unknown, requestId: string): Promise<HandlerReply> {
    const { redis, producer, log, cluster } = this.#deps;
    const input = validateInput(queryInputSchema, body);
    const queryId = randomUUID();
    const message: QueryRequest = {
      v: 1,
      kind: 'query',
      tenantId,
      queryId,
      text: input.text,
      topK: input.topK,
      acceptedAt: this.#now(),
    };
    const stateKey = redisKeys.query(cluster, tenantId, queryId);
    await redis.set(stateKey, 'pending', 'EX', QUERY_STATE_TTL_SECONDS);
    try {
      await producer.send([
        {
          topic: this.#queryTopic,
          messages: [{ key: messageKey(tenantId, queryId), value: JSON.stringify(message) }],
        },
      ]);
    } catch (err) {
      await redis.del(stateKey).catch(() => undefined);
      log.error('produce to query.pending failed', { tenantId, requestId, error: err });
      throw retryLater('unavailable', 'the message log is unavailable: retry later');
    }
    return {
      status: 202,
      body: { queryId, status: 'pending', result: `/v1/tenants/${tenantId}/queries/${queryId}` },
    };
  }

  /** POST /v1/tenants/{tenant}/query: the answer in the same request (the agents' usual call). */
  async answer(tenantId: string, body: unknown): Promise<HandlerReply> {
    const input = validateInput(queryInputSchema, body);
    if (!this.#deps.answer)
      throw new HttpError(
        501,
        'not_implemented',
        'this gateway answers queries synchronously only with ENGRAM_QUERY_SYNC=true (and Neo4j and the model): ' +
          `set them, or use POST /v1/tenants/${tenantId}/queries and read the result by id`,
      );
    try {
      return { status: 200, body: await this.#deps.answer(tenantId, input.text, input.topK) };
    } catch (err) {
      this.#deps.log.error('synchronous query failed', { tenantId, error: err });
      throw retryLater('unavailable', 'the graph store or the cache is unavailable: retry later');
    }
  }

  /** GET /v1/tenants/{tenant}/queries/{id}: 202 while pending, 200 with the result, 404 unknown. */
  async result(tenantId: string, queryId: string): Promise<HandlerReply> {
    const state = await this.#deps.redis.get(redisKeys.query(this.#deps.cluster, tenantId, queryId));
    if (state === null) throw new HttpError(404, 'not_found', `no query ${queryId} for tenant ${tenantId}`);
    if (state === 'pending') return { status: 202, body: { queryId, status: 'pending' } };
    let result: unknown = state;
    try {
      result = JSON.parse(state);
    } catch {
      // Written by the query role as JSON; anything else is passed through as text.
    }
    return { status: 200, body: { queryId, status: 'done', result } };
  }
}
