/**
 * How the framework tells failures apart, and what each costs the message:
 * - poison: the message itself is bad (undecodable, fails validation): dead-lettered at once.
 * - unavailable: a dependency cannot be reached at all (connection refused, no route, the store
 *   is down for everyone): retried with backoff for as long as the worker runs, never counted
 *   against the message, because it is not the message's fault.
 * - transient: the dependency answered but the attempt failed in a way that may pass (a timeout,
 *   a deadlock, a Neo4j transient error). It may also be the message's doing (a write too big to
 *   finish in time), so it counts against ENGRAM_MAX_TRANSIENT_ATTEMPTS, then dead-letters.
 * - error: anything else, counted against ENGRAM_MAX_ATTEMPTS, then dead-lettered.
 * A transient or error failure is re-read as unavailable when the processor's own dependency
 * probe says a store is down (runtime/worker/worker.ts).
 */

/** The message itself is bad (undecodable, fails validation). */
export class PoisonMessageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PoisonMessageError';
  }
}

/** The attempt failed in a way that may pass on a retry (a timeout, a deadlock): counted. */
export class TransientError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransientError';
  }
}

/** A dependency cannot be reached; the same message will succeed once it is back: not counted. */
export class DependencyUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DependencyUnavailableError';
  }
}

export type FailureKind = 'poison' | 'unavailable' | 'transient' | 'error';

/** The dependency is not there at all: nothing about the message can cause these. */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
  // neo4j-driver: no server to talk to, or the connection to it was lost.
  'ServiceUnavailable',
  'SessionExpired',
]);

/** The dependency answered (or stopped answering mid-request): the message may be the cause. */
const TRANSIENT_CODES = new Set(['ECONNRESET', 'ETIMEDOUT', 'EPIPE']);

const UNAVAILABLE_NAMES = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSBrokerNotFound',
  'KafkaJSNoBrokerAvailableError',
  // ioredis gives up a command while it cannot reach the server.
  'MaxRetriesPerRequestError',
]);

export function classifyFailure(error: unknown): FailureKind {
  if (error instanceof PoisonMessageError) return 'poison';
  if (error instanceof DependencyUnavailableError) return 'unavailable';
  if (error instanceof TransientError) return 'transient';
  if (!(error instanceof Error)) return 'error';
  const e = error as Error & { code?: unknown; retriable?: boolean };
  const code = typeof e.code === 'string' ? e.code : '';
  if (UNAVAILABLE_CODES.has(code) || UNAVAILABLE_NAMES.has(e.name)) return 'unavailable';
  if (/Connection is closed|Stream isn't writeable/.test(e.message)) return 'unavailable';
  if (TRANSIENT_CODES.has(code) || code.startsWith('Neo.TransientError.')) return 'transient';
  // The transaction deadline (ENGRAM_NEO4J_TX_TIMEOUT_MS) is a client error in Neo4j's taxonomy:
  // TransactionTimedOut*, or LockClientStopped when it struck while waiting for a lock.
  if (
    code.startsWith('Neo.ClientError.Transaction.TransactionTimedOut') ||
    code === 'Neo.ClientError.Transaction.LockClientStopped'
  )
    return 'transient';
  if (e.name === 'KafkaJSRequestTimeoutError') return 'transient';
  if (e.cause !== undefined && e.cause !== error) {
    const inner = classifyFailure(e.cause);
    if (inner !== 'error') return inner;
  }
  // kafkajs marks broker errors that may pass (leader moving, coordinator loading) retriable.
  if (e.retriable === true) return 'transient';
  return 'error';
}

/** A short, single-line reason for logs and dlq headers. */
export function failureReason(error: unknown, max = 1000): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 3)}...` : line;
}

/** The Kafka protocol error type (`MESSAGE_TOO_LARGE`, `UNKNOWN_MEMBER_ID`...) of an error or its causes. */
export function kafkaErrorType(error: unknown, depth = 0): string | undefined {
  if (typeof error !== 'object' || error === null || depth > 5) return undefined;
  const e = error as { type?: unknown; cause?: unknown; originalError?: unknown };
  if (typeof e.type === 'string') return e.type;
  return kafkaErrorType(e.cause, depth + 1) ?? kafkaErrorType(e.originalError, depth + 1);
}
