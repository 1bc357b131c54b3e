/** Names, labels, owner references and hardened defaults shared by every child of a MemoryCluster. */

import { createHash } from 'node:crypto';
import type { MemoryCluster } from '../../api/memorycluster.ts';
import { API_VERSION, LABEL_VALUES, LABELS } from '../../api/wellknown.ts';
import type { KubeObject, OwnerReference } from '../../kube/client.ts';

export type Component = 'neo4j' | 'redis' | 'kafka';

export const childName = (cluster: MemoryCluster, component: string): string =>
  `${cluster.metadata.name}-${component}`;

/** Labels that select a component's pods: stable forever (StatefulSet selectors are immutable). */
export function selectorLabels(cluster: MemoryCluster, component: Component): Record<string, string> {
  return {
    [LABELS.name]: component,
    [LABELS.instance]: cluster.metadata.name,
    [LABELS.cluster]: cluster.metadata.name,
  };
}

export function componentLabels(cluster: MemoryCluster, component: Component): Record<string, string> {
  return {
    ...selectorLabels(cluster, component),
    [LABELS.component]: component === 'kafka' ? 'log' : component === 'neo4j' ? 'graph-store' : 'cache',
    [LABELS.partOf]: LABEL_VALUES.partOf,
    [LABELS.managedBy]: LABEL_VALUES.managedBy,
  };
}

export function ownerReference(cluster: MemoryCluster): OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: 'MemoryCluster',
    name: cluster.metadata.name,
    uid: cluster.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** Metadata of a child: namespace, labels, and the controller owner reference. */
export function childMeta(
  cluster: MemoryCluster,
  name: string,
  component: Component,
): KubeObject['metadata'] {
  return {
    name,
    namespace: cluster.metadata.namespace ?? 'default',
    labels: componentLabels(cluster, component),
    ownerReferences: [ownerReference(cluster)],
  };
}

export const podSecurityContext = (uid: number) => ({
  runAsNonRoot: true,
  runAsUser: uid,
  runAsGroup: uid,
  fsGroup: uid,
  fsGroupChangePolicy: 'OnRootMismatch',
  seccompProfile: { type: 'RuntimeDefault' },
});

export const containerSecurityContext = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  privileged: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

/** Spread pods of one component over nodes when the scheduler can. */
export const spreadOverNodes = (labels: Record<string, string>) => ({
  podAntiAffinity: {
    preferredDuringSchedulingIgnoredDuringExecution: [
      {
        weight: 100,
        podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: labels } },
      },
    ],
  },
});

/** Resource quantities as the API server stores them (numbers become strings). */
export function normalizeResources(r: {
  requests?: Record<string, string | number>;
  limits?: Record<string, string | number>;
}) {
  const norm = (m?: Record<string, string | number>) =>
    m && Object.fromEntries(Object.entries(m).map(([k, v]) => [k, String(v)]));
  return {
    ...(r.requests ? { requests: norm(r.requests) } : {}),
    ...(r.limits ? { limits: norm(r.limits) } : {}),
  };
}

/** Short hash of a ConfigMap's data: a pod template annotation, so a config change rolls the pods. */
export const configHash = (config: KubeObject): string =>
  createHash('sha256').update(JSON.stringify(config.data)).digest('hex').slice(0, 16);
