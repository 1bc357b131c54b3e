/**
 * The dlq record: the original key and value untouched, the original headers kept, and
 * `engram-dlq-*` headers saying where it came from and why it failed. Replaying a record means
 * producing key/value (and the original headers) back to `engram-dlq-source-topic`.
 *
 * A record the dlq cannot take (larger than its max.message.bytes, or refused as invalid) is
 * sent truncated instead: the value cut to a prefix, the original headers dropped, and headers
 * naming the original's size and sha256, so it can still be found at its source offset while the
 * topic's retention keeps it.
 */
import { createHash } from 'node:crypto';
import { bytesOf, type InboundMessage, type OutboundMessage } from '../core/transport.ts';

export const DLQ_HEADERS = {
  error: 'engram-dlq-error',
  reason: 'engram-dlq-reason',
  /** transient | error | poison: what the last attempt's failure was. */
  failure: 'engram-dlq-failure',
  attempts: 'engram-dlq-attempts',
  sourceTopic: 'engram-dlq-source-topic',
  sourcePartition: 'engram-dlq-source-partition',
  sourceOffset: 'engram-dlq-source-offset',
  role: 'engram-dlq-role',
  consumerGroup: 'engram-dlq-consumer-group',
  failedAt: 'engram-dlq-failed-at',
  /** Present on a truncated record: "true". */
  truncated: 'engram-dlq-truncated',
  /** Size and sha256 (hex) of the original value. */
  originalBytes: 'engram-dlq-original-bytes',
  originalSha256: 'engram-dlq-original-sha256',
} as const;

export type DeadLetterReason = 'poison' | 'exhausted';

/** Bytes of the original value a truncated record keeps (enough to recognise it). */
export const TRUNCATED_VALUE_BYTES = 64 * 1024;

export interface DeadLetterFailure {
  error: string;
  reason: DeadLetterReason;
  failure: 'poison' | 'transient' | 'error';
  attempts: number;
}

export function deadLetterRecord(
  message: InboundMessage,
  failure: DeadLetterFailure,
  origin: { role: string; consumerGroup: string },
  now: Date = new Date(),
): OutboundMessage {
  return {
    key: message.key,
    value: message.value ?? Buffer.alloc(0),
    headers: {
      ...message.headers,
      [DLQ_HEADERS.error]: failure.error,
      [DLQ_HEADERS.reason]: failure.reason,
      [DLQ_HEADERS.failure]: failure.failure,
      [DLQ_HEADERS.attempts]: String(failure.attempts),
      [DLQ_HEADERS.sourceTopic]: message.topic,
      [DLQ_HEADERS.sourcePartition]: String(message.partition),
      [DLQ_HEADERS.sourceOffset]: message.offset,
      [DLQ_HEADERS.role]: origin.role,
      [DLQ_HEADERS.consumerGroup]: origin.consumerGroup,
      [DLQ_HEADERS.failedAt]: now.toISOString(),
    },
  };
}

/**
 * The same record cut down to fit: value prefix, only the `engram-dlq-*` headers (original
 * headers can be what made it too large), and a reference to the original.
 */
export function truncatedRecord(record: OutboundMessage, keepBytes = TRUNCATED_VALUE_BYTES): OutboundMessage {
  const value = typeof record.value === 'string' ? Buffer.from(record.value) : record.value;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(record.headers ?? {})) if (k.startsWith('engram-dlq-')) headers[k] = v;
  headers[DLQ_HEADERS.truncated] = 'true';
  headers[DLQ_HEADERS.originalBytes] = String(value.length);
  headers[DLQ_HEADERS.originalSha256] = createHash('sha256').update(value).digest('hex');
  const key = record.key === null || bytesOf(record.key) <= 4096 ? record.key : null;
  return { key, value: value.subarray(0, Math.min(keepBytes, value.length)), headers };
}
