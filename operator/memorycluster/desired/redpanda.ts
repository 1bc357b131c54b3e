/** Desired state of a managed Redpanda (spec.kafka.managed): pure builders. */

import { DEFAULT_MANAGED_KAFKA } from '../../api/defaults.ts';
import type { MemoryCluster } from '../../api/memorycluster.ts';
import type { KubeObject } from '../../kube/client.ts';
import { bytesToMebibytes, quantityToBytes } from '../../kube/quantity.ts';
import { childName, normalizeResources } from './meta.ts';
import {
  type BuildContext,
  buildStoreStatefulSet,
  storeNetworkPolicy,
  storePdb,
  storeServices,
} from './store.ts';

export const KAFKA_PORT = 9092;
const ADMIN_PORT = 9644;
const RPC_PORT = 33145;
const REDPANDA_UID = 101;

type ManagedKafka = NonNullable<MemoryCluster['spec']['kafka']['managed']>;

/** Bootstrap address of the managed brokers, as workers inside the cluster reach them. */
export function managedKafkaBootstrap(cluster: MemoryCluster): string {
  const ns = cluster.metadata.namespace ?? 'default';
  return `${childName(cluster, 'kafka')}.${ns}.svc:${KAFKA_PORT}`;
}

export function buildRedpandaStatefulSet(cluster: MemoryCluster, m: ManagedKafka): KubeObject {
  const name = childName(cluster, 'kafka');
  const ns = cluster.metadata.namespace ?? 'default';
  const resources = m.resources ?? DEFAULT_MANAGED_KAFKA.resources;
  const memory = resources.limits?.memory ?? DEFAULT_MANAGED_KAFKA.resources.limits.memory;
  // Redpanda wants its memory budget explicitly; leave 20% to the container's other needs.
  const redpandaMemory = `${bytesToMebibytes(quantityToBytes(memory) * 0.8)}M`;
  const replicas = m.replicas ?? DEFAULT_MANAGED_KAFKA.replicas;
  const seeds = Array.from(
    { length: replicas },
    (_, i) => `${name}-${i}.${name}-headless.${ns}.svc:${RPC_PORT}`,
  ).join(',');
  const ready = { httpGet: { path: '/v1/status/ready', port: 'admin' } };
  return buildStoreStatefulSet(cluster, 'kafka', {
    replicas,
    uid: REDPANDA_UID,
    storage: m.storage,
    defaultStorageSize: DEFAULT_MANAGED_KAFKA.storage.size,
    parallel: true,
    terminationGracePeriodSeconds: 90,
    container: {
      name: 'redpanda',
      image: m.image ?? DEFAULT_MANAGED_KAFKA.image,
      imagePullPolicy: m.imagePullPolicy ?? 'IfNotPresent',
      command: ['sh', '-c'],
      args: [
        [
          'exec rpk redpanda start --overprovisioned --smp 1',
          `--memory ${redpandaMemory}`,
          // biome-ignore lint/suspicious/noTemplateCurlyInString: expanded by the container's shell
          '--node-id ${HOSTNAME##*-}',
          `--kafka-addr internal://0.0.0.0:${KAFKA_PORT}`,
          `--advertise-kafka-addr internal://$(POD_NAME).${name}-headless.${ns}.svc:${KAFKA_PORT}`,
          `--rpc-addr 0.0.0.0:${RPC_PORT}`,
          `--advertise-rpc-addr $(POD_NAME).${name}-headless.${ns}.svc:${RPC_PORT}`,
          `--seeds ${seeds}`,
        ].join(' '),
      ],
      env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
      ports: [
        { name: 'kafka', containerPort: KAFKA_PORT, protocol: 'TCP' },
        { name: 'admin', containerPort: ADMIN_PORT, protocol: 'TCP' },
        { name: 'rpc', containerPort: RPC_PORT, protocol: 'TCP' },
      ],
      resources: normalizeResources(resources),
      startupProbe: { ...ready, periodSeconds: 5, failureThreshold: 60 },
      readinessProbe: { ...ready, periodSeconds: 10 },
      livenessProbe: { tcpSocket: { port: 'kafka' }, periodSeconds: 20, failureThreshold: 6 },
      volumeMounts: [
        { name: 'data', mountPath: '/var/lib/redpanda/data' },
        { name: 'config', mountPath: '/etc/redpanda' },
        { name: 'tmp', mountPath: '/tmp' },
      ],
    },
    volumes: [
      { name: 'config', emptyDir: {} },
      { name: 'tmp', emptyDir: {} },
    ],
  });
}

export function buildRedpandaChildren(
  cluster: MemoryCluster,
  m: ManagedKafka,
  ctx: BuildContext,
): KubeObject[] {
  return [
    ...storeServices(cluster, 'kafka', [
      { name: 'kafka', port: KAFKA_PORT },
      { name: 'admin', port: ADMIN_PORT },
      { name: 'rpc', port: RPC_PORT },
    ]),
    buildRedpandaStatefulSet(cluster, m),
    storePdb(cluster, 'kafka'),
    storeNetworkPolicy(cluster, 'kafka', [KAFKA_PORT, ADMIN_PORT, RPC_PORT], ctx),
  ];
}
