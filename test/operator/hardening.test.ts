// Defects found by the first independent review, each as the user meets it: a cluster that looks
// Degraded while it starts, pause that still deletes topics or re-stamps old conditions, Warning
// events for nothing, drift checks that write at rest or never remove a field, volumes that never
// grow, managed stores called healthy with credentials they refuse, Secret edits noticed late,
// and an operator that stops working when it watches many namespaces.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KubeObject } from '../../operator/kube/client.ts';
import { Types } from '../../operator/kube/resources.ts';
import { requireDevEnv } from '../support/devenv.ts';
import {
  conditionOf,
  createNamespace,
  deleteNamespace,
  installCrds,
  kubeClient,
  kubectl,
} from '../support/kube.ts';
import { type OperatorProcess, startOperator } from '../support/operator.ts';
import { deleteTopicsWithPrefix, topicsWithPrefix } from '../support/topics.ts';
import { eventually, uniqueName } from '../support/wait.ts';

const env = requireDevEnv();
const st = (o: KubeObject) => (o.status ?? {}) as Record<string, unknown>;
const neo4jAddress = env.NEO4J_URI.replace(/^bolt:\/\//, '');

function mc(
  ns: string,
  name: string,
  spec: Record<string, unknown>,
  annotations?: Record<string, string>,
): KubeObject {
  return {
    apiVersion: 'engram.dev/v1alpha1',
    kind: 'MemoryCluster',
    metadata: { name, namespace: ns, ...(annotations ? { annotations } : {}) },
    // Managed Neo4j is checked against the local server (--managed-neo4j-address): its password.
    spec: {
      neo4j: { managed: { credentialsSecretRef: { name: 'neo4j-local' } } },
      redis: { managed: {} },
      ...spec,
    },
  };
}
const localKafka = (prefix: string, extra: Record<string, unknown> = {}) => ({
  topicPrefix: prefix,
  replicationFactor: 1,
  external: { bootstrapServers: env.KAFKA_BROKERS.split(',') },
  ...extra,
});

describe('hardening: MemoryCluster behaviour', () => {
  const client = kubeClient(env);
  const ns = uniqueName('e2e-hard');
  const prefix = `engram.${ns}`;
  let op: OperatorProcess;
  const get = (name: string) => client.get(Types.MemoryCluster, ns, name);
  const condition = (
    name: string,
    type: string,
    test: (c: NonNullable<ReturnType<typeof conditionOf>>) => boolean,
    timeoutMs = 60_000,
  ) =>
    eventually(
      `${name} ${type}`,
      async () => {
        const c = conditionOf(await get(name), type);
        return c && test(c) ? c : undefined;
      },
      { timeoutMs },
    );
  const warnings = async (name: string) =>
    (await client.list(Types.Event, ns)).items.filter(
      (e) => e.type === 'Warning' && (e.regarding as { name?: string } | undefined)?.name === name,
    );

  before(async () => {
    await installCrds(env);
    await createNamespace(env, ns);
    await client.create(Types.Secret, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'neo4j-local', namespace: ns },
      stringData: { username: env.NEO4J_USER, password: env.NEO4J_PASSWORD },
    });
    op = await startOperator(env, [
      '--namespaces',
      ns,
      '--no-leader-elect',
      '--resync-period',
      '2s',
      '--managed-neo4j-address',
      neo4jAddress,
    ]);
  });
  after(async () => {
    await op?.stop();
    await deleteTopicsWithPrefix(env, prefix);
    await deleteNamespace(env, ns);
    client.close();
  });

  it('reports the queue depth from the start and the LAG column at 0 without pools', async () => {
    assert.ok((await op.metrics()).has('engram_operator_workqueue_depth{controller="memorycluster"}'));
    await client.apply(Types.MemoryCluster, mc(ns, 'lag', { kafka: localKafka(`${prefix}.lag`) }));
    await condition('lag', 'Ready', (c) => c.status === 'True');
    assert.equal(st(await get('lag'))['totalLag'], 0);
    const row = await kubectl(env, 'get', 'mc', '-n', ns, 'lag', '--no-headers');
    assert.match(row, /lag\s+True\s+\S+\s+0\s+\S+\s+0\s+/);
  });

  it('makes no Warning event for a healthy create, a pause and an unpause', async () => {
    await client.apply(Types.MemoryCluster, mc(ns, 'quiet', { kafka: localKafka(`${prefix}.quiet`) }));
    await condition('quiet', 'Ready', (c) => c.status === 'True');
    await client.mergePatch(Types.MemoryCluster, ns, 'quiet', { spec: { paused: true } });
    await condition('quiet', 'Paused', (c) => c.status === 'True');
    await client.mergePatch(Types.MemoryCluster, ns, 'quiet', { spec: { paused: false } });
    await condition('quiet', 'Paused', (c) => c.status === 'False');
    await new Promise((r) => setTimeout(r, 1_000));
    const w = await warnings('quiet');
    assert.deepEqual(
      w.map((e) => `${e.reason}: ${e.note}`),
      [],
      'Warnings are for real problems only',
    );
    const reasons = (await client.list(Types.Event, ns)).items
      .filter((e) => (e.regarding as { name?: string }).name === 'quiet')
      .map((e) => e.reason);
    assert.ok(reasons.includes('Paused') && reasons.includes('Resumed'), `${reasons}`);
  });

  it('pause: keeps old conditions at their generation, and deleting a paused cluster keeps its topics', async () => {
    const p = `${prefix}.paused`;
    await client.apply(
      Types.MemoryCluster,
      mc(ns, 'pz', { topicDeletionPolicy: 'Delete', kafka: localKafka(p) }),
    );
    await condition('pz', 'Ready', (c) => c.status === 'True');
    const reconciled = (await get('pz')).metadata.generation!;
    await client.mergePatch(Types.MemoryCluster, ns, 'pz', {
      metadata: { annotations: { 'engram.dev/paused': 'true' } },
      spec: { redis: { managed: { maxMemory: '100Mi' } } },
    });
    await condition('pz', 'Paused', (c) => c.status === 'True');
    const paused = await get('pz');
    assert.equal(paused.metadata.generation, reconciled + 1);
    assert.equal(conditionOf(paused, 'Ready')?.observedGeneration, reconciled + 1);
    for (const type of ['TopicsReady', 'GraphStoreReady', 'CacheReady'])
      assert.equal(
        conditionOf(paused, type)?.observedGeneration,
        reconciled,
        `${type} was not checked for the paused generation`,
      );
    await client.delete(Types.MemoryCluster, ns, 'pz');
    await eventually('pz gone', async () => !(await client.getOrUndefined(Types.MemoryCluster, ns, 'pz')));
    assert.equal((await topicsWithPrefix(env, p)).size, 7, 'a paused cluster changes nothing on the broker');
  });

  it('compares quantities exactly (zero writes at rest for cpu 0.7) and removes a field dropped from the spec', async () => {
    await client.apply(
      Types.MemoryCluster,
      mc(ns, 'drift', {
        kafka: localKafka(`${prefix}.drift`),
        redis: {
          managed: {
            resources: { requests: { cpu: '0.7', memory: '256Mi' }, limits: { cpu: '1', memory: '256Mi' } },
          },
        },
      }),
    );
    await condition('drift', 'Ready', (c) => c.status === 'True');
    await new Promise((r) => setTimeout(r, 3_000));
    const writes = () =>
      op.counter('engram_operator_kube_api_calls_total', {
        verb: /^(apply|create|patch|update|update-status|delete)$/,
        resource: /^(?!events$).*/,
      });
    const before = await writes();
    await new Promise((r) => setTimeout(r, 8_000)); // four resyncs
    assert.equal((await writes()) - before, 0, 'no write at rest: 0.7 and the stored 700m are one value');

    await client.mergePatch(Types.MemoryCluster, ns, 'drift', {
      spec: { redis: { managed: { resources: { limits: { cpu: null } } } } },
    });
    await eventually('limits.cpu removed from the StatefulSet', async () => {
      const sts = await client.get(Types.StatefulSet, ns, 'drift-redis');
      const c = (
        sts.spec as {
          template: { spec: { containers: Array<{ resources: { limits: Record<string, string> } }> } };
        }
      ).template.spec.containers[0]!;
      return c.resources.limits.cpu === undefined && c.resources.limits.memory === '256Mi';
    });
  });

  it('grows volumes when the StorageClass allows it, reports progress, and refuses it when it does not', async () => {
    await client.apply(
      Types.MemoryCluster,
      mc(ns, 'grow', {
        kafka: localKafka(`${prefix}.grow`),
        neo4j: { managed: { credentialsSecretRef: { name: 'neo4j-local' }, storage: { size: '1Gi' } } },
      }),
    );
    await condition('grow', 'Ready', (c) => c.status === 'True');
    const pvcName = 'data-grow-neo4j-0';
    await eventually(
      'volume bound',
      async () =>
        (
          (await client.get(Types.PersistentVolumeClaim, ns, pvcName)).status as
            | { phase?: string }
            | undefined
        )?.phase === 'Bound',
    );
    const oldUid = (await client.get(Types.StatefulSet, ns, 'grow-neo4j')).metadata.uid;
    await client.mergePatch(Types.MemoryCluster, ns, 'grow', {
      spec: { neo4j: { managed: { storage: { size: '2Gi' } } } },
    });
    const resizing = await condition('grow', 'GraphStoreReady', (c) => c.reason === 'VolumesResizing');
    assert.equal(resizing.status, 'Unknown', 'growing is progress, not failure');
    await eventually('claim patched', async () => {
      const pvc = await client.get(Types.PersistentVolumeClaim, ns, pvcName);
      return (
        (pvc.spec as { resources: { requests: { storage: string } } }).resources.requests.storage === '2Gi'
      );
    });
    await eventually('StatefulSet re-created with the new template', async () => {
      const sts = await client.getOrUndefined(Types.StatefulSet, ns, 'grow-neo4j');
      const size = (
        sts?.spec as
          | { volumeClaimTemplates: Array<{ spec: { resources: { requests: { storage: string } } } }> }
          | undefined
      )?.volumeClaimTemplates[0]?.spec.resources.requests.storage;
      return sts && sts.metadata.uid !== oldUid && size === '2Gi';
    });
    // The storage driver finishes the resize (kwok has none: the test plays it).
    await client.mergePatch(
      Types.PersistentVolumeClaim,
      ns,
      pvcName,
      { status: { capacity: { storage: '2Gi' } } },
      'status',
    );
    await condition('grow', 'GraphStoreReady', (c) => c.status === 'True');

    // A class that cannot expand: refused in status, nothing patched.
    const fixed = `engram-fixed-${ns}`.slice(0, 63);
    await client.create(Types.StorageClass, {
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: { name: fixed },
      provisioner: 'kwok.x-k8s.io/volume',
      allowVolumeExpansion: false,
    } as KubeObject);
    try {
      await client.apply(
        Types.MemoryCluster,
        mc(ns, 'fixed', {
          kafka: localKafka(`${prefix}.fixed`),
          redis: { managed: { storage: { size: '1Gi', storageClassName: fixed } } },
        }),
      );
      await eventually('StatefulSet made', () => client.getOrUndefined(Types.StatefulSet, ns, 'fixed-redis'));
      await client.mergePatch(Types.MemoryCluster, ns, 'fixed', {
        spec: { redis: { managed: { storage: { size: '5Gi' } } } },
      });
      const c = await condition('fixed', 'CacheReady', (x) => x.status === 'False');
      assert.equal(c.reason, 'VolumeExpansionNotSupported');
      assert.match(c.message, /does not allow volume expansion/);
      assert.equal(conditionOf(await get('fixed'), 'Stalled')?.status, 'True');
    } finally {
      await client.delete(Types.StorageClass, undefined, fixed);
    }
  });

  it('checks managed stores with a real authenticated call, and a Secret edit is noticed at once', async () => {
    await client.create(Types.Secret, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'neo4j-wrong', namespace: ns },
      stringData: { username: env.NEO4J_USER, password: 'not-the-password' },
    });
    await client.apply(
      Types.MemoryCluster,
      mc(ns, 'auth', {
        kafka: localKafka(`${prefix}.auth`),
        neo4j: { managed: { credentialsSecretRef: { name: 'neo4j-wrong' } } },
      }),
    );
    // The pods are Ready; the server still refuses the password: the store is not ready.
    const refused = await condition('auth', 'GraphStoreReady', (c) => c.status === 'False');
    assert.equal(refused.reason, 'AuthenticationFailed');
    assert.ok(!refused.message.includes('not-the-password'));
    // The operator polls every 30 s; the Secret's own event makes it look again at once.
    const fixedAt = Date.now();
    await client.mergePatch(Types.Secret, ns, 'neo4j-wrong', {
      stringData: { password: env.NEO4J_PASSWORD },
    });
    await condition('auth', 'GraphStoreReady', (c) => c.status === 'True', 20_000);
    assert.ok(
      Date.now() - fixedAt < 10_000,
      `noticed after ${Date.now() - fixedAt} ms, not at the next poll`,
    );
  });

  it('reports the real error for an external Redis on a closed port', async () => {
    await client.apply(
      Types.MemoryCluster,
      mc(ns, 'noredis', {
        kafka: localKafka(`${prefix}.nr`),
        redis: { external: { uri: 'redis://127.0.0.1:1' } },
      }),
    );
    const c = await condition('noredis', 'CacheReady', (x) => x.status === 'False');
    assert.match(c.message, /ECONNREFUSED/);
    assert.doesNotMatch(c.message, /Connection is closed/);
  });

  it('deletes the volumes with the cluster, as it does the generated password', async () => {
    await client.apply(
      Types.MemoryCluster,
      mc(ns, 'vol', { kafka: localKafka(`${prefix}.vol`), neo4j: { managed: {} } }),
    );
    await condition('vol', 'TopicsReady', (c) => c.status === 'True');
    await eventually('volume made', () =>
      client.getOrUndefined(Types.PersistentVolumeClaim, ns, 'data-vol-neo4j-0'),
    );
    await client.delete(Types.MemoryCluster, ns, 'vol');
    await eventually(
      'volumes and credentials gone',
      async () =>
        !(await client.getOrUndefined(Types.PersistentVolumeClaim, ns, 'data-vol-neo4j-0')) &&
        !(await client.getOrUndefined(Types.Secret, ns, 'vol-neo4j-credentials')),
      { timeoutMs: 60_000 },
    );
  });
});

