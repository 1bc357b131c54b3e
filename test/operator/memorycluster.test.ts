// End to end: the operator runs as a real process against the local environment's API server
// (kwok nodes), Kafka broker and stores. Each test names the behaviour it checks.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import type { KubeObject } from '../../operator/kube/client.ts';
import { Types } from '../../operator/kube/resources.ts';
import { argoHealth } from '../support/argocd.ts';
import { requireDevEnv } from '../support/devenv.ts';
import { restartStopped, stopComponent } from '../support/faults.ts';
import {
  conditionOf,
  createNamespace,
  deleteNamespace,
  installCrds,
  kubeClient,
  kubectl,
  readSample,
} from '../support/kube.ts';
import { type OperatorProcess, startOperator } from '../support/operator.ts';
import { topicsWithPrefix } from '../support/topics.ts';
import { eventually, uniqueName } from '../support/wait.ts';

/** Write calls the operator made (everything but reads, watches, its Lease and Events). */
async function writeCalls(op: OperatorProcess): Promise<number> {
  return op.counter('engram_operator_kube_api_calls_total', {
    verb: /^(apply|apply-status|create|patch|patch-status|update|delete)$/,
    resource: /^(?!leases$|events$).*/,
  });
}
const kafkaWrites = (op: OperatorProcess) =>
  op.counter('engram_operator_kafka_admin_calls_total', {
    verb: /^(createTopics|createPartitions|alterConfigs|deleteTopics)$/,
  });

