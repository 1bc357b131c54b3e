// Fault injection against the operator as a real process: SIGKILL mid-reconcile, leader loss,
// and user mistakes (unreachable Kafka, wrong credentials, missing StorageClass) that must end
// as condition messages saying what to do.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KubeObject } from '../../operator/kube/client.ts';
import { Types } from '../../operator/kube/resources.ts';
import { requireDevEnv } from '../support/devenv.ts';
import { restartStopped, stopComponent } from '../support/faults.ts';
import { conditionOf, createNamespace, deleteNamespace, installCrds, kubeClient } from '../support/kube.ts';
import { type OperatorProcess, startOperator } from '../support/operator.ts';
import { deleteTopicsWithPrefix, topicsWithPrefix } from '../support/topics.ts';
import { eventually, uniqueName } from '../support/wait.ts';

const env = requireDevEnv();

function cluster(ns: string, name: string, spec: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'engram.dev/v1alpha1',
    kind: 'MemoryCluster',
    metadata: { name, namespace: ns },
    spec,
  };
}

const localKafka = (prefix: string, extra: Record<string, unknown> = {}) => ({
  topicPrefix: prefix,
  replicationFactor: 1,
  external: { bootstrapServers: env.KAFKA_BROKERS.split(',') },
  ...extra,
});

describe('operator killed with SIGKILL at random points, 20 times', () => {
  const client = kubeClient(env);
  const ns = uniqueName('e2e-kill');
  const prefix = `engram.${ns}`;
  const names = ['k0', 'k1', 'k2'];

  before(async () => {
    await installCrds(env);
    await createNamespace(env, ns);
  });
  after(async () => {
    await deleteTopicsWithPrefix(env, prefix);
    await deleteNamespace(env, ns);
    client.close();
  });

  it('always converges to the same objects: no duplicates, no orphans, credentials never regenerated', async () => {
    const firstSecret = new Map<string, string>();
    for (let i = 0; i < 20; i++) {
      const op = await startOperator(env, ['--namespaces', ns, '--no-leader-elect'], { waitReady: false });
      const name = names[i % names.length]!;
      // Each round applies a change (a new cluster, more partitions, another maxMemory) and kills mid-flight.
      await client.apply(
        Types.MemoryCluster,
        cluster(ns, name, {
          kafka: localKafka(`${prefix}.${name}`, {
            topics: { 'ingest.raw': { partitions: 2 + Math.floor(i / 3) } },
          }),
          neo4j: { managed: { storage: { size: '1Gi' } } },
          redis: { managed: { maxMemory: `${100 + i}Mi`, resources: { limits: { memory: '512Mi' } } } },
        }),
      );
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 1500)));
      await op.stop('SIGKILL');
      for (const n of names) {
        const s = await client.getOrUndefined(Types.Secret, ns, `${n}-neo4j-credentials`);
        if (s && !firstSecret.has(n)) firstSecret.set(n, JSON.stringify(s.data));
      }
    }
    const op = await startOperator(env, ['--namespaces', ns, '--no-leader-elect']);
    try {
      for (const name of names) {
        await eventually(
          `${name} Ready for its latest generation`,
          async () => {
            const mc = await client.get(Types.MemoryCluster, ns, name);
            const ready = conditionOf(mc, 'Ready');
            return ready?.status === 'True' && ready.observedGeneration === mc.metadata.generation;
          },
          { timeoutMs: 90_000 },
        ).catch(async (err) => {
          const mc = await client.get(Types.MemoryCluster, ns, name);
          throw new Error(
            `${(err as Error).message}: ${JSON.stringify(mc.status)}\n${op.logs.slice(-10).join('\n')}`,
          );
        });
      }
      const expected: Array<[typeof Types.StatefulSet, number]> = [
        [Types.StatefulSet, 2],
        [Types.Service, 4],
        [Types.ConfigMap, 2],
        [Types.Secret, 2],
        [Types.PodDisruptionBudget, 2],
        [Types.NetworkPolicy, 2],
      ];
      for (const name of names) {
        const mc = await client.get(Types.MemoryCluster, ns, name);
        for (const [type, count] of expected) {
          const items = (await client.list(type, ns, { labelSelector: `engram.dev/cluster=${name}` })).items;
          assert.equal(
            items.length,
            count,
            `${name}: ${count} ${type.plural}, got ${items.map((i) => i.metadata.name)}`,
          );
          for (const item of items) {
            assert.deepEqual(
              item.metadata.ownerReferences?.map((r) => r.uid),
              [mc.metadata.uid],
              `${type.kind} ${item.metadata.name} has exactly one owner: the live cluster`,
            );
          }
        }
        const secret = await client.get(Types.Secret, ns, `${name}-neo4j-credentials`);
        if (firstSecret.has(name))
          assert.equal(JSON.stringify(secret.data), firstSecret.get(name), 'password never regenerated');
        const topics = await topicsWithPrefix(env, `${prefix}.${name}`);
        assert.equal(topics.size, 7, `${name}: seven topics`);
        const spec = mc.spec as { kafka: { topics: { 'ingest.raw': { partitions: number } } } };
        assert.equal(topics.get(`${prefix}.${name}.ingest.raw`), spec.kafka.topics['ingest.raw'].partitions);
      }
      // No orphan: every object the operator manages in the namespace belongs to a live cluster.
      const live = new Set((await client.list(Types.MemoryCluster, ns)).items.map((m) => m.metadata.uid));
      for (const type of [Types.StatefulSet, Types.Service, Types.ConfigMap, Types.Secret]) {
        for (const item of (
          await client.list(type, ns, { labelSelector: 'app.kubernetes.io/managed-by=engram-operator' })
        ).items) {
          assert.ok(
            live.has(item.metadata.ownerReferences?.[0]?.uid),
            `${type.kind} ${item.metadata.name} is not an orphan`,
          );
        }
      }
    } finally {
      await op.stop();
    }
  });
});

