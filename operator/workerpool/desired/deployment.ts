/**
 * A WorkerPool's Deployment (pure): the runtime image with the role as its argument, the env the
 * runtime contract builds (runtimeEnv; the runtime parses it with parseRuntimeConfig), Secrets as
 * references and mounted files, hardened pods, probes on the health port, GPUs where asked, and
 * replicas only when the pool is not autoscaled (the HPA owns them otherwise).
 */
import {
  DEFAULT_HTTP_PORT,
  DEFAULT_METRICS_PORT,
  DEFAULT_MODEL_DIR,
  HEALTH_PATHS,
  type RuntimeEnvInput,
  runtimeEnv,
  type SecretKeyRef,
} from '../../../runtime/contract/config.ts';
import { ROLE_SPECS } from '../../../runtime/contract/roles.ts';
import {
  DEFAULT_TENANT_KEYS_DIR,
  gatewayTenantQuotasConfigMapName,
  gatewayTenantsSecretName,
  TENANT_QUOTAS_FILE_KEY,
} from '../../../runtime/contract/tenants.ts';
import {
  DEFAULT_CREDENTIAL_KEYS,
  DEFAULT_EMBEDDING,
  DEFAULT_RUNTIME_IMAGE,
  effectiveTopicPrefix,
  effectiveTopics,
} from '../../api/defaults.ts';
import type { MemoryCluster } from '../../api/memorycluster.ts';
import type { WorkerPool } from '../../api/workerpool.ts';
import type { KubeObject } from '../../kube/client.ts';
import { childName, containerSecurityContext, normalizeResources } from '../../memorycluster/desired/meta.ts';
import { NEO4J_BOLT_PORT } from '../../memorycluster/desired/neo4j.ts';
import { REDIS_PORT } from '../../memorycluster/desired/redis.ts';
import { managedKafkaBootstrap } from '../../memorycluster/desired/redpanda.ts';
import { managedCredentials } from '../../memorycluster/desired/store.ts';
import { poolChildMeta, poolLabels, poolSelectorLabels } from './meta.ts';

/** The runtime image's user (Dockerfile.runtime: USER 65532:65532). */
export const RUNTIME_UID = 65532;
export const WORKER_CONTAINER = 'worker';
/** Where Secrets the runtime reads as files are mounted. */
export const MOUNTS = {
  tmp: '/tmp',
  kafkaCa: '/etc/engram/kafka-ca',
  kafkaClientCert: '/etc/engram/kafka-client',
  tenantKeys: DEFAULT_TENANT_KEYS_DIR,
  tenantQuotas: '/etc/engram/tenant-quotas',
  model: DEFAULT_MODEL_DIR,
} as const;

/** The Secret of tenant key hashes the gateway mounts, written by the TenantMemory controller. */
export { gatewayTenantsSecretName };

export interface DeploymentInput {
  pool: WorkerPool;
  cluster: MemoryCluster;
  /** Pods to apply; undefined leaves replicas out of the applied object (autoscaled pools). */
  replicas: number | undefined;
}

const secretRef = (name: string, key: string): SecretKeyRef => ({ secretKeyRef: { name, key } });

interface Volume {
  name: string;
  [k: string]: unknown;
}
interface Mount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
  subPath?: string;
}

