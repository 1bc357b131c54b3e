/**
 * The OpenAI-compatible chat-completions provider (`POST <endpoint>/chat/completions`, OpenAI,
 * vLLM, Ollama, LiteLLM...). The model is asked for JSON; its answer is validated with zod and cut
 * to the message bounds. Per chunk: timeouts, 429s (Retry-After honoured, up to the retry cap,
 * and pausing the worker's other requests), 5xx, resets and malformed output are re-requested
 * up to ENGRAM_EXTRACTION_MAX_RETRIES times with exponential backoff and jitter; then malformed
 * output is MalformedExtractionError (the chunk is dead-lettered with the reason) and the rest a
 * TransientError (the worker retries it, then dead-letters it). A refused API key or an
 * unreachable endpoint is DependencyUnavailableError: nothing is dead-lettered while it lasts.
 * The API key is sent only in the Authorization header; no message or log line contains it.
 */
import type { Counter, Histogram } from 'prom-client';
import { z } from 'zod';
import type { ChatCompletionsConfig } from '../../contract/config/extract.ts';
import { DependencyUnavailableError, TransientError } from '../../core/errors.ts';
import type { Logger } from '../../observability/log.ts';
import { EXTRACTION_LIMITS, type ExtractedEntity, type ExtractedRelation } from '../../pipeline/messages.ts';
import { backoffDelay, sleep } from '../../worker/retry.ts';
import { type Extraction, type Extractor, MalformedExtractionError } from './extractor.ts';
import { RequestLimiter, type SharedTake } from './request-limiter.ts';

const SYSTEM_PROMPT = `You extract a knowledge graph from text.
Answer with one JSON object and nothing else:
{"entities":[{"name":"...","type":"Person|Organization|Place|...","description":"..."}],
 "relations":[{"source":"<entity name>","target":"<entity name>","type":"UPPER_SNAKE_CASE","fact":"<the sentence stating it>"}]}
Use names exactly as written in the text. Relation types are verbs such as WORKS_AT, FOUNDED,
ACQUIRED, BASED_IN, MET, LEADS, JOINED. Every relation's source and target are entity names.
If the text names nothing, answer {"entities":[],"relations":[]}.`;

const completionSchema = z.object({
  choices: z
    .array(z.object({ message: z.object({ content: z.string().nullable() }) }))
    .min(1, 'no choices in the answer'),
});

const modelOutputSchema = z.object({
  entities: z.array(
    z.object({
      name: z.string().trim().min(1),
      type: z.string().trim().min(1),
      description: z.string().nullish(),
    }),
  ),
  relations: z.array(
    z.object({
      source: z.string().trim().min(1),
      target: z.string().trim().min(1),
      type: z.string().trim().min(1),
      fact: z.string().trim().min(1),
    }),
  ),
});

/** Codes of a connection that never opened: the endpoint is not there, no use re-requesting. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

type Outcome =
  | { ok: true; extraction: Extraction }
  | { ok: false; outcome: RequestOutcome; reason: string; malformed: boolean; retryAfterMs?: number };

export type RequestOutcome =
  | 'ok'
  | 'malformed'
  | 'timeout'
  | 'rate_limited'
  | 'server_error'
  | 'failed'
  | 'refused'
  | 'unreachable';

export interface ChatCompletionsMetrics {
  requests: Counter<'outcome'>;
  duration: Histogram;
}

export interface ChatCompletionsOptions {
  log: Logger;
  metrics?: ChatCompletionsMetrics;
  /** The pool's shared request bucket (Redis); without it the limit is this worker's alone. */
  shared?: SharedTake;
  fetch?: typeof fetch;
  random?: () => number;
  now?: () => number;
}

export class ChatCompletionsExtractor implements Extractor {
  readonly kind = 'chat-completions';
  readonly #config: ChatCompletionsConfig;
  readonly #url: string;
  readonly #host: string;
  readonly #limiter: RequestLimiter;
  readonly #fetch: typeof fetch;
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #metrics: ChatCompletionsMetrics | undefined;

