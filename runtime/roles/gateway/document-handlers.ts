/**
 * The document endpoints without HTTP: a parsed JSON body in, a status and a response body out,
 * refusals as HttpError. Order: schema (422) -> produced size (413) -> the batch's remaining
 * tokens (413 over the burst, 429) -> idempotency claim -> produce (202; 200 for a duplicate;
 * 409 while a twin is in flight; 503). Nothing reaches Kafka unless every check passed.
 */
import type { Counter } from 'prom-client';
import type { GatewayConfig } from '../../contract/config/gateway.ts';
import { topicName } from '../../contract/topics.ts';
import type { ProducerTransport } from '../../core/transport.ts';
import type { Logger } from '../../observability/log.ts';
import { HttpError, retryLater } from './http-error.ts';
import type { DocumentIdempotency, DocumentRef } from './idempotency.ts';
import { batchInputSchema, type DocumentInput, documentInputSchema, validateInput } from './inputs.ts';
import { type TenantRateLimiter, takeTokens } from './rate-limit.ts';
import { buildRawRecords, type RawRecord } from './raw-documents.ts';

/** What an endpoint answers: the HTTP layer sends it as JSON. */
export interface HandlerReply {
  status: number;
  body: unknown;
}

export type DocumentLimits = Pick<
  GatewayConfig,
  'maxDocumentBytes' | 'maxMetadataBytes' | 'maxBatchDocuments' | 'rawTopicMaxMessageBytes'
>;

export interface DocumentHandlerDeps {
  topicPrefix: string;
  limiter: Pick<TenantRateLimiter, 'take' | 'quotaOf'>;
  idempotency: Pick<DocumentIdempotency, 'claim' | 'release' | 'confirm'>;
  producer: ProducerTransport;
  limits: DocumentLimits;
  documents: Counter<'tenant' | 'status'>;
  log: Logger;
  now?: () => number;
}

export type DocumentStatus = 'accepted' | 'duplicate' | 'in_progress';

export class DocumentHandlers {
  readonly #deps: DocumentHandlerDeps;
  readonly #rawTopic: string;
  readonly #documentSchema: ReturnType<typeof documentInputSchema>;
  readonly #batchSchema: ReturnType<typeof batchInputSchema>;
  readonly #now: () => number;

  constructor(deps: DocumentHandlerDeps) {
    this.#deps = deps;
    this.#rawTopic = topicName(deps.topicPrefix, 'ingest.raw');
    this.#documentSchema = documentInputSchema(deps.limits.maxMetadataBytes);
    this.#batchSchema = batchInputSchema(deps.limits.maxMetadataBytes, deps.limits.maxBatchDocuments);
    this.#now = deps.now ?? Date.now;
  }

  /** POST /v1/tenants/{tenant}/documents (the request's one token was taken at admission). */
  async document(tenantId: string, body: unknown, requestId: string): Promise<HandlerReply> {
    const input = validateInput(this.#documentSchema, body);
    const [r] = await this.#ingest(tenantId, [input], requestId, false);
    if (r!.status === 'in_progress')
      throw new HttpError(
        409,
        'in_progress',
        `document ${r!.documentId} is being ingested by a concurrent request: retry shortly`,
        { headers: { 'retry-after': '1' } },
      );
    return { status: r!.status === 'duplicate' ? 200 : 202, body: r };
  }

  /** POST /v1/tenants/{tenant}/documents/batch: each document's status in input order. */
  async batch(tenantId: string, body: unknown, requestId: string): Promise<HandlerReply> {
    const { documents } = validateInput(this.#batchSchema, body);
    const results = await this.#ingest(tenantId, documents, requestId, true);
    const count = (s: DocumentStatus) => results.filter((r) => r.status === s).length;
    return {
      status: 202,
      body: {
        accepted: count('accepted'),
        duplicates: count('duplicate'),
        inProgress: count('in_progress'),
        documents: results,
      },
    };
  }

  /** Sizes, the batch's remaining tokens, claims, produce, confirm. */
  async #ingest(
    tenantId: string,
    inputs: DocumentInput[],
    requestId: string,
    batch: boolean,
  ): Promise<{ documentId: string; status: DocumentStatus }[]> {
    const { limiter, idempotency, producer, log } = this.#deps;
    const records = buildRawRecords(
      tenantId,
      inputs,
      { requestId, acceptedAt: this.#now(), batch },
      this.#deps.limits,
    );
    if (batch) {
      const { burst } = limiter.quotaOf(tenantId);
      if (inputs.length > burst)
        throw new HttpError(
          413,
          'batch_exceeds_burst',
          `this batch has ${inputs.length} documents but tenant ${tenantId}'s burst is ${burst}: it can never pass; send at most ${burst} documents per request`,
        );
      if (inputs.length > 1) await takeTokens(limiter, tenantId, inputs.length - 1);
    }
    const refs: DocumentRef[] = records.map((r) => ({
      tenantId,
      documentId: r.documentId,
      contentHash: r.contentHash,
    }));
    const claims = await idempotency.claim(refs);
    const claimed = refs.filter((_, i) => claims[i] === 'claimed');
    const toSend: RawRecord[] = records.filter((_, i) => claims[i] === 'claimed');
    try {
      if (toSend.length > 0)
        await producer.send([
          { topic: this.#rawTopic, messages: toSend.map((r) => ({ key: r.key, value: r.value })) },
        ]);
    } catch (err) {
      await idempotency.release(claimed).catch(() => undefined);
      if (isRecordTooLarge(err))
        throw new HttpError(
          413,
          'document_too_large',
          "the message log refused the documents as too large for the ingest.raw topic: send smaller documents (and set ENGRAM_RAW_TOPIC_MAX_MESSAGE_BYTES to the topic's max.message.bytes)",
        );
      log.error('produce to ingest.raw failed', { tenantId, requestId, error: err });
      throw retryLater('unavailable', 'the message log is unavailable: retry later');
    }
    await idempotency.confirm(claimed).catch((err: unknown) => {
      // Produced but not confirmed: a retry re-sends a duplicate the pipeline dedupes.
      log.warn('could not confirm idempotency records', { tenantId, requestId, error: err });
    });
    const statuses: DocumentStatus[] = claims.map((c) => (c === 'claimed' ? 'accepted' : c));
    for (const s of statuses) this.#deps.documents.inc({ tenant: tenantId, status: s });
    return records.map((r, i) => ({ documentId: r.documentId, status: statuses[i]! }));
  }
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
