/**
 * The dlq record: the original key and value untouched, the original headers kept, and
 * `engram-dlq-*` headers saying where it came from and why it failed. Replaying a record means
 * producing key/value (and the original headers) back to `engram-dlq-source-topic`.
 */
import type { InboundMessage, OutboundMessage } from './transport.ts';

export const DLQ_HEADERS = {
  error: 'engram-dlq-error',
  reason: 'engram-dlq-reason',
  attempts: 'engram-dlq-attempts',
  sourceTopic: 'engram-dlq-source-topic',
  sourcePartition: 'engram-dlq-source-partition',
  sourceOffset: 'engram-dlq-source-offset',
  role: 'engram-dlq-role',
  consumerGroup: 'engram-dlq-consumer-group',
  failedAt: 'engram-dlq-failed-at',
} as const;

export type DeadLetterReason = 'poison' | 'exhausted';

export function deadLetterRecord(
  message: InboundMessage,
  failure: { error: string; reason: DeadLetterReason; attempts: number },
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