/** The runtime's env input and the volumes its file settings need (pure). */
export function workerRuntimeInput(
  pool: WorkerPool,
  cluster: MemoryCluster,
): { env: RuntimeEnvInput; volumes: Volume[]; mounts: Mount[] } {
  const ns = cluster.metadata.namespace ?? 'default';
  const name = cluster.metadata.name;
  const role = pool.spec.role;
  const needs = [...ROLE_SPECS[role].needs, ...(ROLE_SPECS[role].uses ?? [])];
  const volumes: Volume[] = [{ name: 'tmp', emptyDir: {} }];
  const mounts: Mount[] = [{ name: 'tmp', mountPath: MOUNTS.tmp }];
  const { kafka, neo4j, redis } = cluster.spec;

  const kafkaInput: RuntimeEnvInput['kafka'] = {
    brokers: kafka.external ? kafka.external.bootstrapServers : [managedKafkaBootstrap(cluster)],
  };
  const tls = kafka.external?.tls;
  if (tls) {
    const files: { caFile?: string; certFile?: string; keyFile?: string } = {};
    if (tls.caSecretRef) {
      volumes.push({
        name: 'kafka-ca',
        secret: { secretName: tls.caSecretRef.name, items: [{ key: tls.caSecretRef.key, path: 'ca.crt' }] },
      });
      mounts.push({ name: 'kafka-ca', mountPath: MOUNTS.kafkaCa, readOnly: true });
      files.caFile = `${MOUNTS.kafkaCa}/ca.crt`;
    }
    if (tls.clientCertSecretRef) {
      volumes.push({ name: 'kafka-client', secret: { secretName: tls.clientCertSecretRef.name } });
      mounts.push({ name: 'kafka-client', mountPath: MOUNTS.kafkaClientCert, readOnly: true });
      files.certFile = `${MOUNTS.kafkaClientCert}/tls.crt`;
      files.keyFile = `${MOUNTS.kafkaClientCert}/tls.key`;
    }
    kafkaInput.tls = Object.keys(files).length ? files : true;
  }
  const sasl = kafka.external?.sasl;
  if (sasl) {
    const ref = sasl.credentialsSecretRef;
    kafkaInput.sasl = {
      mechanism: sasl.mechanism.toLowerCase() as 'plain' | 'scram-sha-256' | 'scram-sha-512',
      username: secretRef(ref.name, ref.usernameKey ?? DEFAULT_CREDENTIAL_KEYS.username),
      password: secretRef(ref.name, ref.passwordKey ?? DEFAULT_CREDENTIAL_KEYS.password),
    };
  }

  const env: RuntimeEnvInput = {
    role,
    cluster: name,
    topicPrefix: effectiveTopicPrefix(cluster.spec, ns, name),
    kafka: kafkaInput,
    ...(cluster.spec.runtime?.logLevel ? { logLevel: cluster.spec.runtime.logLevel } : {}),
    metricsPort: DEFAULT_METRICS_PORT,
    worker: {
      ...(pool.spec.batchSize !== undefined ? { batchSize: pool.spec.batchSize } : {}),
      ...(pool.spec.concurrency !== undefined ? { concurrency: pool.spec.concurrency } : {}),
    },
  };
  if (needs.includes('neo4j')) {
    if (neo4j.external) {
      const ref = neo4j.external.credentialsSecretRef;
      env.neo4j = {
        uri: neo4j.external.uri,
        user: secretRef(ref.name, ref.usernameKey ?? DEFAULT_CREDENTIAL_KEYS.username),
        password: secretRef(ref.name, ref.passwordKey ?? DEFAULT_CREDENTIAL_KEYS.password),
        ...(neo4j.external.database ? { database: neo4j.external.database } : {}),
      };
    } else {
      const creds = managedCredentials(cluster, 'neo4j');
      env.neo4j = {
        uri: `bolt://${childName(cluster, 'neo4j')}.${ns}.svc:${NEO4J_BOLT_PORT}`,
        user: secretRef(creds.name, creds.usernameKey),
        password: secretRef(creds.name, creds.passwordKey),
      };
    }
  }
  if (needs.includes('redis')) {
    if (redis.external) {
      const ref = redis.external.credentialsSecretRef;
      env.redis = {
        url: redis.external.uri,
        // The username key is optional in the API: only an explicit usernameKey is read from the Secret.
        ...(ref?.usernameKey ? { username: secretRef(ref.name, ref.usernameKey) } : {}),
        ...(ref
          ? { password: secretRef(ref.name, ref.passwordKey ?? DEFAULT_CREDENTIAL_KEYS.password) }
          : {}),
      };
    } else {
      const creds = managedCredentials(cluster, 'redis');
      env.redis = {
        url: `redis://${childName(cluster, 'redis')}.${ns}.svc:${REDIS_PORT}`,
        password: secretRef(creds.name, creds.passwordKey),
      };
    }
  }
  if (needs.includes('model')) {
    const embedding = cluster.spec.embedding;
    env.model = {
      dir: MOUNTS.model,
      variant: embedding?.quantization ?? DEFAULT_EMBEDDING.quantization,
      threads: 'cpu-limit',
      executionProvider: pool.spec.gpu ? 'cuda' : 'cpu',
    };
    const volume = embedding?.modelVolume;
    if (volume) {
      volumes.push({ name: 'model', persistentVolumeClaim: { claimName: volume.claimName, readOnly: true } });
      mounts.push({
        name: 'model',
        mountPath: MOUNTS.model,
        readOnly: true,
        ...(volume.subPath ? { subPath: volume.subPath } : {}),
      });
    }
  }
  if (ROLE_SPECS[role].servesApi) {
    const raw = effectiveTopics(cluster.spec, ns, name).find((t) => t.key === 'ingest.raw');
    env.httpPort = DEFAULT_HTTP_PORT;
    // Agents ask in the request (POST /v1/tenants/{t}/query); the query pool serves the async route.
    env.query = { gatewaySync: true };
    env.gateway = {
      tenantKeysDir: MOUNTS.tenantKeys,
      tenantQuotasFile: `${MOUNTS.tenantQuotas}/${TENANT_QUOTAS_FILE_KEY}`,
      ...(raw?.config['max.message.bytes']
        ? { rawTopicMaxMessageBytes: Number(raw.config['max.message.bytes']) }
        : {}),
    };
    // Optional: a cluster without tenants yet still gets a running gateway (it refuses every key).
    volumes.push({
      name: 'tenant-keys',
      secret: { secretName: gatewayTenantsSecretName(name), optional: true },
    });
    mounts.push({ name: 'tenant-keys', mountPath: MOUNTS.tenantKeys, readOnly: true });
  } else if (role === 'evolve') {
    // evolve reads each tenant's retention (half-life, archive after) from the same quotas file.
    env.gateway = {
      tenantKeysDir: MOUNTS.tenantKeys,
      tenantQuotasFile: `${MOUNTS.tenantQuotas}/${TENANT_QUOTAS_FILE_KEY}`,
    };
  }
  if (env.gateway?.tenantQuotasFile) {
    // Per-tenant quotas and retention from the TenantMemories (written by the operator; absent until the first tenant).
    volumes.push({
      name: 'tenant-quotas',
      configMap: { name: gatewayTenantQuotasConfigMapName(name), optional: true },
    });
    mounts.push({ name: 'tenant-quotas', mountPath: MOUNTS.tenantQuotas, readOnly: true });
  }
  return { env, volumes, mounts };
}

