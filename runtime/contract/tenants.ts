/**
 * Tenants as the runtime sees them: identifiers, the gateway's API-key files, per-tenant quotas.
 *
 * API keys: the operator writes ONE Secret per MemoryCluster (e.g. `<cluster>-gateway-tenants`)
 * whose keys are tenant ids and whose values are lines `sha256:<64 hex>`, the hash of each valid
 * API key of that tenant (two lines during a rotation). The gateway mounts it as a directory at
 * ENGRAM_TENANT_KEYS_DIR (default below) and re-reads it every few seconds, so adding a tenant or
 * rotating a key needs no restart. The plaintext key lives only in the tenant's own Secret.
 *
 * Quotas: an optional JSON file at ENGRAM_TENANT_QUOTAS_FILE (a ConfigMap key), shaped as
 * `{ "<tenantId>": { "documentsPerSecond": 50, "burst": 200 } }`; tenants not listed get the
 * defaults from ENGRAM_RATE_LIMIT_PER_SECOND / ENGRAM_RATE_LIMIT_BURST.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';

/** DNS-label-like, as TenantMemory.spec.tenantId: lowercase alphanumerics and '-', at most 63. */
export const TENANT_ID_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export const tenantIdSchema = z
  .string()
  .regex(TENANT_ID_PATTERN, 'tenant id must be a DNS label: lowercase letters, digits and "-", 1-63 chars');

export const DEFAULT_TENANT_KEYS_DIR = '/etc/engram/tenant-keys';

/** Prefix of every line in a tenant's key file. */
export const API_KEY_HASH_PREFIX = 'sha256:';

/** What the gateway compares: `sha256:<hex>` of the key as the client sends it. */
export function apiKeyHash(apiKey: string): string {
  return API_KEY_HASH_PREFIX + createHash('sha256').update(apiKey, 'utf8').digest('hex');
}

/** Content of a tenant's entry in the keys Secret, from its current API key hashes. */
export function tenantKeyFileContent(hashes: readonly string[]): string {
  return `${hashes.join('\n')}\n`;
}

const HASH_LINE = /^sha256:[0-9a-f]{64}$/;

/** Parses a key file: returns valid hashes and the lines it could not use (reported, never fatal). */
export function parseTenantKeyFile(content: string): { hashes: string[]; invalidLines: number[] } {
  const hashes: string[] = [];
  const invalidLines: number[] = [];
  content.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    if (HASH_LINE.test(line)) hashes.push(line);
    else invalidLines.push(i + 1);
  });
  return { hashes, invalidLines };
}

export const tenantQuotaSchema = z.object({
  documentsPerSecond: z.number().positive(),
  burst: z.number().int().positive(),
  queriesPerSecond: z.number().positive().optional(),
  maxDocuments: z.number().int().positive().optional(),
  maxNodes: z.number().int().positive().optional(),
  maxDocumentSizeBytes: z.number().int().positive().optional(),
  /** Memory decay and retention, in seconds (TenantMemory.spec.retention). */
  retention: z
    .object({
      halfLifeSeconds: z.number().positive(),
      archiveAfterSeconds: z.number().positive().optional(),
      deleteAfterSeconds: z.number().positive().optional(),
    })
    .optional(),
});

/** The operator's per-cluster Secret of tenant key files (mounted at ENGRAM_TENANT_KEYS_DIR). */
export const gatewayTenantsSecretName = (cluster: string): string => `${cluster}-gateway-tenants`;

/** The operator's per-cluster ConfigMap holding the quotas file under TENANT_QUOTAS_FILE_KEY. */
export const gatewayTenantQuotasConfigMapName = (cluster: string): string =>
  `${cluster}-gateway-tenant-quotas`;

/** Key of the quotas file in that ConfigMap; mount it and point ENGRAM_TENANT_QUOTAS_FILE at it. */
export const TENANT_QUOTAS_FILE_KEY = 'quotas.json';

export const tenantQuotasFileSchema = z.record(tenantIdSchema, tenantQuotaSchema);

export type TenantQuota = z.infer<typeof tenantQuotaSchema>;