describe('two operator replicas with leader election', () => {
  const client = kubeClient(env);
  const ns = uniqueName('e2e-leader');
  const prefix = `engram.${ns}`;
  const args = ['--namespaces', ns, '--leader-election-namespace', ns, '--lease-duration', '4s'];
  let a: OperatorProcess;
  let b: OperatorProcess;

  before(async () => {
    await installCrds(env);
    await createNamespace(env, ns);
  });
  after(async () => {
    await a?.stop('SIGKILL');
    await b?.stop('SIGKILL');
    await deleteTopicsWithPrefix(env, prefix);
    await deleteNamespace(env, ns);
    client.close();
  });

  const isLeader = async (op: OperatorProcess) => (await op.counter('engram_operator_leader')) === 1;
  const writes = (op: OperatorProcess) =>
    op.counter('engram_operator_kube_api_calls_total', {
      verb: /^(apply|apply-status|create|patch|update|delete)$/,
      resource: /^(?!leases$).*/,
    });

  it('only the leader writes; a killed leader is replaced within the lease duration', async () => {
    a = await startOperator(env, args);
    await eventually('a leads', () => isLeader(a));
    b = await startOperator(env, args);
    await client.apply(
      Types.MemoryCluster,
      cluster(ns, 'le', { kafka: localKafka(prefix), neo4j: { managed: {} }, redis: { managed: {} } }),
    );
    await eventually(
      'cluster Ready',
      async () => conditionOf(await client.get(Types.MemoryCluster, ns, 'le'), 'Ready')?.status === 'True',
    );
    assert.equal(await isLeader(b), false);
    assert.ok((await writes(a)) > 0, 'the leader wrote');
    assert.equal(await writes(b), 0, 'the standby wrote nothing');

    await a.stop('SIGKILL');
    const killedAt = Date.now();
    await eventually('b leads', () => isLeader(b), { timeoutMs: 20_000, intervalMs: 100 });
    const handover = Date.now() - killedAt;
    assert.ok(handover < 4_000 + 2_000 + 1_500, `handover took ${handover} ms (lease 4 s + retry 2 s)`);

    await client.mergePatch(Types.MemoryCluster, ns, 'le', {
      spec: { redis: { managed: { maxMemory: '64Mi' } } },
    });
    await eventually('new leader reconciles', async () => {
      const cm = await client.get(Types.ConfigMap, ns, 'le-redis-config');
      return (cm.data as Record<string, string>)['redis.conf']!.includes('maxmemory 64mb');
    });
  });

  it('a leader stopped with SIGTERM releases the lease: the standby takes over at once', async () => {
    a = await startOperator(env, args);
    const code = await b.stop('SIGTERM');
    assert.equal(code, 0, 'graceful exit');
    const stoppedAt = Date.now();
    await eventually('a leads again', () => isLeader(a), { timeoutMs: 10_000, intervalMs: 100 });
    assert.ok(Date.now() - stoppedAt < 3_500, 'no wait for the lease to expire');
  });
});

