/**
 * The operator as a process serving the External Metrics API (--external-metrics-bind-address on
 * this environment's non-loopback address), with the shipped RBAC (config/rbac, run as its
 * ServiceAccount), the shipped APIService routed to it, and an external-mode MemoryCluster on the
 * local servers whose WorkerPools the real HPA controller scales. Shared by the autoscaling test
 * and `bench/lag-scale-up.ts --workerpool`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import type { KubeClient } from '../../operator/kube/client.ts';
import { Types } from '../../operator/kube/resources.ts';
import { consumerGroupName, ROLE_SPECS, type Role } from '../../runtime/contract/roles.ts';
import { topicName } from '../../runtime/contract/topics.ts';
import { applyLocalCluster } from '../operator/workerpool-fixtures.ts';
import { type DevEnv, repoRoot } from './devenv.ts';
import {
  addLocalAddress,
  apiServiceAvailable,
  applyShippedApiService,
  ensureMetricsNamespace,
  KafkaGroupLag,
  metricsAddress,
  removeLocalAddress,
  removeRoute,
  routeServiceTo,
} from './external-metrics.ts';
import {
  conditionOf,
  createNamespace,
  deleteNamespace,
  installCrds,
  kubectl,
  serviceAccountKubeconfig,
} from './kube.ts';
import { freePort, type OperatorProcess, startOperator } from './operator.ts';
import { deleteTopicsWithPrefix } from './topics.ts';
import { eventually, uniqueName } from './wait.ts';

const METRICS_RBAC = join(repoRoot, 'config/rbac/external-metrics.yaml');

export interface AutoscalingWorld {
  namespace: string;
  /** The MemoryCluster `demo`'s topic prefix. */
  prefix: string;
  op: OperatorProcess;
  /** The topic a role's pool consumes and its consumer group (lag read from the broker). */
  groupLag(role: Role): KafkaGroupLag;
  produce(role: Role, count: number): Promise<void>;
  /** spec.replicas of a pool's Deployment (-1 before it exists). */
  replicas(pool: string): Promise<number>;
  close(): Promise<void>;
}

export async function startAutoscalingWorld(
  env: DevEnv,
  client: KubeClient,
  opts: { prefix: string; lagPollInterval: string },
): Promise<AutoscalingWorld> {
  const namespace = uniqueName(opts.prefix);
  const prefix = `engram.${namespace}`;
  const address = metricsAddress(env);
  const dir = mkdtempSync(join(tmpdir(), 'engram-hpa-'));
  const kafka = new Kafka({ brokers: env.KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  const lags = new Map<Role, KafkaGroupLag>();
  let op: OperatorProcess | undefined;
  const close = async () => {
    await op?.stop();
    await Promise.all([...lags.values()].map((l) => l.stop().catch(() => undefined)));
    await producer.disconnect().catch(() => undefined);
    await removeRoute(client);
    await removeLocalAddress(address);
    await deleteTopicsWithPrefix(env, prefix);
    await deleteNamespace(env, namespace);
    await kubectl(env, 'delete', '--ignore-not-found', '-f', METRICS_RBAC);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await installCrds(env);
    await createNamespace(env, namespace);
    // The operator's ServiceAccount lives there (a fresh environment has no engram-system yet).
    await ensureMetricsNamespace(client);
    await kubectl(env, 'apply', '--server-side', '-f', join(repoRoot, 'config/rbac'));
    const kubeconfig = await serviceAccountKubeconfig(env, 'engram-system', 'engram-operator', dir);
    await addLocalAddress(address);
    await applyShippedApiService(env);
    await producer.connect();
    const port = await freePort();
    op = await startOperator({ ...env, KUBECONFIG: kubeconfig }, [
      '--no-leader-elect',
      '--namespaces',
      namespace,
      '--resync-period',
      '3s',
      '--lag-poll-interval',
      opts.lagPollInterval,
      `--external-metrics-bind-address=${address}:${port}`,
    ]);
    await routeServiceTo(client, address, port);
    await apiServiceAvailable(client);
    await applyLocalCluster(client, env, namespace, 'demo', prefix);
    await eventually(
      'the cluster topics on the broker',
      async () =>
        conditionOf(await client.get(Types.MemoryCluster, namespace, 'demo'), 'TopicsReady')?.status ===
        'True',
      { timeoutMs: 45_000 },
    );
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
  const topicOf = (role: Role) => topicName(prefix, ROLE_SPECS[role].consumes!);
  return {
    namespace,
    prefix,
    op: op!,
    groupLag(role) {
      let lag = lags.get(role);
      if (!lag) {
        lag = new KafkaGroupLag(env, topicOf(role), consumerGroupName(prefix, role));
        lags.set(role, lag);
      }
      return lag;
    },
    async produce(role, count) {
      await producer.send({
        topic: topicOf(role),
        messages: Array.from({ length: count }, (_, i) => ({ key: `k${i}`, value: '{}' })),
      });
    },
    async replicas(pool) {
      const d = await client.getOrUndefined(Types.Deployment, namespace, pool);
      return d ? ((d.spec as { replicas?: number }).replicas ?? 1) : -1;
    },
    close,
  };
}