  constructor(config: ChatCompletionsConfig, options: ChatCompletionsOptions) {
    this.#metrics = options.metrics;
    this.#config = config;
    this.#url = `${config.endpoint}/chat/completions`;
    this.#host = new URL(config.endpoint).host;
    this.#now = options.now ?? Date.now;
    this.#limiter = new RequestLimiter(
      { requestsPerMinute: config.requestsPerMinute, concurrency: config.maxConcurrentRequests },
      { now: this.#now, log: options.log, ...(options.shared && { shared: options.shared }) },
    );
    this.#fetch = options.fetch ?? fetch;
    this.#random = options.random ?? Math.random;
    this.#log = options.log;
  }

  get inFlight(): number {
    return this.#limiter.inFlight;
  }

  async extract(text: string, signal: AbortSignal): Promise<Extraction> {
    const { maxRetries, retryBaseMs, retryMaxMs } = this.#config;
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.#limiter.run(() => this.#measured(text, signal), signal);
      if (outcome.ok) return outcome.extraction;
      if (attempt > maxRetries) {
        const why = `${outcome.reason} (${attempt} tries)`;
        if (outcome.malformed)
          throw new MalformedExtractionError(`the model's output failed its schema: ${why}`);
        throw new TransientError(`extraction endpoint ${this.#host}: ${why}`);
      }
      const delay =
        outcome.retryAfterMs !== undefined
          ? Math.min(outcome.retryAfterMs, retryMaxMs)
          : backoffDelay(attempt, retryBaseMs, retryMaxMs, this.#random);
      if (outcome.retryAfterMs !== undefined) this.#limiter.pauseUntil(this.#now() + delay);
      this.#log.debug('extraction request failed, retrying', { reason: outcome.reason, attempt, delay });
      await sleep(delay, signal);
      signal.throwIfAborted();
    }
  }

  async #measured(text: string, signal: AbortSignal): Promise<Outcome> {
    const t0 = performance.now();
    let outcome: RequestOutcome = 'failed';
    try {
      const result = await this.#request(text, signal);
      outcome = result.ok ? 'ok' : result.outcome;
      return result;
    } catch (err) {
      if (err instanceof DependencyUnavailableError)
        outcome = /API key/.test(err.message) ? 'refused' : 'unreachable';
      throw err;
    } finally {
      if (!signal.aborted) {
        this.#metrics?.requests.inc({ outcome });
        this.#metrics?.duration.observe((performance.now() - t0) / 1000);
      }
    }
  }

  async #request(text: string, signal: AbortSignal): Promise<Outcome> {
    const timeout = AbortSignal.timeout(this.#config.timeoutMs);
    const both = AbortSignal.any([signal, timeout]);
    let status: number;
    let body: string;
    let retryAfter: string | null;
    try {
      const res = await this.#fetch(this.#url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          ...(this.#config.apiKey && { authorization: `Bearer ${this.#config.apiKey}` }),
        },
        body: JSON.stringify({
          model: this.#config.model,
          temperature: 0,
          response_format: { type: 'json_object' },
          messages: [
            { role: 'system', content: SYSTEM_PROMPT },
            { role: 'user', content: text },
          ],
        }),
        signal: both,
      });
      status = res.status;
      retryAfter = res.headers.get('retry-after');
      body = await res.text();
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (timeout.aborted)
        return {
          ok: false,
          outcome: 'timeout',
          reason: `no answer within ${this.#config.timeoutMs} ms`,
          malformed: false,
        };
      const code = (err as { cause?: { code?: unknown } }).cause?.code;
      if (typeof code === 'string' && UNREACHABLE.has(code))
        throw new DependencyUnavailableError(`extraction endpoint ${this.#host} is unreachable (${code})`);
      return {
        ok: false,
        outcome: 'failed',
        reason: `request failed (${typeof code === 'string' ? code : (err as Error).message})`,
        malformed: false,
      };
    }
    if (status === 401 || status === 403)
      throw new DependencyUnavailableError(
        `extraction endpoint ${this.#host} refused the API key (${status}): fix the Secret of spec.extraction.apiKeySecretRef (ENGRAM_EXTRACTION_API_KEY)`,
      );
    if (status === 429) {
      const retryAfterMs = parseRetryAfter(retryAfter, this.#now());
      return {
        ok: false,
        outcome: 'rate_limited',
        reason: 'rate limited (429)',
        malformed: false,
        ...(retryAfterMs !== undefined && { retryAfterMs }),
      };
    }
    if (status >= 500 || status === 408)
      return {
        ok: false,
        outcome: 'server_error',
        reason: `the endpoint answered ${status}`,
        malformed: false,
      };
    if (status < 200 || status >= 300)
      throw new Error(`extraction endpoint ${this.#host} answered ${status}: ${snippet(body)}`);
    const parsed = parseModelOutput(body);
    if (typeof parsed === 'string')
      return { ok: false, outcome: 'malformed', reason: parsed, malformed: true };
    return { ok: true, extraction: parsed };
  }
}

