/**
 * The tenant's credentials Secret `<tm>-credentials`: its gateway API key and its Redis ACL user.
 * Created once with random values and never rewritten; owned by the TenantMemory. The key's hash
 * (not secret: sha256 of 32 random bytes) rides in an annotation, so the operator builds the
 * gateway's key files from Secret metadata without ever holding the keys of all tenants.
 */

import { tenantRedisUser } from '../../../runtime/contract/stores.ts';
import { apiKeyHash } from '../../../runtime/contract/tenants.ts';
import type { MemoryCluster } from '../../api/memorycluster.ts';
import type { TenantMemory } from '../../api/tenantmemory.ts';
import { API_VERSION, LABEL_VALUES, LABELS } from '../../api/wellknown.ts';
import type { KubeObject } from '../../kube/client.ts';

export const CREDENTIAL_KEYS = {
  apiKey: 'api-key',
  redisUsername: 'redis-username',
  redisPassword: 'redis-password',
} as const;

/** Annotation on the credentials Secret: `sha256:<hex>` of its api-key. */
export const API_KEY_HASH_ANNOTATION = 'engram.dev/api-key-hash';

export const credentialsSecretName = (tm: TenantMemory): string => `${tm.metadata.name}-credentials`;

export function tenantLabels(tm: TenantMemory): Record<string, string> {
  return {
    [LABELS.cluster]: tm.spec.clusterRef.name,
    [LABELS.tenant]: tm.spec.tenantId,
    [LABELS.partOf]: LABEL_VALUES.partOf,
    [LABELS.managedBy]: LABEL_VALUES.managedBy,
  };
}

export function buildCredentialsSecret(
  tm: TenantMemory,
  cluster: MemoryCluster,
  secret: { apiKey: string; redisPassword: string },
): KubeObject {
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: credentialsSecretName(tm),
      namespace: tm.metadata.namespace ?? 'default',
      labels: tenantLabels(tm),
      annotations: { [API_KEY_HASH_ANNOTATION]: apiKeyHash(secret.apiKey) },
      ownerReferences: [
        {
          apiVersion: API_VERSION,
          kind: 'TenantMemory',
          name: tm.metadata.name,
          uid: tm.metadata.uid ?? '',
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    type: 'Opaque',
    data: {
      [CREDENTIAL_KEYS.apiKey]: b64(secret.apiKey),
      [CREDENTIAL_KEYS.redisUsername]: b64(tenantRedisUser(cluster.metadata.name, tm.spec.tenantId)),
      [CREDENTIAL_KEYS.redisPassword]: b64(secret.redisPassword),
    },
  } as KubeObject;
}
