/**
 * What clients may send, as zod schemas, and the one function that applies them (422 with every
 * issue). Bounds here are the gateway's: tighter than the pipeline's message schemas
 * (runtime/pipeline/messages.ts), so whatever passes here also passes downstream.
 */
import { z } from 'zod';
import { documentIdSchema } from '../../pipeline/messages.ts';
import { HttpError } from './http-error.ts';

export const MAX_METADATA_KEYS = 64;

export function metadataInputSchema(maxMetadataBytes: number) {
  return z
    .record(
      z
        .string()
        .min(1, 'metadata keys must not be empty')
        .max(128, 'metadata keys have at most 128 characters'),
      z.union([z.string().max(4096), z.number(), z.boolean(), z.null()], {
        error: 'metadata values are strings (at most 4096 characters), finite numbers, booleans or null',
      }),
    )
    .refine((m) => Object.keys(m).length <= MAX_METADATA_KEYS, `at most ${MAX_METADATA_KEYS} metadata keys`)
    .superRefine((m, ctx) => {
      // Counted as produced: JSON escapes (\u0001 is 6 bytes) included.
      const bytes = Buffer.byteLength(JSON.stringify(m), 'utf8');
      if (bytes > maxMetadataBytes)
        ctx.addIssue({
          code: 'custom',
          message: `metadata is ${bytes} bytes JSON-encoded, over ${maxMetadataBytes} bytes (ENGRAM_MAX_METADATA_BYTES): keep metadata to short attributes`,
        });
    });
}

export function documentInputSchema(maxMetadataBytes: number) {
  return z.strictObject({
    id: documentIdSchema.optional(),
    content: z
      .string()
      .min(1, 'content must not be empty')
      .refine((s) => s.trim() !== '', 'content must not be blank'),
    metadata: metadataInputSchema(maxMetadataBytes).optional(),
    /**
     * When what the document states held (RFC 3339): the validity start of the facts extracted
     * from it, so a later statement closes an earlier one in the documents' own order. Unset: when
     * the gateway accepted it.
     */
    observedAt: z.iso
      .datetime({ offset: true, error: 'observedAt is an RFC 3339 time, e.g. 2026-01-31T09:00:00Z' })
      .optional(),
  });
}
export type DocumentInput = z.infer<ReturnType<typeof documentInputSchema>>;

export function batchInputSchema(maxMetadataBytes: number, maxBatchDocuments: number) {
  return z.strictObject({
    documents: z
      .array(documentInputSchema(maxMetadataBytes))
      .min(1, 'documents must not be empty')
      .max(
        maxBatchDocuments,
        `at most ${maxBatchDocuments} documents per batch (ENGRAM_MAX_BATCH_DOCUMENTS)`,
      ),
  });
}

export const queryInputSchema = z.strictObject({
  text: z.string().min(1).max(8192),
  topK: z.number().int().min(1).max(100).default(10),
});

/** Applies a schema to a parsed body: the value, or 422 listing the issues. */
export function validateInput<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.slice(0, 20).map((i) => ({
    path: i.path.map(String).join('.') || '(root)',
    message: i.message,
  }));
  const summary = issues
    .slice(0, 3)
    .map((i) => `${i.path}: ${i.message}`)
    .join('; ');
  throw new HttpError(422, 'invalid_body', `request body is invalid: ${summary}`, { details: issues });
}
