/**
 * What the gateways of one MemoryCluster read about its tenants, built from all its TenantMemories:
 * the `<cluster>-gateway-tenants` Secret (one key file per tenant id: the hash lines of its API
 * keys, never a key) and the quotas ConfigMap (the runtime's quotas file: rates, limits, decay).
 * Both are owned by the cluster (not as controller), so they go with it.
 */
import { createHash } from 'node:crypto';
import {
  gatewayTenantQuotasConfigMapName,
  gatewayTenantsSecretName,
  TENANT_QUOTAS_FILE_KEY,
  type TenantQuota,
  tenantKeyFileContent,
} from '../../../runtime/contract/tenants.ts';
import {
  DEFAULT_TENANT_QUOTAS,
  DEFAULT_TENANT_RETENTION,
  durationToMilliseconds,
} from '../../api/defaults.ts';
import type { MemoryCluster } from '../../api/memorycluster.ts';
import type { TenantMemory } from '../../api/tenantmemory.ts';
import { API_VERSION, LABEL_VALUES, LABELS } from '../../api/wellknown.ts';
import type { KubeObject } from '../../kube/client.ts';
import { quantityToBytes } from '../../kube/quantity.ts';

/** Annotation on the gateway Secret: digest of its data, compared instead of the data itself. */
export const CONTENT_DIGEST_ANNOTATION = 'engram.dev/content-digest';

export interface GatewayTenant {
  tenantId: string;
  /** `sha256:<hex>` of each valid API key (two during a rotation). */
  hashes: string[];
  quota: TenantQuota;
}

/**
 * Which TenantMemory owns each tenant id of a cluster: the oldest (then by name). Another one
 * claiming the same id is refused, never merged: it would read the first one's data.
 */
export function tenantIdOwners(tms: readonly TenantMemory[]): Map<string, string> {
  const sorted = [...tms].sort(
    (a, b) =>
      (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') ||
      a.metadata.name.localeCompare(b.metadata.name),
  );
  const owners = new Map<string, string>();
  for (const tm of sorted) if (!owners.has(tm.spec.tenantId)) owners.set(tm.spec.tenantId, tm.metadata.name);
  return owners;
}

const seconds = (d: string) => durationToMilliseconds(d) / 1000;

/** The runtime's view of a tenant's quotas and retention (defaults filled in). */
export function tenantQuota(tm: TenantMemory): TenantQuota {
  const q = tm.spec.quotas ?? {};
  const r = tm.spec.retention ?? {};
  return {
    documentsPerSecond: q.ingestDocumentsPerSecond ?? DEFAULT_TENANT_QUOTAS.ingestDocumentsPerSecond,
    burst: q.ingestBurst ?? DEFAULT_TENANT_QUOTAS.ingestBurst,
    queriesPerSecond: q.queriesPerSecond ?? DEFAULT_TENANT_QUOTAS.queriesPerSecond,
    ...(q.maxDocuments !== undefined ? { maxDocuments: q.maxDocuments } : {}),
    ...(q.maxNodes !== undefined ? { maxNodes: q.maxNodes } : {}),
    ...(q.maxDocumentSize !== undefined ? { maxDocumentSizeBytes: quantityToBytes(q.maxDocumentSize) } : {}),
    retention: {
      halfLifeSeconds: seconds(r.halfLife ?? DEFAULT_TENANT_RETENTION.halfLife),
      ...(r.archiveAfter ? { archiveAfterSeconds: seconds(r.archiveAfter) } : {}),
      ...(r.deleteAfter ? { deleteAfterSeconds: seconds(r.deleteAfter) } : {}),
    },
  };
}

function clusterMeta(cluster: MemoryCluster, name: string): KubeObject['metadata'] {
  return {
    name,
    namespace: cluster.metadata.namespace ?? 'default',
    labels: {
      [LABELS.cluster]: cluster.metadata.name,
      [LABELS.component]: 'gateway-tenants',
      [LABELS.partOf]: LABEL_VALUES.partOf,
      [LABELS.managedBy]: LABEL_VALUES.managedBy,
    },
    ownerReferences: [
      {
        apiVersion: API_VERSION,
        kind: 'MemoryCluster',
        name: cluster.metadata.name,
        uid: cluster.metadata.uid ?? '',
        controller: false,
        blockOwnerDeletion: false,
      },
    ],
  };
}

const byId = (tenants: readonly GatewayTenant[]) =>
  [...tenants].sort((a, b) => a.tenantId.localeCompare(b.tenantId));

export function buildGatewayTenantsSecret(
  cluster: MemoryCluster,
  tenants: readonly GatewayTenant[],
): KubeObject {
  const data: Record<string, string> = {};
  for (const t of byId(tenants))
    data[t.tenantId] = Buffer.from(tenantKeyFileContent(t.hashes), 'utf8').toString('base64');
  const meta = clusterMeta(cluster, gatewayTenantsSecretName(cluster.metadata.name));
  meta.annotations = {
    [CONTENT_DIGEST_ANNOTATION]: createHash('sha256').update(JSON.stringify(data)).digest('hex').slice(0, 32),
  };
  return { apiVersion: 'v1', kind: 'Secret', metadata: meta, type: 'Opaque', data };
}

export function buildQuotasConfigMap(cluster: MemoryCluster, tenants: readonly GatewayTenant[]): KubeObject {
  const file = Object.fromEntries(byId(tenants).map((t) => [t.tenantId, t.quota]));
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: clusterMeta(cluster, gatewayTenantQuotasConfigMapName(cluster.metadata.name)),
    data: { [TENANT_QUOTAS_FILE_KEY]: `${JSON.stringify(file, null, 2)}\n` },
  };
}
