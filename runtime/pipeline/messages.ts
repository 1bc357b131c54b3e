/**
 * The pipeline's messages, one zod schema per topic (JSON, UTF-8, versioned by `v`). A message
 * that fails its schema is poison: the worker framework dead-letters it with the zod issues.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { tenantIdSchema } from '../contract/tenants.ts';
import { MAX_METADATA_BYTES } from '../contract/topics.ts';
import { PoisonMessageError } from '../core/errors.ts';

/** Client-supplied document ids: printable, no whitespace, bounded. */
export const documentIdSchema = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[\x21-\x7e]+$/, 'document id must be printable ASCII without spaces');

export { MAX_METADATA_BYTES };

export const metadataSchema = z
  .record(z.string().max(128), z.union([z.string().max(4096), z.number(), z.boolean(), z.null()]))
  .refine((m) => Object.keys(m).length <= 64, 'at most 64 metadata keys')
  .refine(
    (m) => Buffer.byteLength(JSON.stringify(m), 'utf8') <= MAX_METADATA_BYTES,
    `metadata exceeds ${MAX_METADATA_BYTES} bytes as JSON: keep large values in the content`,
  );

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);

/** `ingest.raw`: a document accepted by the gateway. Key: `<tenantId>/<documentId>`. */
export const rawDocumentSchema = z.object({
  v: z.literal(1),
  kind: z.literal('document'),
  tenantId: tenantIdSchema,
  documentId: documentIdSchema,
  /** sha256 of `content` (UTF-8), hex. */
  contentHash: sha256Hex,
  content: z.string().min(1),
  metadata: metadataSchema.optional(),
  /** When what the document states held (ms since epoch), as its sender said (input `observedAt`). */
  observedAt: z.number().int().nonnegative().optional(),
  /** Gateway acceptance time (ms since epoch), for information: versions come from the log. */
  acceptedAt: z.number().int().nonnegative(),
  requestId: z.string().max(128).optional(),
});
export type RawDocument = z.infer<typeof rawDocumentSchema>;

/**
 * A document version: where its raw message sits in ingest.raw. A document's key maps to one
 * partition, so its offsets order its versions; after ingest.raw gained partitions a key can move,
 * and versions from different partitions are ordered by the broker's append time
 * (`message.timestamp.type=LogAppendTime`), then by partition.
 */
export const documentVersionSchema = z.object({
  partition: z.number().int().nonnegative(),
  offset: z.number().int().nonnegative(),
  /** The broker's append time of the raw message, ms since epoch. */
  timestamp: z.number().int().nonnegative(),
});
export type DocumentVersion = z.infer<typeof documentVersionSchema>;

/** > 0 when `a` is newer than `b`, 0 for the same version (the Cypher in embed mirrors this). */
export function compareVersions(a: DocumentVersion, b: DocumentVersion): number {
  if (a.partition === b.partition) return Math.sign(a.offset - b.offset);
  if (a.timestamp !== b.timestamp) return Math.sign(a.timestamp - b.timestamp);
  return Math.sign(a.partition - b.partition);
}

/** The version of the raw message at this log position (offsets and timestamps are int64 strings). */
export function versionAt(position: {
  partition: number;
  offset: string;
  timestamp: string;
}): DocumentVersion {
  return documentVersionSchema.parse({
    partition: position.partition,
    offset: Number(position.offset),
    // A record without a timestamp (-1, old message formats) sorts before any stamped one.
    timestamp: Math.max(0, Number(position.timestamp)),
  });
}

/**
 * Longest chunk text in UTF-16 code units. JSON can grow a code unit to 6 bytes (`\u0001`), so
 * a chunk message stays far below the 1 MiB its topics take, whatever the text.
 */
export const MAX_CHUNK_TEXT_CHARS = 32 * 1024;

/**
 * `ingest.embed` and `ingest.extract`: one chunk of a document version. Key:
 * `<tenantId>/<documentId>`. The document's metadata travels once, on chunk 0.
 */
export const chunkMessageSchema = z.object({
  v: z.literal(2),
  kind: z.literal('chunk'),
  tenantId: tenantIdSchema,
  documentId: documentIdSchema,
  /** The version this chunk belongs to; writes of an older version than the stored one are refused. */
  documentVersion: documentVersionSchema,
  documentHash: sha256Hex,
  /** Deterministic: re-chunking the same document yields the same ids (downstream MERGE key). */
  chunkId: z.string().regex(/^[0-9a-f]{32}$/),
  index: z.number().int().nonnegative(),
  /** Chunks in this version of the document. */
  count: z.number().int().positive(),
  text: z.string().min(1).max(MAX_CHUNK_TEXT_CHARS),
  /** Model tokens in `text` (without [CLS]/[SEP]) as counted by the ingest role. */
  tokens: z.number().int().nonnegative(),
  /** Character offsets of `text` in the document. */
  start: z.number().int().nonnegative(),
  end: z.number().int().nonnegative(),
  /** The document's metadata, on chunk 0 only. */
  metadata: metadataSchema.optional(),
  /** The document's `observedAt` (ms since epoch), on every chunk, when its sender gave one. */
  observedAt: z.number().int().nonnegative().optional(),
});
export type ChunkMessage = z.infer<typeof chunkMessageSchema>;