describe('MemoryCluster reconciliation (production-like sample)', () => {
  const env = requireDevEnv();
  const client = kubeClient(env);
  const ns = uniqueName('e2e-mc');
  const prefix = `engram.${ns}`;
  const kafka = new Kafka({
    clientId: 'engram-e2e',
    brokers: env.KAFKA_BROKERS.split(','),
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  let op: OperatorProcess;

  const get = () => client.get(Types.MemoryCluster, ns, 'prod');
  const readyFor = async (generation?: number) =>
    eventually(
      `MemoryCluster Ready${generation ? ` for generation ${generation}` : ''}`,
      async () => {
        const mc = await get();
        const ready = conditionOf(mc, 'Ready');
        const gen = mc.metadata.generation!;
        const observed = (mc.status as { observedGeneration?: number }).observedGeneration;
        return ready?.status === 'True' &&
          ready.observedGeneration === gen &&
          observed === gen &&
          (!generation || gen >= generation)
          ? mc
          : undefined;
      },
      { timeoutMs: 60_000 },
    );
  const brokerTopics = () => topicsWithPrefix(env, prefix);

  before(async () => {
    await installCrds(env);
    await createNamespace(env, ns);
    await admin.connect();
    op = await startOperator(env, [
      '--namespaces',
      ns,
      '--leader-election-namespace',
      ns,
      '--resync-period',
      '3s',
      '--poll-interval',
      '3s',
    ]);
    const docs = readSample('memorycluster-production.yaml').map((d) => {
      if (d.kind !== 'MemoryCluster') return d;
      const spec = structuredClone(d.spec) as { kafka: { topicPrefix: string; replicationFactor: number } };
      // The local environment has one broker: same sample, replication factor 1, a unique prefix.
      spec.kafka.topicPrefix = prefix;
      spec.kafka.replicationFactor = 1;
      return { ...d, spec };
    });
    for (const d of docs) {
      d.metadata.namespace = ns;
      await client.apply(d.kind === 'Secret' ? Types.Secret : Types.MemoryCluster, d);
    }
  });

  after(async () => {
    await op?.stop();
    const names = (await admin.listTopics()).filter((t) => t.startsWith(`${prefix}.`));
    if (names.length) await admin.deleteTopics({ topics: names }).catch(() => undefined);
    await admin.disconnect();
    await deleteNamespace(env, ns);
    client.close();
  });

  it('creates every child, the topics on the real broker, and becomes Ready (kubectl wait returns)', async () => {
    await kubectl(env, 'wait', '-n', ns, '--for=condition=Ready', '--timeout=60s', 'mc/prod');
    const mc = await readyFor();
    for (const [type, names] of [
      [Types.StatefulSet, ['prod-neo4j', 'prod-redis', 'prod-kafka']],
      [
        Types.Service,
        ['prod-neo4j', 'prod-neo4j-headless', 'prod-redis', 'prod-redis-headless', 'prod-kafka'],
      ],
      [Types.ConfigMap, ['prod-neo4j-config', 'prod-redis-config']],
      [Types.Secret, ['prod-neo4j-credentials', 'prod-redis-credentials']],
      [Types.PodDisruptionBudget, ['prod-neo4j', 'prod-redis', 'prod-kafka']],
      [Types.NetworkPolicy, ['prod-neo4j', 'prod-redis', 'prod-kafka']],
    ] as const) {
      for (const name of names) {
        const child = await client.get(type, ns, name);
        assert.equal(
          child.metadata.ownerReferences?.[0]?.uid,
          mc.metadata.uid,
          `${type.kind} ${name} is owned by the cluster`,
        );
      }
    }
    const topics = await brokerTopics();
    assert.equal(topics.get(`${prefix}.ingest.raw`), 32);
    assert.equal(topics.get(`${prefix}.graph.evolve`), 4);
    assert.equal(topics.size, 7);
    const configs = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [
        { type: 2, name: `${prefix}.ingest.raw`, configNames: ['retention.ms', 'max.message.bytes'] },
      ],
    });
    const entries = Object.fromEntries(
      configs.resources[0]!.configEntries.map((e) => [e.configName, e.configValue]),
    );
    assert.equal(entries['retention.ms'], String(168 * 3600 * 1000));
    assert.equal(entries['max.message.bytes'], '10485760');

    assert.equal(argoHealth(mc).status, 'Healthy', 'Argo CD sees the live object as Healthy');
    const table = await kubectl(env, 'get', 'mc', '-n', ns);
    assert.match(table, /READY\s+REASON\s+TENANTS\s+WORKERS\s+LAG\s+AGE/);
    assert.match(table, /prod\s+True\s+Reconciled/);
    const pods = JSON.parse(await kubectl(env, 'get', 'pods', '-n', ns, '-o', 'json')) as {
      items: KubeObject[];
    };
    assert.equal(pods.items.length, 5, 'neo4j 1 + redis 1 + kafka 3 pods');
    for (const p of pods.items) {
      const spec = p.spec as {
        securityContext: { runAsNonRoot: boolean };
        containers: Array<{ securityContext: Record<string, unknown> }>;
      };
      assert.equal(spec.securityContext.runAsNonRoot, true);
      assert.equal(spec.containers[0]!.securityContext.readOnlyRootFilesystem, true);
      assert.equal(spec.containers[0]!.securityContext.allowPrivilegeEscalation, false);
    }
  });

  it('makes zero API writes and zero Kafka writes on resyncs of an unchanged cluster', async () => {
    await readyFor();
    await new Promise((r) => setTimeout(r, 2_000));
    const writesBefore = await writeCalls(op);
    const kafkaBefore = await kafkaWrites(op);
    const reconcilesBefore = await op.counter('engram_operator_reconciles_total');
    await new Promise((r) => setTimeout(r, 10_000));
    const reconciles = (await op.counter('engram_operator_reconciles_total')) - reconcilesBefore;
    assert.ok(reconciles >= 3, `resyncs happened (${reconciles} reconciles in 10 s)`);
    assert.equal((await writeCalls(op)) - writesBefore, 0, 'no API server writes');
    assert.equal((await kafkaWrites(op)) - kafkaBefore, 0, 'no Kafka create/alter calls');
  });

  it('grows partitions on the broker and refuses a decrease at admission', async () => {
    await client.mergePatch(Types.MemoryCluster, ns, 'prod', {
      spec: { kafka: { topics: { 'ingest.raw': { partitions: 40 } } } },
    });
    const mc = await readyFor();
    assert.equal((await brokerTopics()).get(`${prefix}.ingest.raw`), 40);
    const listed = (mc.status as { topics: Array<{ name: string; partitions: number }> }).topics;
    assert.equal(listed.find((t) => t.name === `${prefix}.ingest.raw`)?.partitions, 40);

    await assert.rejects(
      client.mergePatch(Types.MemoryCluster, ns, 'prod', {
        spec: { kafka: { topics: { 'ingest.raw': { partitions: 8 } } } },
      }),
      /cannot decrease \(was 40, now 8\)/,
    );
  });

  it('reports NotSupported, naming the topic, when the broker has more partitions than the spec', async () => {
    await admin.createPartitions({ topicPartitions: [{ topic: `${prefix}.dlq`, count: 6 }] });
    const mc = await eventually('TopicsReady False', async () => {
      const m = await get();
      return conditionOf(m, 'TopicsReady')?.status === 'False' ? m : undefined;
    });
    const topicsReady = conditionOf(mc, 'TopicsReady')!;
    assert.equal(topicsReady.reason, 'NotSupported');
    assert.match(
      topicsReady.message,
      new RegExp(`${prefix}\\.dlq: partitions cannot decrease \\(is 6, spec asks 4\\)`),
    );
    assert.equal(conditionOf(mc, 'Ready')?.status, 'False');
    assert.equal(conditionOf(mc, 'Stalled')?.status, 'True');
    assert.equal(argoHealth(mc).status, 'Degraded');
    await client.mergePatch(Types.MemoryCluster, ns, 'prod', {
      spec: { kafka: { topics: { dlq: { partitions: 6 } } } },
    });
    await readyFor();
  });

  it('rolls the Neo4j StatefulSet when its memory settings change, reported for the new generation', async () => {
    const before = await client.get(Types.StatefulSet, ns, 'prod-neo4j');
    const hashOf = (s: KubeObject) =>
      (s.spec as { template: { metadata: { annotations: Record<string, string> } } }).template.metadata
        .annotations['engram.dev/config-hash'];
    const updated = await client.mergePatch(Types.MemoryCluster, ns, 'prod', {
      spec: { neo4j: { managed: { memory: { heap: '6Gi' } } } },
    });
    const mc = await readyFor(updated.metadata.generation);
    assert.equal(
      (mc.status as { observedGeneration: number }).observedGeneration,
      updated.metadata.generation,
    );
    const afterSts = await client.get(Types.StatefulSet, ns, 'prod-neo4j');
    assert.notEqual(hashOf(afterSts), hashOf(before), 'pod template changed, so the pods roll');
    assert.ok(afterSts.metadata.generation! > before.metadata.generation!);
    const cm = await client.get(Types.ConfigMap, ns, 'prod-neo4j-config');
    assert.match((cm.data as Record<string, string>)['neo4j.conf']!, /server\.memory\.heap\.max_size=6144m/);
  });

  it('restores a deleted child and a hand-edited owned field, and keeps labels others add', async () => {
    const svc = await client.get(Types.Service, ns, 'prod-neo4j');
    await client.delete(Types.Service, ns, 'prod-neo4j');
    await eventually('service restored', async () => {
      const s = await client.getOrUndefined(Types.Service, ns, 'prod-neo4j');
      return s && s.metadata.uid !== svc.metadata.uid;
    });
    await kubectl(env, 'label', '-n', ns, 'statefulset/prod-redis', 'team=platform');
    await kubectl(
      env,
      'patch',
      '-n',
      ns,
      'statefulset/prod-redis',
      '--type=merge',
      '-p',
      '{"spec":{"replicas":4}}',
    );
    const sts = await eventually('replicas reverted', async () => {
      const s = await client.get(Types.StatefulSet, ns, 'prod-redis');
      return (s.spec as { replicas: number }).replicas === 1 ? s : undefined;
    });
    assert.equal(sts.metadata.labels?.team, 'platform', 'a label added by someone else survives');
  });

  it('pauses: no writes while paused, says so in status, resumes after', async () => {
    await kubectl(env, 'annotate', '-n', ns, 'mc/prod', 'engram.dev/paused=true');
    await eventually('Paused condition', async () => conditionOf(await get(), 'Paused')?.status === 'True');
    await client.delete(Types.ConfigMap, ns, 'prod-redis-config');
    await new Promise((r) => setTimeout(r, 5_000));
    assert.equal(
      await client.getOrUndefined(Types.ConfigMap, ns, 'prod-redis-config'),
      undefined,
      'not restored while paused',
    );
    assert.equal(conditionOf(await get(), 'Ready')?.reason, 'Paused');
    assert.equal(argoHealth(await get()).status, 'Suspended');
    await kubectl(env, 'annotate', '-n', ns, 'mc/prod', 'engram.dev/paused-');
    await eventually('config map restored', async () =>
      Boolean(await client.getOrUndefined(Types.ConfigMap, ns, 'prod-redis-config')),
    );
    await readyFor();
  });

  it('turns TopicsReady False with a clear message when the broker stops, and recovers when it returns', async () => {
    await stopComponent(env, 'kafka', 'SIGTERM');
    try {
      const mc = await eventually(
        'TopicsReady False',
        async () => {
          const m = await get();
          return conditionOf(m, 'TopicsReady')?.status === 'False' ? m : undefined;
        },
        { timeoutMs: 60_000 },
      );
      const c = conditionOf(mc, 'TopicsReady')!;
      assert.equal(c.reason, 'KafkaUnavailable');
      assert.match(
        c.message,
        new RegExp(`cannot reach Kafka at ${env.KAFKA_BROKERS.replaceAll('.', '\\.')}`),
      );
    } finally {
      await restartStopped();
    }
    await readyFor();
    assert.equal(op.proc.exitCode, null, 'the same operator process recovered');
  });

  it('deletes the topics (policy Delete) and every child when the cluster is deleted', async () => {
    await client.mergePatch(Types.MemoryCluster, ns, 'prod', { spec: { topicDeletionPolicy: 'Delete' } });
    await eventually('finalizer added', async () =>
      (await get()).metadata.finalizers?.includes('engram.dev/topics'),
    );
    await client.delete(Types.MemoryCluster, ns, 'prod');
    await eventually(
      'cluster gone',
      async () => !(await client.getOrUndefined(Types.MemoryCluster, ns, 'prod')),
    );
    let left = new Map<string, number>();
    await eventually(
      'topics deleted',
      async () => {
        left = await brokerTopics();
        return left.size === 0;
      },
      { timeoutMs: 30_000 },
    ).catch((err) => {
      throw new Error(
        `${(err as Error).message}; left: ${[...left.keys()].join(', ')}\n${op.logs.slice(-15).join('\n')}`,
      );
    });
    await eventually(
      'children garbage-collected',
      async () => {
        const left = await Promise.all(
          [
            Types.StatefulSet,
            Types.Service,
            Types.ConfigMap,
            Types.PodDisruptionBudget,
            Types.NetworkPolicy,
          ].map(
            async (t) =>
              (await client.list(t, ns, { labelSelector: 'engram.dev/cluster=prod' })).items.length,
          ),
        );
        return left.every((n) => n === 0);
      },
      { timeoutMs: 60_000 },
    );
  });
});
