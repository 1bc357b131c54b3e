/**
 * `graph.resolve`: what the extract role found in one chunk, for the resolve role to merge into
 * the tenant's graph. Key: `<tenantId>/<documentId>`. Entity and relation names are as written
 * in the text; resolution (runtime/roles/resolve) maps them onto the tenant's entities.
 */
import { z } from 'zod';
import { tenantIdSchema } from '../contract/tenants.ts';
import { documentIdSchema } from './messages.ts';

export const MAX_ENTITIES_PER_CHUNK = 256;
export const MAX_RELATIONS_PER_CHUNK = 512;

export const extractedEntitySchema = z.object({
  name: z.string().trim().min(1).max(256),
  type: z.string().trim().min(1).max(64),
  description: z.string().max(2048).optional(),
});
export type ExtractedEntity = z.infer<typeof extractedEntitySchema>;

export const extractedRelationSchema = z.object({
  /** Names of entities of the same message. */
  source: z.string().trim().min(1).max(256),
  target: z.string().trim().min(1).max(256),
  type: z.string().trim().min(1).max(64),
  /** The fact as a sentence, e.g. "Dana Whitfield works at Northwind Analytics". */
  fact: z.string().min(1).max(2048),
});
export type ExtractedRelation = z.infer<typeof extractedRelationSchema>;

export const chunkExtractionSchema = z.object({
  tenantId: tenantIdSchema,
  documentId: documentIdSchema,
  chunkId: z.string().regex(/^[0-9a-f]{32}$/),
  entities: z.array(extractedEntitySchema).max(MAX_ENTITIES_PER_CHUNK),
  relations: z.array(extractedRelationSchema).max(MAX_RELATIONS_PER_CHUNK),
  /** When the extractor read the chunk (ms since epoch): the validFrom of the facts it states. */
  extractedAt: z.number().int().nonnegative(),
});
export type ChunkExtraction = z.infer<typeof chunkExtractionSchema>;
