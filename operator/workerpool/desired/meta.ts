/** Names, labels and the owner reference of a WorkerPool's children (its Deployment and HPA). */

import { API_VERSION, LABEL_VALUES, LABELS } from '../../api/wellknown.ts';
import type { WorkerPool } from '../../api/workerpool.ts';
import type { KubeObject, OwnerReference } from '../../kube/client.ts';

/** The Deployment and the HPA carry the pool's own name (the CRD's name rule keeps it short enough). */
export const poolChildName = (pool: WorkerPool): string => pool.metadata.name;

/** Labels that select the pool's pods: stable forever (a Deployment's selector is immutable). */
export function poolSelectorLabels(pool: WorkerPool): Record<string, string> {
  return {
    [LABELS.name]: 'engram-runtime',
    [LABELS.instance]: pool.metadata.name,
    [LABELS.workerPool]: pool.metadata.name,
  };
}

/** The selector in string form, as /scale and the HPA read it from status.selector. */
export const poolSelector = (pool: WorkerPool): string =>
  Object.entries(poolSelectorLabels(pool))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

/** Every label of the pool's children and pods; the cluster label lets its pods past the stores' NetworkPolicies. */
export function poolLabels(pool: WorkerPool): Record<string, string> {
  return {
    ...poolSelectorLabels(pool),
    [LABELS.component]: 'worker',
    [LABELS.cluster]: pool.spec.clusterRef.name,
    [LABELS.role]: pool.spec.role,
    [LABELS.partOf]: LABEL_VALUES.partOf,
    [LABELS.managedBy]: LABEL_VALUES.managedBy,
  };
}

export function poolOwnerReference(pool: WorkerPool): OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: 'WorkerPool',
    name: pool.metadata.name,
    uid: pool.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function poolChildMeta(pool: WorkerPool): KubeObject['metadata'] {
  return {
    name: poolChildName(pool),
    namespace: pool.metadata.namespace ?? 'default',
    labels: poolLabels(pool),
    ownerReferences: [poolOwnerReference(pool)],
  };
}
