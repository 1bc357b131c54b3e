/**
 * What an extractor does: one chunk's text in, its entities and relations out. Two exist: the
 * OpenAI-compatible chat-completions provider (chat-completions.ts) and the deterministic
 * built-in one (built-in-extractor.ts), used when no endpoint is configured.
 */
import type { ExtractedEntity, ExtractedRelation } from '../../pipeline/messages.ts';

export interface Extraction {
  entities: ExtractedEntity[];
  relations: ExtractedRelation[];
}

export interface Extractor {
  /** For logs and metrics: "built-in" or "chat-completions". */
  readonly kind: string;
  extract(text: string, signal: AbortSignal): Promise<Extraction>;
}

/**
 * The model's output failed its schema (not JSON, wrong shape) on every try: the chunk is
 * dead-lettered with this reason, its neighbours go on.
 */
export class MalformedExtractionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MalformedExtractionError';
  }
}
