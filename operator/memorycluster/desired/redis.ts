/** Desired state of a managed Redis: pure builders, cluster in, objects out. */
import { DEFAULT_MANAGED_REDIS } from '../../api/defaults.ts';
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

export const REDIS_PORT = 6379;
const REDIS_UID = 999;
const AUTH_DIR = '/run/redis';
const AUTH_FILE = `${AUTH_DIR}/auth.conf`;

/**
 * Writes `requirepass "<password>"` (quoted and escaped for Redis' config parser) into a memory
 * volume, then becomes redis-server. The password reaches the shell through the environment and
 * sed through stdin: it never appears in a process's arguments (ps, /proc/<pid>/cmdline).
 */
const START_REDIS = [
  'umask 077',
  `esc=$(printf '%s' "$REDIS_PASSWORD" | sed -e 's/\\\\/\\\\\\\\/g' -e 's/"/\\\\"/g')`,
  `printf 'requirepass "%s"\\n' "$esc" > ${AUTH_FILE}`,
  'exec redis-server /config/redis.conf',
].join('\n');

type ManagedRedis = NonNullable<MemoryCluster['spec']['redis']['managed']>;

export function redisMaxMemory(m: ManagedRedis): string {
  if (m.maxMemory) return `${bytesToMebibytes(quantityToBytes(m.maxMemory))}mb`;
  const limit = m.resources?.limits?.memory ?? DEFAULT_MANAGED_REDIS.resources.limits.memory;
  return `${bytesToMebibytes(quantityToBytes(limit) * DEFAULT_MANAGED_REDIS.maxMemoryFraction)}mb`;
}

export function buildRedisConfigMap(cluster: MemoryCluster, m: ManagedRedis): KubeObject {
  const appendOnly = m.appendOnly ?? DEFAULT_MANAGED_REDIS.appendOnly;
  const conf = [
    `port ${REDIS_PORT}`,
    'bind 0.0.0.0',
    'protected-mode yes',
    'dir /data',
    `maxmemory ${redisMaxMemory(m)}`,
    `maxmemory-policy ${m.maxMemoryPolicy ?? DEFAULT_MANAGED_REDIS.maxMemoryPolicy}`,
    `appendonly ${appendOnly ? 'yes' : 'no'}`,
    'appendfsync everysec',
    'save ""',
    // Tenants get ACL users (TenantMemory); the default user is the operator's and the workers'.
    'rename-command FLUSHALL ""',
    'rename-command DEBUG ""',
    // The password, written at start from the Secret (never a process argument): see the command.
    `include ${AUTH_FILE}`,
  ];
  return buildStoreConfigMap(cluster, 'redis', 'redis.conf', conf);
}

export function buildRedisStatefulSet(
  cluster: MemoryCluster,
  m: ManagedRedis,
  config: KubeObject,
): KubeObject {
  const ping = { exec: { command: ['sh', '-c', 'redis-cli -p 6379 ping | grep -q PONG'] } };
  return buildStoreStatefulSet(cluster, 'redis', {
    replicas: m.replicas ?? DEFAULT_MANAGED_REDIS.replicas,
    uid: REDIS_UID,
    storage: m.storage,
    defaultStorageSize: DEFAULT_MANAGED_REDIS.storage.size,
    annotations: { 'engram.dev/config-hash': configHash(config) },
    container: {
      name: 'redis',
      image: m.image ?? DEFAULT_MANAGED_REDIS.image,
      imagePullPolicy: m.imagePullPolicy ?? 'IfNotPresent',
      command: ['sh', '-c', START_REDIS],
      ports: [{ name: 'redis', containerPort: REDIS_PORT, protocol: 'TCP' }],
      env: [
        ...credentialsEnv(managedCredentials(cluster, 'redis'), 'REDIS_USERNAME', 'REDIS_PASSWORD'),
        // redis-cli in the probes reads the password from here, never from its arguments.
        { name: 'REDISCLI_AUTH', value: '$(REDIS_PASSWORD)' },
      ],
      resources: normalizeResources(m.resources ?? DEFAULT_MANAGED_REDIS.resources),
      startupProbe: { ...ping, periodSeconds: 2, failureThreshold: 60 },
      readinessProbe: { ...ping, periodSeconds: 5, failureThreshold: 3 },
      livenessProbe: { tcpSocket: { port: 'redis' }, periodSeconds: 10, failureThreshold: 6 },
      volumeMounts: [
        { name: 'data', mountPath: '/data' },
        { name: 'config', mountPath: '/config', readOnly: true },
        { name: 'tmp', mountPath: '/tmp' },
        { name: 'auth', mountPath: AUTH_DIR },
      ],
    },
    volumes: [
      { name: 'config', configMap: { name: config.metadata.name } },
      { name: 'tmp', emptyDir: {} },
      { name: 'auth', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
    ],
  });
}

export function buildRedisChildren(cluster: MemoryCluster, m: ManagedRedis, ctx: BuildContext): KubeObject[] {
  const config = buildRedisConfigMap(cluster, m);
  return [
    config,
    ...storeServices(cluster, 'redis', [{ name: 'redis', port: REDIS_PORT }]),
    buildRedisStatefulSet(cluster, m, config),
    storePdb(cluster, 'redis'),
    storeNetworkPolicy(cluster, 'redis', [REDIS_PORT], ctx),
  ];
}
