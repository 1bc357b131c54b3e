/**
 * TenantMemory (tm): one tenant's memory inside a MemoryCluster. The operator isolates the tenant in
 * every store (Redis ACL user on the tenant's key prefix, Neo4j label/property or database, the
 * tenant's partition key or dedicated topics) and writes the tenant's gateway API key into a Secret.
 */
import { z } from 'zod';
import { TENANT_ID_PATTERN } from '../../runtime/contract/tenants.ts';
import {
  cel,
  celFormat,
  clusterRefSchema,
  conditionsSchema,
  objectMetaSchema,
  observedGenerationSchema,
  patternString,
  withRules,
} from './common.ts';
import { DEFAULT_TENANT_QUOTAS, DEFAULT_TENANT_RETENTION } from './defaults.ts';
import { celIsDuration, duration } from './durations.ts';
import { sizeQuantity } from './quantities.ts';
import { API_VERSION, TENANT_MEMORY_CONDITIONS } from './wellknown.ts';

/**
 * Tighter than the runtime's 63: a per-tenant Neo4j database (tenantIsolation Database) is named
 * after the tenant with a prefix, and Neo4j database names stop at 63 characters.
 */
export const TENANT_ID_MAX = 48;

/** Largest count quota: far beyond any tenant, and exact in the operator's numbers (below 2^53). */
export const MAX_COUNT_QUOTA = 1e15;

const quotasSchema = z
  .object({
    ingestDocumentsPerSecond: z
      .int()
      .min(1)
      .max(1_000_000)
      .optional()
      .describe(
        `Sustained documents per second the gateway accepts for this tenant; more get 429. Default: ${DEFAULT_TENANT_QUOTAS.ingestDocumentsPerSecond}.`,
      ),
    ingestBurst: z
      .int()
      .min(1)
      .max(10_000_000)
      .optional()
      .describe(
        `Documents accepted in a burst above the sustained rate. Default: ${DEFAULT_TENANT_QUOTAS.ingestBurst}.`,
      ),
    queriesPerSecond: z
      .int()
      .min(1)
      .max(1_000_000)
      .optional()
      .describe(
        `Queries per second the gateway accepts for this tenant. Default: ${DEFAULT_TENANT_QUOTAS.queriesPerSecond}.`,
      ),
    maxDocuments: z
      .int()
      .min(1)
      .max(MAX_COUNT_QUOTA)
      .meta({ format: 'int64' })
      .optional()
      .describe('Documents the tenant may store; ingest beyond it is refused. Default: unlimited.'),
    maxNodes: z
      .int()
      .min(1)
      .max(MAX_COUNT_QUOTA)
      .meta({ format: 'int64' })
      .optional()
      .describe('Graph nodes (entities and chunks) the tenant may hold. Default: unlimited.'),
    maxDocumentSize: sizeQuantity('quotas.maxDocumentSize')
      .optional()
      .describe('Largest single document the gateway accepts, e.g. 1Mi. Default: the gateway body limit.'),
  })
  .describe('Limits the gateway and workers enforce for this tenant.');

const retentionSchema = z
  .object({
    halfLife: duration('retention.halfLife')
      .optional()
      .describe(
        `Memory decay half-life: a memory not reinforced loses half its importance in this time. Default: ${DEFAULT_TENANT_RETENTION.halfLife}.`,
      ),
    archiveAfter: duration('retention.archiveAfter')
      .optional()
      .describe(
        'Memories not accessed for this long are archived (kept, out of query results). Default: never.',
      ),
    deleteAfter: duration('retention.deleteAfter')
      .optional()
      .describe('Memories not accessed for this long are deleted. Must exceed archiveAfter. Default: never.'),
  })
  .meta(
    cel({
      // Malformed values report their own format message; this rule compares only well-formed ones.
      rule: `!has(self.archiveAfter) || !has(self.deleteAfter) || !(${celIsDuration('self.archiveAfter')}) || !(${celIsDuration('self.deleteAfter')}) || duration(self.archiveAfter) < duration(self.deleteAfter)`,
      message: 'retention.archiveAfter must be shorter than retention.deleteAfter',
      messageExpression: celFormat(
        'retention.archiveAfter (%s) must be shorter than retention.deleteAfter (%s): memories are archived before they are deleted',
        'self.archiveAfter',
        'self.deleteAfter',
      ),
    }),
  )
  .describe('Decay and retention of the tenant memories.');