export function buildWorkerDeployment({ pool, cluster, replicas }: DeploymentInput): KubeObject {
  const { env, volumes, mounts } = workerRuntimeInput(pool, cluster);
  const gpu = pool.spec.gpu;
  const resources = normalizeResources(pool.spec.resources ?? {});
  if (gpu) {
    // Extended resources: requests must equal limits.
    const count = String(gpu.count);
    resources.requests = { ...resources.requests, [gpu.resourceName]: count };
    resources.limits = { ...resources.limits, [gpu.resourceName]: count };
  }
  const servesApi = ROLE_SPECS[pool.spec.role].servesApi;
  const probe = (path: string, failureThreshold: number) => ({
    httpGet: { path, port: 'health' },
    periodSeconds: 10,
    timeoutSeconds: 3,
    failureThreshold,
  });
  const image = pool.spec.image ?? cluster.spec.runtime?.image ?? DEFAULT_RUNTIME_IMAGE;
  const pullPolicy = pool.spec.imagePullPolicy ?? cluster.spec.runtime?.imagePullPolicy;
  const pullSecrets = cluster.spec.runtime?.imagePullSecrets;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: poolChildMeta(pool),
    spec: {
      ...(replicas !== undefined ? { replicas } : {}),
      selector: { matchLabels: poolSelectorLabels(pool) },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels: poolLabels(pool) },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 30,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: RUNTIME_UID,
            runAsGroup: RUNTIME_UID,
            fsGroup: RUNTIME_UID,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          ...(pullSecrets?.length ? { imagePullSecrets: pullSecrets } : {}),
          ...(gpu?.nodeSelector ? { nodeSelector: gpu.nodeSelector } : {}),
          ...(gpu?.tolerations?.length ? { tolerations: gpu.tolerations } : {}),
          topologySpreadConstraints: [
            {
              maxSkew: 1,
              topologyKey: 'kubernetes.io/hostname',
              whenUnsatisfiable: 'ScheduleAnyway',
              labelSelector: { matchLabels: poolSelectorLabels(pool) },
            },
            {
              maxSkew: 1,
              topologyKey: 'topology.kubernetes.io/zone',
              whenUnsatisfiable: 'ScheduleAnyway',
              labelSelector: { matchLabels: poolSelectorLabels(pool) },
            },
          ],
          containers: [
            {
              name: WORKER_CONTAINER,
              image,
              ...(pullPolicy ? { imagePullPolicy: pullPolicy } : {}),
              args: [pool.spec.role],
              env: runtimeEnv(env),
              ports: [
                { name: 'health', containerPort: DEFAULT_METRICS_PORT, protocol: 'TCP' },
                ...(servesApi ? [{ name: 'http', containerPort: DEFAULT_HTTP_PORT, protocol: 'TCP' }] : []),
              ],
              // The model load can take a while: the startup probe gives it 5 minutes before liveness counts.
              startupProbe: probe(HEALTH_PATHS.liveness, 30),
              livenessProbe: probe(HEALTH_PATHS.liveness, 3),
              readinessProbe: probe(HEALTH_PATHS.readiness, 3),
              ...(Object.keys(resources).length ? { resources } : {}),
              securityContext: containerSecurityContext,
              volumeMounts: mounts,
            },
          ],
          volumes,
        },
      },
    },
  };
}
