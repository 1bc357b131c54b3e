/** Desired state of a managed Neo4j: pure builders, cluster in, objects out. */
import { DEFAULT_MANAGED_NEO4J } from '../../api/defaults.ts';
import type { MemoryCluster } from '../../api/memorycluster.ts';
import type { KubeObject } from '../../kube/client.ts';
import { bytesToMebibytes, quantityToBytes } from '../../kube/quantity.ts';
import { configHash, normalizeResources } from './meta.ts';
import {
  type BuildContext,
  buildStoreConfigMap,
  buildStoreStatefulSet,
  credentialsEnv,
  managedCredentials,
  storeNetworkPolicy,
  storePdb,
  storeServices,
} from './store.ts';

export const NEO4J_BOLT_PORT = 7687;
const NEO4J_UID = 7474;

type ManagedNeo4j = NonNullable<MemoryCluster['spec']['neo4j']['managed']>;

/** Heap and page cache: as given, else fractions of the memory limit. */
export function neo4jMemory(m: ManagedNeo4j): { heap: string; pageCache: string } {
  const limit = m.resources?.limits?.memory ?? DEFAULT_MANAGED_NEO4J.resources.limits.memory;
  const bytes = quantityToBytes(limit);
  const heap = m.memory?.heap ? quantityToBytes(m.memory.heap) : bytes * DEFAULT_MANAGED_NEO4J.heapFraction;
  const pageCache = m.memory?.pageCache
    ? quantityToBytes(m.memory.pageCache)
    : bytes * DEFAULT_MANAGED_NEO4J.pageCacheFraction;
  return { heap: `${bytesToMebibytes(heap)}m`, pageCache: `${bytesToMebibytes(pageCache)}m` };
}

export function buildNeo4jConfigMap(cluster: MemoryCluster, m: ManagedNeo4j): KubeObject {
  const { heap, pageCache } = neo4jMemory(m);
  const conf = [
    `server.memory.heap.initial_size=${heap}`,
    `server.memory.heap.max_size=${heap}`,
    `server.memory.pagecache.size=${pageCache}`,
    'server.default_listen_address=0.0.0.0',
    `server.bolt.listen_address=:${NEO4J_BOLT_PORT}`,
    'server.http.enabled=false',
    'server.directories.logs=/logs',
    'server.directories.run=/run/neo4j',
    'dbms.security.auth_enabled=true',
    'db.tx_log.rotation.retention_policy=2 days',
  ];
  return buildStoreConfigMap(cluster, 'neo4j', 'neo4j.conf', conf);
}

export function buildNeo4jStatefulSet(
  cluster: MemoryCluster,
  m: ManagedNeo4j,
  config: KubeObject,
): KubeObject {
  const tcp = { tcpSocket: { port: 'bolt' } };
  return buildStoreStatefulSet(cluster, 'neo4j', {
    replicas: m.replicas ?? DEFAULT_MANAGED_NEO4J.replicas,
    uid: NEO4J_UID,
    storage: m.storage,
    defaultStorageSize: DEFAULT_MANAGED_NEO4J.storage.size,
    parallel: true,
    terminationGracePeriodSeconds: 120,
    // A changed neo4j.conf (memory settings) rolls the pods.
    annotations: { 'engram.dev/config-hash': configHash(config) },
    container: {
      name: 'neo4j',
      image: m.image ?? DEFAULT_MANAGED_NEO4J.image,
      imagePullPolicy: m.imagePullPolicy ?? 'IfNotPresent',
      ports: [{ name: 'bolt', containerPort: NEO4J_BOLT_PORT, protocol: 'TCP' }],
      env: [
        { name: 'NEO4J_CONF', value: '/config' },
        ...credentialsEnv(managedCredentials(cluster, 'neo4j'), 'NEO4J_USERNAME', 'NEO4J_PASSWORD'),
        { name: 'NEO4J_AUTH', value: '$(NEO4J_USERNAME)/$(NEO4J_PASSWORD)' },
      ],
      resources: normalizeResources(m.resources ?? DEFAULT_MANAGED_NEO4J.resources),
      startupProbe: { ...tcp, periodSeconds: 5, failureThreshold: 120 },
      readinessProbe: { ...tcp, periodSeconds: 10, failureThreshold: 3 },
      livenessProbe: { ...tcp, periodSeconds: 20, failureThreshold: 6 },
      volumeMounts: [
        { name: 'data', mountPath: '/data' },
        { name: 'config', mountPath: '/config', readOnly: true },
        { name: 'logs', mountPath: '/logs' },
        { name: 'run', mountPath: '/run/neo4j' },
        { name: 'tmp', mountPath: '/tmp' },
      ],
    },
    volumes: [
      { name: 'config', configMap: { name: config.metadata.name } },
      { name: 'logs', emptyDir: {} },
      { name: 'run', emptyDir: {} },
      { name: 'tmp', emptyDir: {} },
    ],
  });
}

/** Everything a managed Neo4j needs, in apply order (credentials Secret handled separately). */
export function buildNeo4jChildren(cluster: MemoryCluster, m: ManagedNeo4j, ctx: BuildContext): KubeObject[] {
  const config = buildNeo4jConfigMap(cluster, m);
  return [
    config,
    ...storeServices(cluster, 'neo4j', [{ name: 'bolt', port: NEO4J_BOLT_PORT }]),
    buildNeo4jStatefulSet(cluster, m, config),
    storePdb(cluster, 'neo4j'),
    storeNetworkPolicy(cluster, 'neo4j', [NEO4J_BOLT_PORT], ctx),
  ];
}
