/** Desired state of a managed Redpanda (spec.kafka.managed): pure builders. */

import { DEFAULT_MANAGED_KAFKA } from '../../api/defaults.ts';
import type { MemoryCluster } from '../../api/memorycluster.ts';
import type { KubeObject } from '../../kube/client.ts';
import {
  childMeta,
  childName,
  containerSecurityContext,
  normalizeResources,
  podSecurityContext,
  selectorLabels,
  spreadOverNodes,
} from './meta.ts';
import { bytesToMebibytes, quantityToBytes } from './quantity.ts';
import { storeNetworkPolicy, storePdb, storeServices } from './store.ts';

export const KAFKA_PORT = 9092;
const ADMIN_PORT = 9644;
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
  const selector = selectorLabels(cluster, 'kafka');
  const meta = childMeta(cluster, name, 'kafka');
  const resources = m.resources ?? DEFAULT_MANAGED_KAFKA.resources;
  const memory = resources.limits?.memory ?? DEFAULT_MANAGED_KAFKA.resources.limits.memory;
  // Redpanda wants its memory budget explicitly; leave 20% to the container's other needs.
  const redpandaMemory = `${bytesToMebibytes(quantityToBytes(memory) * 0.8)}M`;
  const replicas = m.replicas ?? DEFAULT_MANAGED_KAFKA.replicas;
  const seeds = Array.from(
    { length: replicas },
    (_, i) => `${name}-${i}.${name}-headless.${ns}.svc:33145`,
  ).join(',');
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: meta,
    spec: {
      serviceName: `${name}-headless`,
      replicas,
      podManagementPolicy: 'Parallel',
      selector: { matchLabels: selector },
      updateStrategy: { type: 'RollingUpdate' },
      template: {
        metadata: { labels: meta.labels },
        spec: {
          automountServiceAccountToken: false,
          securityContext: podSecurityContext(REDPANDA_UID),
          affinity: spreadOverNodes(selector),
          terminationGracePeriodSeconds: 90,
          containers: [
            {
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
                  '--rpc-addr 0.0.0.0:33145',
                  `--advertise-rpc-addr $(POD_NAME).${name}-headless.${ns}.svc:33145`,
                  `--seeds ${seeds}`,
                ].join(' '),
              ],
              env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
              ports: [
                { name: 'kafka', containerPort: KAFKA_PORT, protocol: 'TCP' },
                { name: 'admin', containerPort: ADMIN_PORT, protocol: 'TCP' },
                { name: 'rpc', containerPort: 33145, protocol: 'TCP' },
              ],
              resources: normalizeResources(resources),
              securityContext: containerSecurityContext,
              startupProbe: {
                httpGet: { path: '/v1/status/ready', port: 'admin' },
                periodSeconds: 5,
                failureThreshold: 60,
              },
              readinessProbe: { httpGet: { path: '/v1/status/ready', port: 'admin' }, periodSeconds: 10 },
              livenessProbe: { tcpSocket: { port: 'kafka' }, periodSeconds: 20, failureThreshold: 6 },
              volumeMounts: [
                { name: 'data', mountPath: '/var/lib/redpanda/data' },
                { name: 'config', mountPath: '/etc/redpanda' },
                { name: 'tmp', mountPath: '/tmp' },
              ],
            },
          ],
          volumes: [
            { name: 'config', emptyDir: {} },
            { name: 'tmp', emptyDir: {} },
          ],
        },
      },
      volumeClaimTemplates: [
        {
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          metadata: { name: 'data', labels: selector },
          spec: {
            accessModes: ['ReadWriteOnce'],
            ...(m.storage?.storageClassName ? { storageClassName: m.storage.storageClassName } : {}),
            resources: { requests: { storage: m.storage?.size ?? DEFAULT_MANAGED_KAFKA.storage.size } },
          },
        },
      ],
    },
  };
}

export function buildRedpandaChildren(cluster: MemoryCluster, m: ManagedKafka): KubeObject[] {
  return [
    ...storeServices(cluster, 'kafka', [
      { name: 'kafka', port: KAFKA_PORT },
      { name: 'admin', port: ADMIN_PORT },
      { name: 'rpc', port: 33145 },
    ]),
    buildRedpandaStatefulSet(cluster, m),
    storePdb(cluster, 'kafka'),
    storeNetworkPolicy(cluster, 'kafka', [KAFKA_PORT, ADMIN_PORT, 33145]),
  ];
}
