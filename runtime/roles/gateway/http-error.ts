/**
 * The gateway's refusals: one error type carrying the status, a stable `code`, the message a client
 * needs to fix its request, and headers (Retry-After only where a retry can succeed). Everything
 * else that reaches the error handler is mapped onto it by `toHttpError`.
 */
import { classifyFailure } from '../../core/errors.ts';

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
    this.name = 'HttpError';
    this.status = status;
    this.code = code;
    this.headers = extra.headers ?? {};
    this.details = extra.details;
  }
}

/** The API's error body. */
export function errorBody(e: HttpError): { error: { code: string; message: string; details?: unknown } } {
  return {
    error: { code: e.code, message: e.message, ...(e.details !== undefined && { details: e.details }) },
  };
}

/** Reason label of `engram_requests_rejected_total` by status. */
export const REJECT_REASON: Readonly<Record<number, string>> = {
  400: 'invalid',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  408: 'timeout',
  409: 'in_progress',
  413: 'too_large',
  415: 'unsupported_media_type',
  422: 'invalid',
  429: 'rate_limited',
  431: 'too_large',
  503: 'unavailable',
};

export function retryLater(code: string, message: string, seconds = 1): HttpError {
  return new HttpError(503, code, message, { headers: { 'retry-after': String(seconds) } });
}

/** fastify's own refusals (body reading, framing), in the API's words. */
const FASTIFY_ERRORS: Readonly<Record<string, (limit: number) => HttpError>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: (limit) =>
    new HttpError(
      413,
      'payload_too_large',
      `request body exceeds ${limit} bytes (ENGRAM_MAX_BODY_BYTES): send fewer or smaller documents`,
    ),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () =>
    new HttpError(
      400,
      'bad_request',
      'the body length differs from Content-Length: send the length you send',
    ),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () =>
    new HttpError(415, 'unsupported_media_type', 'content-type must be application/json'),
  FST_ERR_CTP_EMPTY_JSON_BODY: () =>
    new HttpError(400, 'malformed_json', 'request body is empty: send a JSON object'),
};

/**
 * Maps anything thrown while serving a request to a refusal: our own errors as they are, fastify's
 * 4xx by code, a store that is down to 503 (retryable), and the rest to 500 (a bug: logged).
 */
export function toHttpError(err: unknown, maxBodyBytes: number): { error: HttpError; unexpected: boolean } {
  if (err instanceof HttpError) return { error: err, unexpected: false };
  const e = err as { code?: unknown; statusCode?: unknown; message?: unknown };
  const known = typeof e?.code === 'string' ? FASTIFY_ERRORS[e.code] : undefined;
  if (known) return { error: known(maxBodyBytes), unexpected: false };
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500)
    return {
      error: new HttpError(e.statusCode, 'bad_request', `the request was refused: ${String(e.message)}`),
      unexpected: false,
    };
  const kind = classifyFailure(err);
  if (kind === 'transient' || kind === 'unavailable')
    return {
      error: retryLater('unavailable', 'a backing store is unavailable: retry later'),
      unexpected: true,
    };
  return {
    error: new HttpError(500, 'internal', 'internal error: see the gateway logs for the request id'),
    unexpected: true,
  };
}
