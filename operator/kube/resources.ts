/** The resource types the operator reads and writes, and their REST paths. */

export interface ResourceType {
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

const type = (apiVersion: string, kind: string, plural: string, namespaced = true): ResourceType => {
  const [group, version] = apiVersion.includes('/')
    ? (apiVersion.split('/') as [string, string])
    : ['', apiVersion];
  return { group, version, kind, plural, namespaced };
};

export const apiVersionOf = (t: ResourceType): string => (t.group ? `${t.group}/${t.version}` : t.version);

export const Types = {
  Namespace: type('v1', 'Namespace', 'namespaces', false),
  ConfigMap: type('v1', 'ConfigMap', 'configmaps'),
  Secret: type('v1', 'Secret', 'secrets'),
  Service: type('v1', 'Service', 'services'),
  Pod: type('v1', 'Pod', 'pods'),
  PersistentVolumeClaim: type('v1', 'PersistentVolumeClaim', 'persistentvolumeclaims'),
  ServiceAccount: type('v1', 'ServiceAccount', 'serviceaccounts'),
  Event: type('events.k8s.io/v1', 'Event', 'events'),
  StatefulSet: type('apps/v1', 'StatefulSet', 'statefulsets'),
  Deployment: type('apps/v1', 'Deployment', 'deployments'),
  HorizontalPodAutoscaler: type('autoscaling/v2', 'HorizontalPodAutoscaler', 'horizontalpodautoscalers'),
  PodDisruptionBudget: type('policy/v1', 'PodDisruptionBudget', 'poddisruptionbudgets'),
  NetworkPolicy: type('networking.k8s.io/v1', 'NetworkPolicy', 'networkpolicies'),
  Lease: type('coordination.k8s.io/v1', 'Lease', 'leases'),
  APIService: type('apiregistration.k8s.io/v1', 'APIService', 'apiservices', false),
  StorageClass: type('storage.k8s.io/v1', 'StorageClass', 'storageclasses', false),
  CustomResourceDefinition: type(
    'apiextensions.k8s.io/v1',
    'CustomResourceDefinition',
    'customresourcedefinitions',
    false,
  ),
  MemoryCluster: type('engram.dev/v1alpha1', 'MemoryCluster', 'memoryclusters'),
  TenantMemory: type('engram.dev/v1alpha1', 'TenantMemory', 'tenantmemories'),
  WorkerPool: type('engram.dev/v1alpha1', 'WorkerPool', 'workerpools'),
} as const;

export function resourcePath(
  t: ResourceType,
  namespace?: string,
  name?: string,
  subresource?: string,
): string {
  let path = t.group ? `/apis/${t.group}/${t.version}` : `/api/${t.version}`;
  if (t.namespaced && namespace) path += `/namespaces/${encodeURIComponent(namespace)}`;
  path += `/${t.plural}`;
  if (name) path += `/${encodeURIComponent(name)}`;
  if (subresource) path += `/${subresource}`;
  return path;
}

/** Cache key of a namespaced object: `namespace/name`. */
export const objectKey = (namespace: string | undefined, name: string): string =>
  namespace ? `${namespace}/${name}` : name;

export function splitKey(key: string): { namespace: string | undefined; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: undefined, name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