describe('hardening: a new managed-Kafka cluster is progressing, not Degraded, while Redpanda starts', () => {
  const client = kubeClient(env);
  const ns = uniqueName('e2e-start');
  const pending = `engram-pending-${ns}`.slice(0, 63);
  let op: OperatorProcess;

  before(async () => {
    await installCrds(env);
    await createNamespace(env, ns);
    // A class nothing provisions: the broker's volume stays Pending, so Redpanda never starts.
    await client.create(Types.StorageClass, {
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: { name: pending },
      provisioner: 'example.com/nothing',
      volumeBindingMode: 'WaitForFirstConsumer',
    } as KubeObject);
    // As in a real cluster: managed Kafka is reached through its Service, no local shortcut.
    op = await startOperator(env, ['--namespaces', ns, '--no-leader-elect'], { managedKafkaAddress: false });
  });
  after(async () => {
    await op?.stop();
    await client.delete(Types.StorageClass, undefined, pending);
    await deleteNamespace(env, ns);
    client.close();
  });

  it('TopicsReady and Ready are Unknown with the broker rollout in KafkaReady, and nothing warns', async () => {
    await client.apply(
      Types.MemoryCluster,
      mc(ns, 'starting', { kafka: { managed: { storage: { storageClassName: pending } } } }),
    );
    await eventually('status', async () =>
      conditionOf(await client.get(Types.MemoryCluster, ns, 'starting'), 'KafkaReady'),
    );
    await new Promise((r) => setTimeout(r, 6_000));
    const m = await client.get(Types.MemoryCluster, ns, 'starting');
    assert.equal(conditionOf(m, 'TopicsReady')?.status, 'Unknown');
    assert.equal(conditionOf(m, 'TopicsReady')?.reason, 'WaitingForKafka');
    assert.equal(conditionOf(m, 'Ready')?.status, 'Unknown');
    assert.equal(conditionOf(m, 'KafkaReady')?.status, 'Unknown');
    assert.match(conditionOf(m, 'KafkaReady')!.message, /managed Redpanda: 0\/1 pods ready|Redpanda/);
    const w = (await client.list(Types.Event, ns)).items.filter(
      (e) => e.type === 'Warning' && (e.regarding as { kind?: string }).kind === 'MemoryCluster',
    );
    assert.deepEqual(
      w.map((e) => e.reason),
      [],
      'starting up is not a problem',
    );
  });
});

