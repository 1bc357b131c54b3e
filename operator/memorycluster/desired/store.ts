/** Pieces every managed store shares: Services, PodDisruptionBudget, NetworkPolicy, credentials. */

import { DEFAULT_CREDENTIAL_KEYS } from '../../api/defaults.ts';
import type { MemoryCluster } from '../../api/memorycluster.ts';
import { LABELS } from '../../api/wellknown.ts';
import type { KubeObject } from '../../kube/client.ts';
import {
  type Component,
  childMeta,
  childName,
  containerSecurityContext,
  podSecurityContext,
  selectorLabels,
  spreadOverNodes,
} from './meta.ts';

/** Label on the operator's own pods; NetworkPolicies admit it next to the cluster's workers. */
export const OPERATOR_POD_LABELS = { [LABELS.name]: 'engram-operator' } as const;

/** What the builders need to know about the operator itself. */
export interface BuildContext {
  /** Namespace the operator runs in: only its pods there may reach the stores besides the workers. */
  operatorNamespace: string;
}

export function storeServices(
  cluster: MemoryCluster,
  component: Component,
  ports: Array<{ name: string; port: number }>,
) {
  const name = childName(cluster, component);
  const servicePorts = ports.map((p) => ({
    name: p.name,
    port: p.port,
    targetPort: p.name,
    protocol: 'TCP',
  }));
  const headless: KubeObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: childMeta(cluster, `${name}-headless`, component),
    spec: {
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      selector: selectorLabels(cluster, component),
      ports: servicePorts,
    },
  };
  const client: KubeObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: childMeta(cluster, name, component),
    spec: { type: 'ClusterIP', selector: selectorLabels(cluster, component), ports: servicePorts },
  };
  return [headless, client];
}

export function storePdb(cluster: MemoryCluster, component: Component): KubeObject {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: childMeta(cluster, childName(cluster, component), component),
    // One voluntary disruption at a time; never 0, which would block node drains forever.
    spec: { maxUnavailable: 1, selector: { matchLabels: selectorLabels(cluster, component) } },
  };
}

/**
 * Only the cluster's workers (same namespace, cluster label) and the operator's pods (in the
 * operator's namespace only: a pod elsewhere wearing the operator's label is not the operator)
 * may connect.
 */
export function storeNetworkPolicy(
  cluster: MemoryCluster,
  component: Component,
  ports: number[],
  ctx: BuildContext,
): KubeObject {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: childMeta(cluster, childName(cluster, component), component),
    spec: {
      podSelector: { matchLabels: selectorLabels(cluster, component) },
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [
            { podSelector: { matchLabels: { [LABELS.cluster]: cluster.metadata.name } } },
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ctx.operatorNamespace } },
              podSelector: { matchLabels: OPERATOR_POD_LABELS },
            },
          ],
          ports: ports.map((port) => ({ protocol: 'TCP', port })),
        },
      ],
    },
  };
}

export const credentialsSecretName = (cluster: MemoryCluster, component: Component): string =>
  `${childName(cluster, component)}-credentials`;

/**
 * A generated credentials Secret. The reconciler creates it once and never applies it again,
 * so the password is never regenerated or overwritten.
 */
export function buildGeneratedCredentials(
  cluster: MemoryCluster,
  component: 'neo4j' | 'redis',
  password: string,
): KubeObject {
  const username = component === 'neo4j' ? 'neo4j' : 'default';
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      ...childMeta(cluster, credentialsSecretName(cluster, component), component),
      annotations: { 'engram.dev/generated': 'true' },
    },
    type: 'Opaque',
    stringData: { username, password },
  };
}

/** Where a managed store's credentials live: the user's Secret if referenced, else the generated one. */
export interface CredentialsRef {
  name: string;
  usernameKey: string;
  passwordKey: string;
  generated: boolean;
}

export function managedCredentials(cluster: MemoryCluster, component: 'neo4j' | 'redis'): CredentialsRef {
  const ref = cluster.spec[component].managed?.credentialsSecretRef;
  if (ref) {
    return {
      name: ref.name,
      usernameKey: ref.usernameKey ?? DEFAULT_CREDENTIAL_KEYS.username,
      passwordKey: ref.passwordKey ?? DEFAULT_CREDENTIAL_KEYS.password,
      generated: false,
    };
  }
  return {
    name: credentialsSecretName(cluster, component),
    usernameKey: DEFAULT_CREDENTIAL_KEYS.username,
    passwordKey: DEFAULT_CREDENTIAL_KEYS.password,
    generated: true,
  };
}

/** Container env reading a username and password from a credentials Secret. */
export function credentialsEnv(ref: CredentialsRef, userVar: string, passwordVar: string) {
  return [
    { name: userVar, valueFrom: { secretKeyRef: { name: ref.name, key: ref.usernameKey } } },
    { name: passwordVar, valueFrom: { secretKeyRef: { name: ref.name, key: ref.passwordKey } } },
  ];
}

/** A store's configuration file (`<cluster>-<component>-config`), one setting per line. */
export function buildStoreConfigMap(
  cluster: MemoryCluster,
  component: Component,
  file: string,
  lines: string[],
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: childMeta(cluster, `${childName(cluster, component)}-config`, component),
    data: { [file]: `${lines.join('\n')}\n` },
  };
}

export interface StoreStatefulSetParts {
  replicas: number;
  /** Pod and file-system owner the image runs as. */
  uid: number;
  storage: { size?: string; storageClassName?: string } | undefined;
  defaultStorageSize: string;
  /** The store's container; securityContext is set here, the same for every store. */
  container: Record<string, unknown>;
  volumes: Array<Record<string, unknown>>;
  /** Pod template annotations, e.g. a config hash whose change rolls the pods. */
  annotations?: Record<string, string>;
  parallel?: boolean;
  terminationGracePeriodSeconds?: number;
}

/** The StatefulSet every managed store runs in: hardened pods, spread over nodes, one data volume. */
export function buildStoreStatefulSet(
  cluster: MemoryCluster,
  component: Component,
  parts: StoreStatefulSetParts,
): KubeObject {
  const name = childName(cluster, component);
  const selector = selectorLabels(cluster, component);
  const meta = childMeta(cluster, name, component);
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: meta,
    spec: {
      serviceName: `${name}-headless`,
      replicas: parts.replicas,
      ...(parts.parallel ? { podManagementPolicy: 'Parallel' } : {}),
      selector: { matchLabels: selector },
      updateStrategy: { type: 'RollingUpdate' },
      // The volumes go with the cluster, as its generated credentials do: a re-created cluster
      // never meets data locked with a password it does not have (memorycluster/credentials.ts).
      persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Delete', whenScaled: 'Retain' },
      template: {
        metadata: { labels: meta.labels, ...(parts.annotations ? { annotations: parts.annotations } : {}) },
        spec: {
          automountServiceAccountToken: false,
          securityContext: podSecurityContext(parts.uid),
          affinity: spreadOverNodes(selector),
          ...(parts.terminationGracePeriodSeconds
            ? { terminationGracePeriodSeconds: parts.terminationGracePeriodSeconds }
            : {}),
          containers: [{ ...parts.container, securityContext: containerSecurityContext }],
          volumes: parts.volumes,
        },
      },
      volumeClaimTemplates: [
        {
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          metadata: { name: 'data', labels: selector },
          spec: {
            accessModes: ['ReadWriteOnce'],
            ...(parts.storage?.storageClassName ? { storageClassName: parts.storage.storageClassName } : {}),
            resources: { requests: { storage: parts.storage?.size ?? parts.defaultStorageSize } },
          },
        },
      ],
    },
  };
}