/** Retry-After as delta-seconds or an HTTP date, in ms from now; undefined when absent or unreadable. */
export function parseRetryAfter(header: string | null, now: number): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const value = header.trim();
  if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function snippet(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}

const cut = (text: string, max: number) => (text.length <= max ? text : text.slice(0, max));

/** An answer's entities and relations, or why it is malformed. */
export function parseModelOutput(body: string): Extraction | string {
  let completion: unknown;
  try {
    completion = JSON.parse(body);
  } catch {
    return `the answer is not JSON: ${snippet(body).slice(0, 80)}`;
  }
  const c = completionSchema.safeParse(completion);
  if (!c.success) return `the answer is not a chat completion: ${c.error.issues[0]?.message}`;
  const content = (c.data.choices[0]!.message.content ?? '')
    .trim()
    .replace(/^```(?:json)?\s*/i, '')
    .replace(/\s*```$/, '');
  let output: unknown;
  try {
    output = JSON.parse(content);
  } catch {
    return `the message content is not JSON: ${snippet(content).slice(0, 80)}`;
  }
  const o = modelOutputSchema.safeParse(output);
  if (!o.success) {
    const issue = o.error.issues[0];
    return `the message content fails the schema at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`;
  }
  return normalise(o.data);
}

/** Cut to the message bounds, relation types in UPPER_SNAKE_CASE, relations between known names. */
function normalise(output: z.infer<typeof modelOutputSchema>): Extraction {
  const entities = new Map<string, ExtractedEntity>();
  for (const e of output.entities) {
    const name = cut(e.name, EXTRACTION_LIMITS.nameChars);
    if (entities.has(name) || entities.size >= EXTRACTION_LIMITS.entities) continue;
    entities.set(name, {
      name,
      type: cut(e.type, EXTRACTION_LIMITS.typeChars),
      ...(e.description && { description: cut(e.description, EXTRACTION_LIMITS.descriptionChars) }),
    });
  }
  const relations: ExtractedRelation[] = [];
  const seen = new Set<string>();
  for (const r of output.relations) {
    const source = cut(r.source, EXTRACTION_LIMITS.nameChars);
    const target = cut(r.target, EXTRACTION_LIMITS.nameChars);
    const type = cut(
      r.type
        .toUpperCase()
        .replace(/[^A-Z0-9]+/g, '_')
        .replace(/^[^A-Z]+|_+$/g, ''),
      EXTRACTION_LIMITS.typeChars,
    );
    const key = `${source}\u0000${type}\u0000${target}`;
    if (!type || !entities.has(source) || !entities.has(target) || seen.has(key)) continue;
    if (relations.length >= EXTRACTION_LIMITS.relations) break;
    seen.add(key);
    relations.push({ source, target, type, fact: cut(r.fact, EXTRACTION_LIMITS.factChars) });
  }
  return { entities: [...entities.values()], relations };
}
