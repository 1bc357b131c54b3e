/**
 * Accepted inputs -> the ingest.raw records the gateway will produce, measured as the broker will
 * see them: each value is the JSON message (escapes included: a control character is 6 bytes), each
 * document at most ENGRAM_MAX_DOCUMENT_BYTES, and a request's records together within the topic's
 * max.message.bytes (they may all land in one partition's record batch). Pure: no I/O.
 *
 * `acceptedAt` is information only: the gateway's clock does not order versions (replicas' clocks
 * disagree); the ingest role orders them by their position in ingest.raw.
 */
import { messageKey, type RawDocument, sha256 } from '../../pipeline/messages.ts';
import { HttpError } from './http-error.ts';
import type { DocumentInput } from './inputs.ts';

export interface RawRecordLimits {
  maxDocumentBytes: number;
  rawTopicMaxMessageBytes: number;
  /** Kafka's framing around one record (key and value excluded) and around a record batch. */
  recordOverheadBytes?: number;
  batchOverheadBytes?: number;
}

export interface RawRecord {
  documentId: string;
  contentHash: string;
  key: string;
  value: string;
}

export function buildRawRecords(
  tenantId: string,
  inputs: readonly DocumentInput[],
  meta: { requestId: string; acceptedAt: number; batch: boolean },
  limits: RawRecordLimits,
): RawRecord[] {
  const recordOverhead = limits.recordOverheadBytes ?? 64;
  let total = limits.batchOverheadBytes ?? 128;
  const seen = new Map<string, number>();
  return inputs.map((d, i) => {
    const where = meta.batch ? `documents.${i}` : 'the document';
    const contentHash = sha256(d.content);
    const documentId = d.id ?? contentHash.slice(0, 32);
    const prev = seen.get(documentId);
    if (prev !== undefined)
      throw new HttpError(
        422,
        'invalid_body',
        `documents.${i}.id duplicates documents.${prev}.id (${documentId})`,
      );
    seen.set(documentId, i);
    const message: RawDocument = {
      v: 1,
      kind: 'document',
      tenantId,
      documentId,
      contentHash,
      content: d.content,
      ...(d.metadata && { metadata: d.metadata }),
      ...(d.observedAt && { observedAt: Date.parse(d.observedAt) }),
      acceptedAt: meta.acceptedAt,
      requestId: meta.requestId,
    };
    const value = JSON.stringify(message);
    const key = messageKey(tenantId, documentId);
    const bytes = Buffer.byteLength(value, 'utf8');
    if (bytes > limits.maxDocumentBytes)
      throw new HttpError(
        413,
        'document_too_large',
        `${where} is ${bytes} bytes as an ingest.raw message (content and metadata JSON-encoded, escapes included), ` +
          `over ${limits.maxDocumentBytes} bytes (ENGRAM_MAX_DOCUMENT_BYTES): split the document`,
      );
    total += bytes + Buffer.byteLength(key, 'utf8') + recordOverhead;
    if (total > limits.rawTopicMaxMessageBytes)
      throw new HttpError(
        413,
        'batch_too_large',
        `the batch's documents up to documents.${i} exceed ${limits.rawTopicMaxMessageBytes} bytes as ingest.raw messages ` +
          `(the topic's max.message.bytes, ENGRAM_RAW_TOPIC_MAX_MESSAGE_BYTES): send them in smaller batches`,
      );
    return { documentId, contentHash, key, value };
  });
}