/**
 * Bounds of one chunk's extraction: the extract role cuts what a model returns to them (facts and
 * descriptions shortened, extra items dropped), and the whole message to `bytes` as JSON so it
 * always fits graph.resolve (1 MiB) whatever the escapes.
 */
export const EXTRACTION_LIMITS = {
  entities: 128,
  relations: 256,
  nameChars: 200,
  typeChars: 64,
  descriptionChars: 500,
  factChars: 1000,
  bytes: 768 * 1024,
} as const;

export const extractedEntitySchema = z.object({
  /** As written in the text; resolution normalises it. */
  name: z.string().min(1).max(EXTRACTION_LIMITS.nameChars),
  /** Person, Organization, Place, ... (the built-in extractor uses these three). */
  type: z.string().min(1).max(EXTRACTION_LIMITS.typeChars),
  description: z.string().max(EXTRACTION_LIMITS.descriptionChars).optional(),
});
export type ExtractedEntity = z.infer<typeof extractedEntitySchema>;

export const extractedRelationSchema = z.object({
  /** Entity names of this chunk's `entities`. */
  source: z.string().min(1).max(EXTRACTION_LIMITS.nameChars),
  target: z.string().min(1).max(EXTRACTION_LIMITS.nameChars),
  /** UPPER_SNAKE_CASE, e.g. WORKS_AT, FOUNDED, ACQUIRED, BASED_IN, LIVES_IN, PARTNER_OF, MENTORS, RECEIVED, MET, LEADS. */
  type: z
    .string()
    .min(1)
    .max(EXTRACTION_LIMITS.typeChars)
    .regex(/^[A-Z][A-Z0-9_]*$/, 'relation types are UPPER_SNAKE_CASE'),
  /** The statement the relation comes from (the sentence, for the built-in extractor). */
  fact: z.string().min(1).max(EXTRACTION_LIMITS.factChars),
});
export type ExtractedRelation = z.infer<typeof extractedRelationSchema>;

/**
 * `graph.resolve`: what the extract role found in one chunk. Key: `<tenantId>/<documentId>`.
 * The resolve role merges it into the tenant's graph; re-extracting a chunk yields the same
 * chunkId, so resolution is idempotent per chunk.
 */
export const extractionMessageSchema = z
  .object({
    v: z.literal(1),
    kind: z.literal('extraction'),
    tenantId: tenantIdSchema,
    documentId: documentIdSchema,
    chunkId: z.string().regex(/^[0-9a-f]{32}$/),
    entities: z.array(extractedEntitySchema).max(EXTRACTION_LIMITS.entities),
    relations: z.array(extractedRelationSchema).max(EXTRACTION_LIMITS.relations),
    /** When the extractor ran, ms since epoch. */
    extractedAt: z.number().int().nonnegative(),
    /**
     * The validity start of the relations' facts (ms since epoch): the document's `observedAt`,
     * else when its version entered ingest.raw; the same on every replay. Absent: extractedAt.
     */
    validFrom: z.number().int().nonnegative().optional(),
  })
  .refine(
    (m) => Buffer.byteLength(JSON.stringify(m), 'utf8') <= EXTRACTION_LIMITS.bytes,
    `an extraction message is at most ${EXTRACTION_LIMITS.bytes} bytes as JSON`,
  );
export type ExtractionMessage = z.infer<typeof extractionMessageSchema>;

/** `query.pending`: a query accepted by the gateway. Key: `<tenantId>/<queryId>`. */
export const queryRequestSchema = z.object({
  v: z.literal(1),
  kind: z.literal('query'),
  tenantId: tenantIdSchema,
  queryId: z.string().uuid(),
  text: z.string().min(1).max(8192),
  topK: z.number().int().min(1).max(100),
  acceptedAt: z.number().int().nonnegative(),
});
export type QueryRequest = z.infer<typeof queryRequestSchema>;

export function messageKey(tenantId: string, id: string): string {
  return `${tenantId}/${id}`;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** The id of chunk `index` of a document: stable across re-sends and re-chunking. */
export function chunkId(tenantId: string, documentId: string, index: number): string {
  return createHash('sha256')
    .update(`${tenantId}\u0000${documentId}\u0000${index}`, 'utf8')
    .digest('hex')
    .slice(0, 32);
}

/** The key of a document node: unique across tenants (the graph's Document.documentKey). */
export function documentKey(tenantId: string, documentId: string): string {
  return createHash('sha256').update(`${tenantId}\u0000${documentId}`, 'utf8').digest('hex').slice(0, 32);
}

/** Decodes a JSON message value against a schema; throws PoisonMessageError naming what is wrong. */
export function decodeJson<S extends z.ZodType>(schema: S, value: Buffer | null): z.output<S> {
  if (value === null || value.length === 0) throw new PoisonMessageError('empty message value');
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch (err) {
    throw new PoisonMessageError(`value is not JSON: ${(err as Error).message}`);
  }
  const result = schema.safeParse(parsed);
  if (!result.success) {
    const issues = result.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
      .join('; ');
    throw new PoisonMessageError(`value fails the schema: ${issues}`);
  }
  return result.data;
}