describe('hardening: an operator watching 20 namespaces', () => {
  const client = kubeClient(env);
  const base = uniqueName('e2e-many');
  const namespaces = Array.from({ length: 20 }, (_, i) => `${base}-${i}`);
  const prefix = `engram.${base}`;

  before(async () => {
    await installCrds(env);
    for (const n of namespaces) await createNamespace(env, n);
  });
  after(async () => {
    await deleteTopicsWithPrefix(env, prefix);
    for (const n of namespaces) await deleteNamespace(env, n);
    client.close();
  });

  it('keeps reconciling (watches never starve requests) and stops at once on SIGTERM', async () => {
    const op = await startOperator(env, ['--namespaces', namespaces.join(','), '--no-leader-elect']);
    try {
      const last = namespaces.at(-1)!;
      await client.apply(Types.MemoryCluster, mc(last, 'far', { kafka: localKafka(prefix) }));
      await eventually(
        'Ready in the 20th namespace',
        async () =>
          conditionOf(await client.get(Types.MemoryCluster, last, 'far'), 'Ready')?.status === 'True',
        { timeoutMs: 60_000 },
      );
    } finally {
      const started = Date.now();
      const code = await op.stop('SIGTERM');
      assert.equal(code, 0);
      assert.ok(Date.now() - started < 10_000, `stopped in ${Date.now() - started} ms`);
    }
  });
});