export const tenantMemorySpecSchema = z
  .object({
    clusterRef: clusterRefSchema('TenantMemory'),
    tenantId: withRules(
      patternString({
        pattern: TENANT_ID_PATTERN.source,
        max: TENANT_ID_MAX,
        what: 'tenantId',
        hint: `must be a DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit, at most ${TENANT_ID_MAX} characters`,
      }),
      {
        rule: 'self == oldSelf',
        message: 'tenantId is immutable: create a new TenantMemory for another tenant',
        messageExpression: celFormat(
          'tenantId is immutable (was %s, now %s): the tenant data is keyed by it; create a new TenantMemory for %s',
          'oldSelf',
          'self',
          'self',
        ),
      },
    ).describe(
      `Tenant identifier: the key of every message, cache key prefix and graph partition of this tenant. A DNS label of at most ${TENANT_ID_MAX} characters. Immutable.`,
    ),
    displayName: z.string().max(256).optional().describe('Human-readable name of the tenant.'),
    quotas: quotasSchema.optional(),
    retention: retentionSchema.optional(),
    dedicatedTopics: z
      .boolean()
      .optional()
      .describe(
        'Give the tenant its own topics (<topicPrefix>.tenant.<tenantId>.<topic>) instead of sharing the cluster topics keyed by tenant. Default: false.',
      ),
    deletionPolicy: z
      .enum(['Retain', 'Delete'])
      .default('Retain')
      .describe(
        'What deleting the TenantMemory does to the tenant data: Retain keeps it; Delete purges its graph, cache keys and credentials through a finalizer that gives up after a timeout or when annotated engram.dev/skip-tenant-purge: "true".',
      ),
  })
  .describe('Desired state of the tenant.');

export const tenantMemoryStatusSchema = z
  .object({
    observedGeneration: observedGenerationSchema,
    conditions: conditionsSchema([...TENANT_MEMORY_CONDITIONS, 'Paused']),
    credentialsSecretName: z
      .string()
      .max(253)
      .optional()
      .describe('Secret (same namespace) holding the tenant gateway API key (key api-key).'),
    redisUser: z.string().max(253).optional().describe('Redis ACL user limited to the tenant key prefix.'),
    redisKeyPrefix: z.string().max(253).optional().describe('Prefix of every Redis key of this tenant.'),
    neo4jDatabase: z
      .string()
      .max(63)
      .optional()
      .describe('Neo4j database of the tenant (tenantIsolation Database) or the shared one.'),
    topics: z
      .array(z.string().max(249))
      .max(16)
      .optional()
      .describe('Dedicated topics of the tenant, when dedicatedTopics is true.'),
    usage: z
      .object({
        documents: z.int().min(0).meta({ format: 'int64' }).optional().describe('Documents stored.'),
        nodes: z.int().min(0).meta({ format: 'int64' }).optional().describe('Graph nodes stored.'),
        relationships: z
          .int()
          .min(0)
          .meta({ format: 'int64' })
          .optional()
          .describe('Graph relationships stored.'),
        observedAt: z.iso.datetime().optional().describe('When these numbers were measured.'),
      })
      .optional()
      .describe('What the tenant stores, where measurable.'),
  })
  .describe('Observed state of the tenant, written by the operator.');

export const tenantMemorySchema = z.object({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('TenantMemory'),
  metadata: objectMetaSchema,
  spec: tenantMemorySpecSchema,
  status: tenantMemoryStatusSchema.optional(),
});

export type TenantMemorySpec = z.infer<typeof tenantMemorySpecSchema>;
export type TenantMemoryStatus = z.infer<typeof tenantMemoryStatusSchema>;
export type TenantMemory = z.infer<typeof tenantMemorySchema>;
