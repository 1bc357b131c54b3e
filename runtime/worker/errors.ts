/**
 * How the framework tells failures apart. A poison message can never succeed: it goes to the dlq
 * at once. A transient failure is the world's fault (a store restarting, a timeout): it is retried
 * with backoff for as long as the worker runs and never dead-letters a message. Anything else is
 * retried up to ENGRAM_MAX_ATTEMPTS, then dead-lettered.
 */

/** The message itself is bad (undecodable, fails validation). */
export class PoisonMessageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PoisonMessageError';
  }
}

/** A dependency is unavailable; the same message will succeed later. */
export class TransientError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransientError';
  }
}

export type FailureKind = 'poison' | 'transient' | 'error';

const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
  // neo4j-driver
  'ServiceUnavailable',
  'SessionExpired',
]);

export function classifyFailure(error: unknown): FailureKind {
  if (error instanceof PoisonMessageError) return 'poison';
  if (error instanceof TransientError) return 'transient';
  if (!(error instanceof Error)) return 'error';
  const e = error as Error & { code?: unknown; retriable?: boolean; retryable?: boolean };
  if (typeof e.code === 'string' && (TRANSIENT_CODES.has(e.code) || e.code.startsWith('Neo.TransientError.')))
    return 'transient';
  // kafkajs marks broker/network errors retriable; ioredis names its give-up errors.
  if (e.retriable === true || e.name === 'KafkaJSConnectionError' || e.name === 'KafkaJSRequestTimeoutError')
    return 'transient';
  if (e.name === 'MaxRetriesPerRequestError' || /Connection is closed|Stream isn't writeable/.test(e.message))
    return 'transient';
  if (e.cause !== undefined && e.cause !== error) {
    const inner = classifyFailure(e.cause);
    if (inner !== 'error') return inner;
  }
  return 'error';
}

/** A short, single-line reason for logs and dlq headers. */
export function failureReason(error: unknown, max = 1000): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 3)}...` : line;
}