describe('hardening: namespace deletion cannot remove Kafka credentials before the topics go', () => {
  const client = kubeClient(env);
  const ns = uniqueName('e2e-nsdel');
  let op: OperatorProcess;

  before(async () => {
    await installCrds(env);
    await createNamespace(env, ns);
    op = await startOperator(env, ['--namespaces', ns, '--no-leader-elect']);
  });
  after(async () => {
    await op?.stop();
    await deleteNamespace(env, ns);
    client.close();
  });

  it('keeps the SASL Secret of a Delete-policy cluster until its finalizer ran, then lets it go', async () => {
    await client.create(Types.Secret, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'kafka-sasl', namespace: ns },
      stringData: { username: 'u', password: 'p' },
    });
    const sasl = { mechanism: 'SCRAM-SHA-512', credentialsSecretRef: { name: 'kafka-sasl' } };
    await client.apply(
      Types.MemoryCluster,
      mc(ns, 'sasl', {
        topicDeletionPolicy: 'Delete',
        kafka: { topicPrefix: `engram.${ns}`, external: { bootstrapServers: ['127.0.0.1:1'], sasl } },
        neo4j: { managed: {} },
      }),
    );
    await eventually('the Secret is kept for the cluster', async () =>
      (await client.get(Types.Secret, ns, 'kafka-sasl')).metadata.finalizers?.includes(
        'engram.dev/kafka-credentials',
      ),
    );
    // Retain: nothing to delete later, so nothing to keep.
    await client.mergePatch(Types.MemoryCluster, ns, 'sasl', { spec: { topicDeletionPolicy: 'Retain' } });
    await eventually(
      'released under Retain',
      async () =>
        !(await client.get(Types.Secret, ns, 'kafka-sasl')).metadata.finalizers?.includes(
          'engram.dev/kafka-credentials',
        ),
    );
    await client.mergePatch(Types.MemoryCluster, ns, 'sasl', { spec: { topicDeletionPolicy: 'Delete' } });
    await eventually('kept again', async () =>
      (await client.get(Types.Secret, ns, 'kafka-sasl')).metadata.finalizers?.includes(
        'engram.dev/kafka-credentials',
      ),
    );
    // The whole namespace goes: the cluster's finalizer runs first, then the Secret is released.
    await client.delete(Types.Namespace, undefined, ns);
    await eventually(
      'namespace gone',
      async () => !(await client.getOrUndefined(Types.Namespace, undefined, ns)),
      {
        timeoutMs: 60_000,
      },
    );
  });
});