describe('the control plane crashes and restarts under a running operator', () => {
  const client = kubeClient(env);
  const ns = uniqueName('e2e-apiserver');
  const prefix = `engram.${ns}`;
  let op: OperatorProcess;

  before(async () => {
    await installCrds(env);
    await createNamespace(env, ns);
    op = await startOperator(env, ['--namespaces', ns, '--no-leader-elect']);
  });
  after(async () => {
    await op?.stop();
    await deleteTopicsWithPrefix(env, prefix);
    await deleteNamespace(env, ns);
    client.close();
  });

  it('its watches reconnect and it keeps reconciling, without a restart', async () => {
    const mc = cluster(ns, 'api', {
      kafka: localKafka(prefix),
      neo4j: { managed: {} },
      redis: { managed: {} },
    });
    await client.apply(Types.MemoryCluster, mc);
    await eventually(
      'Ready',
      async () => conditionOf(await client.get(Types.MemoryCluster, ns, 'api'), 'Ready')?.status === 'True',
    );

    // The whole control plane crashes (SIGKILL, not a drain): the API server, and with it the
    // controller-manager, scheduler and kwok, whose watches do not all survive an API server crash.
    for (const component of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok']) {
      await stopComponent(env, component, 'SIGKILL');
    }
    await new Promise((r) => setTimeout(r, 2_000));
    await restartStopped();

    await eventually(
      'change reconciled after the restart',
      async () => {
        await client.mergePatch(Types.MemoryCluster, ns, 'api', {
          spec: { redis: { managed: { maxMemory: '77Mi' } } },
        });
        const cm = await client.get(Types.ConfigMap, ns, 'api-redis-config');
        return (cm.data as Record<string, string>)['redis.conf']!.includes('maxmemory 77mb');
      },
      { timeoutMs: 60_000, intervalMs: 1_000 },
    ).catch((err) => {
      throw new Error(`${(err as Error).message}\n${op.logs.slice(-25).join('\n')}`);
    });
    assert.equal(op.proc.exitCode, null, 'the same operator process');
  });
});

describe('user mistakes end as conditions that say what to do', () => {
  const client = kubeClient(env);
  const ns = uniqueName('e2e-errors');
  const prefix = `engram.${ns}`;
  const wrongPassword = `wrong-${Math.random().toString(36).slice(2)}-password`;
  let op: OperatorProcess;

  before(async () => {
    await installCrds(env);
    await createNamespace(env, ns);
    const secret = (name: string, data: Record<string, string>): KubeObject => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace: ns },
      stringData: data,
    });
    await client.create(
      Types.Secret,
      secret('neo4j-wrong', { username: env.NEO4J_USER, password: wrongPassword }),
    );
    await client.create(
      Types.Secret,
      secret('neo4j-right', { username: env.NEO4J_USER, password: env.NEO4J_PASSWORD }),
    );
    op = await startOperator(env, ['--namespaces', ns, '--no-leader-elect', '--poll-interval', '3s']);
  });
  after(async () => {
    await op?.stop();
    await deleteTopicsWithPrefix(env, prefix);
    await deleteNamespace(env, ns);
    client.close();
  });

  const waitCondition = (name: string, type: string, status: string) =>
    eventually(`${name} ${type}=${status}`, async () => {
      const mc = await client.get(Types.MemoryCluster, ns, name);
      const c = conditionOf(mc, type);
      return c?.status === status ? c : undefined;
    });

  it('an unreachable Kafka address', async () => {
    await client.apply(
      Types.MemoryCluster,
      cluster(ns, 'nokafka', {
        kafka: { topicPrefix: `${prefix}.nk`, external: { bootstrapServers: ['127.0.0.1:1'] } },
        neo4j: { managed: {} },
        redis: { managed: {} },
      }),
    );
    const c = await waitCondition('nokafka', 'TopicsReady', 'False');
    assert.equal(c.reason, 'KafkaUnavailable');
    assert.match(c.message, /cannot reach Kafka at 127\.0\.0\.1:1: .*check the bootstrap servers/);
    assert.equal((await waitCondition('nokafka', 'Ready', 'False')).reason, 'KafkaUnavailable');
  });

  it('wrong Neo4j credentials (and the password never appears in status or events)', async () => {
    await client.apply(
      Types.MemoryCluster,
      cluster(ns, 'badauth', {
        kafka: localKafka(`${prefix}.ba`),
        neo4j: { external: { uri: env.NEO4J_URI, credentialsSecretRef: { name: 'neo4j-wrong' } } },
        redis: { external: { uri: env.REDIS_URL } },
      }),
    );
    const c = await waitCondition('badauth', 'GraphStoreReady', 'False');
    assert.equal(c.reason, 'AuthenticationFailed');
    assert.match(c.message, /rejected the credentials from Secret neo4j-wrong/);
    assert.equal((await waitCondition('badauth', 'CacheReady', 'True')).reason, 'Connected');
    const mc = await client.get(Types.MemoryCluster, ns, 'badauth');
    const events = await client.list(Types.Event, ns);
    assert.ok(!JSON.stringify(mc).includes(wrongPassword) && !JSON.stringify(events).includes(wrongPassword));

    await client.mergePatch(Types.MemoryCluster, ns, 'badauth', {
      spec: { neo4j: { external: { credentialsSecretRef: { name: 'neo4j-right' } } } },
    });
    assert.equal((await waitCondition('badauth', 'GraphStoreReady', 'True')).reason, 'Connected');
  });

  it('a credentials Secret that does not exist', async () => {
    await client.apply(
      Types.MemoryCluster,
      cluster(ns, 'nosecret', {
        kafka: localKafka(`${prefix}.ns`),
        neo4j: { external: { uri: env.NEO4J_URI, credentialsSecretRef: { name: 'missing' } } },
        redis: { managed: {} },
      }),
    );
    const c = await waitCondition('nosecret', 'GraphStoreReady', 'False');
    assert.equal(c.reason, 'SecretNotFound');
    assert.match(c.message, /Secret missing not found in namespace/);
  });

  it('a replication factor larger than the brokers', async () => {
    await client.apply(
      Types.MemoryCluster,
      cluster(ns, 'bigrf', {
        kafka: localKafka(`${prefix}.rf`, { replicationFactor: 3 }),
        neo4j: { managed: {} },
        redis: { managed: {} },
      }),
    );
    const c = await waitCondition('bigrf', 'TopicsReady', 'False');
    assert.match(c.message, /replicationFactor|replication factor/i);
    assert.match(c.message, /lower the topics' replicationFactor/);
  });

  it('a StorageClass that does not exist', async () => {
    await client.apply(
      Types.MemoryCluster,
      cluster(ns, 'nosc', {
        kafka: localKafka(`${prefix}.sc`),
        neo4j: { managed: { storage: { storageClassName: 'fast-ssd' } } },
        redis: { managed: {} },
      }),
    );
    const c = await waitCondition('nosc', 'GraphStoreReady', 'False');
    assert.equal(c.reason, 'StorageClassNotFound');
    assert.match(c.message, /StorageClass fast-ssd does not exist/);
  });

  it('the skip annotation lets a cluster go at once and keeps its topics', async () => {
    const mc = cluster(ns, 'keep', {
      topicDeletionPolicy: 'Delete',
      kafka: localKafka(`${prefix}.keep`),
      neo4j: { managed: {} },
      redis: { managed: {} },
    });
    await client.apply(Types.MemoryCluster, mc);
    await waitCondition('keep', 'TopicsReady', 'True');
    await client.mergePatch(Types.MemoryCluster, ns, 'keep', {
      metadata: { annotations: { 'engram.dev/skip-topic-deletion': 'true' } },
    });
    await client.delete(Types.MemoryCluster, ns, 'keep');
    await eventually(
      'cluster gone',
      async () => !(await client.getOrUndefined(Types.MemoryCluster, ns, 'keep')),
    );
    assert.equal((await topicsWithPrefix(env, `${prefix}.keep`)).size, 7, 'topics kept');
  });

  it('deletion never blocks on an unreachable broker past the finalizer timeout', async () => {
    // The cluster created its topics; then its broker becomes unreachable (a wrong address here).
    const mc = cluster(ns, 'gone', {
      topicDeletionPolicy: 'Delete',
      kafka: localKafka(`${prefix}.g`),
      neo4j: { managed: {} },
      redis: { managed: {} },
    });
    mc.metadata.annotations = { 'engram.dev/finalizer-timeout': '3s' };
    await client.apply(Types.MemoryCluster, mc);
    await waitCondition('gone', 'TopicsReady', 'True');
    await client.mergePatch(Types.MemoryCluster, ns, 'gone', {
      spec: { kafka: { external: { bootstrapServers: ['127.0.0.1:1'] } } },
    });
    await waitCondition('gone', 'TopicsReady', 'False');
    assert.ok(
      (await client.get(Types.MemoryCluster, ns, 'gone')).metadata.finalizers?.includes('engram.dev/topics'),
    );
    const started = Date.now();
    await client.delete(Types.MemoryCluster, ns, 'gone');
    await eventually(
      'cluster gone',
      async () => !(await client.getOrUndefined(Types.MemoryCluster, ns, 'gone')),
      {
        timeoutMs: 30_000,
      },
    );
    assert.ok(Date.now() - started < 20_000, 'gave up after the timeout instead of hanging');
    const events = (await client.list(Types.Event, ns)).items.map((e) => e.reason as string);
    assert.ok(
      events.includes('TopicDeletionAbandoned'),
      `a Warning event says topics may remain (${events})`,
    );
    assert.equal(
      (await topicsWithPrefix(env, `${prefix}.g`)).size,
      7,
      'the unreachable cluster deleted nothing',
    );
  });

  it('a cluster that never reached its broker created nothing, so its deletion waits for nothing', async () => {
    const mc = cluster(ns, 'never', {
      topicDeletionPolicy: 'Delete',
      kafka: { topicPrefix: `${prefix}.nv`, external: { bootstrapServers: ['127.0.0.1:1'] } },
      neo4j: { managed: {} },
      redis: { managed: {} },
    });
    await client.apply(Types.MemoryCluster, mc);
    await eventually('finalizer added', async () =>
      (await client.get(Types.MemoryCluster, ns, 'never')).metadata.finalizers?.includes('engram.dev/topics'),
    );
    const started = Date.now();
    await client.delete(Types.MemoryCluster, ns, 'never');
    await eventually(
      'cluster gone',
      async () => !(await client.getOrUndefined(Types.MemoryCluster, ns, 'never')),
      {
        timeoutMs: 15_000,
      },
    );
    assert.ok(Date.now() - started < 10_000, 'no finalizer timeout to wait out: nothing was claimed');
  });
});
