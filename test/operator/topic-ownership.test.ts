// Topics are data: a MemoryCluster manages and deletes only the topics it created. Another
// cluster's topics (any namespace, same Kafka cluster), topics that merely exist, and topics it
// adopted on request are never deleted with it; configs others set survive its changes; values
// it defaulted are pinned for the topic's life.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import type { KubeObject } from '../../operator/kube/client.ts';
import { Types } from '../../operator/kube/resources.ts';
import { requireDevEnv } from '../support/devenv.ts';
import { conditionOf, createNamespace, deleteNamespace, installCrds, kubeClient } from '../support/kube.ts';
import { type OperatorProcess, startOperator } from '../support/operator.ts';
import { deleteTopicsWithPrefix, topicsWithPrefix } from '../support/topics.ts';
import { eventually, uniqueName } from '../support/wait.ts';

const env = requireDevEnv();
const st = (o: KubeObject) => (o.status ?? {}) as Record<string, unknown>;
const kafka = new Kafka({ brokers: env.KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING });

function cluster(
  ns: string,
  name: string,
  kafkaSpec: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): KubeObject {
  return {
    apiVersion: 'engram.dev/v1alpha1',
    kind: 'MemoryCluster',
    metadata: { name, namespace: ns },
    spec: {
      kafka: { external: { bootstrapServers: env.KAFKA_BROKERS.split(',') }, ...kafkaSpec },
      neo4j: { managed: {} },
      redis: { managed: {} },
      ...extra,
    },
  };
}

async function topicConfig(topic: string, keys: string[]): Promise<Record<string, string | undefined>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const r = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: 2, name: topic, configNames: keys }],
    });
    const out: Record<string, string | undefined> = {};
    for (const e of r.resources[0]?.configEntries ?? [])
      out[e.configName] = e.configSource === 1 ? e.configValue : undefined; // 1: set on the topic
    return out;
  } finally {
    await admin.disconnect();
  }
}

describe('topic ownership', () => {
  const client = kubeClient(env);
  const nsA = uniqueName('e2e-own-a');
  const nsB = uniqueName('e2e-own-b');
  const shared = `engram.${nsA}.shared`;
  const args = ['--namespaces', `${nsA},${nsB}`, '--no-leader-elect', '--poll-interval', '2s'];
  let op: OperatorProcess;

  before(async () => {
    await installCrds(env);
    await createNamespace(env, nsA);
    await createNamespace(env, nsB);
    op = await startOperator(env, args);
  });
  after(async () => {
    await op?.stop();
    await deleteTopicsWithPrefix(env, `engram.${nsA}`);
    await deleteNamespace(env, nsA);
    await deleteNamespace(env, nsB);
    client.close();
  });

  const get = (ns: string, name: string) => client.get(Types.MemoryCluster, ns, name);
  const waitTopics = (ns: string, name: string, status: string) =>
    eventually(`${ns}/${name} TopicsReady=${status}`, async () => {
      const c = conditionOf(await get(ns, name), 'TopicsReady');
      return c?.status === status ? c : undefined;
    });

  it('a second cluster with the same prefix, in another namespace, is refused and deletes nothing', async () => {
    await client.apply(
      Types.MemoryCluster,
      cluster(nsA, 'first', { topicPrefix: shared, replicationFactor: 1 }),
    );
    await waitTopics(nsA, 'first', 'True');
    await client.apply(
      Types.MemoryCluster,
      cluster(
        nsB,
        'second',
        { topicPrefix: shared, replicationFactor: 1 },
        { topicDeletionPolicy: 'Delete' },
      ),
    );
    const c = await waitTopics(nsB, 'second', 'False');
    assert.equal(c.reason, 'TopicPrefixConflict');
    assert.match(c.message, new RegExp(`belongs to MemoryCluster ${nsA}/first`));
    assert.match(c.message, /set spec\.kafka\.topicPrefix to a prefix of its own/);
    assert.deepEqual(st(await get(nsB, 'second'))['topics'] ?? [], [], 'the newer cluster claims nothing');

    // Ownership lives in status, not in the operator's memory: a restarted operator agrees.
    await op.stop();
    op = await startOperator(env, args);
    await client.mergePatch(Types.MemoryCluster, nsB, 'second', { metadata: { annotations: { poke: '1' } } });
    assert.equal((await waitTopics(nsB, 'second', 'False')).reason, 'TopicPrefixConflict');

    await client.delete(Types.MemoryCluster, nsB, 'second');
    await eventually(
      'second gone',
      async () => !(await client.getOrUndefined(Types.MemoryCluster, nsB, 'second')),
    );
    assert.equal((await topicsWithPrefix(env, shared)).size, 7, "the first cluster's topics survive");
    assert.equal(conditionOf(await get(nsA, 'first'), 'TopicsReady')?.status, 'True');
  });

  it('a topic that merely exists is reported, never adopted, and never deleted', async () => {
    const prefix = `engram.${nsA}.preexisting`;
    const admin = kafka.admin();
    await admin.connect();
    // Same shape as the cluster would make: the old operator adopted such a topic silently.
    await admin.createTopics({
      topics: [
        {
          topic: `${prefix}.dlq`,
          numPartitions: 4,
          replicationFactor: 1,
          configEntries: [{ name: 'retention.ms', value: String(720 * 3600_000) }],
        },
      ],
    });
    await admin.disconnect();
    await client.apply(
      Types.MemoryCluster,
      cluster(nsA, 'pre', { topicPrefix: prefix, replicationFactor: 1 }, { topicDeletionPolicy: 'Delete' }),
    );
    const c = await waitTopics(nsA, 'pre', 'False');
    assert.equal(c.reason, 'TopicConflict');
    assert.match(
      c.message,
      new RegExp(
        `topic ${prefix.replaceAll('.', '\\.')}\\.dlq already exists on the broker and was not created by this MemoryCluster`,
      ),
    );
    const claimed = (
      (st(await get(nsA, 'pre'))['topics'] ?? []) as Array<{ name: string; ownership: string }>
    ).map((t) => t.name);
    assert.ok(!claimed.includes(`${prefix}.dlq`), 'the foreign topic is not claimed');
    await client.delete(Types.MemoryCluster, nsA, 'pre');
    await eventually('pre gone', async () => !(await client.getOrUndefined(Types.MemoryCluster, nsA, 'pre')));
    const left = await topicsWithPrefix(env, prefix);
    assert.deepEqual([...left.keys()], [`${prefix}.dlq`], 'only the topics it created were deleted');
  });

  it('adopts existing topics only when asked, and keeps adopted topics on deletion', async () => {
    const prefix = `engram.${nsA}.preexisting`; // its dlq is still there from the test above
    const mc = cluster(
      nsA,
      'adopter',
      { topicPrefix: prefix, replicationFactor: 1 },
      { topicDeletionPolicy: 'Delete' },
    );
    mc.metadata.annotations = { 'engram.dev/adopt-topics': 'true' };
    await client.apply(Types.MemoryCluster, mc);
    await waitTopics(nsA, 'adopter', 'True');
    const topics = st(await get(nsA, 'adopter'))['topics'] as Array<{
      name: string;
      ownership: string;
    }>;
    assert.equal(topics.find((t) => t.name === `${prefix}.dlq`)?.ownership, 'Adopted');
    assert.equal(topics.find((t) => t.name === `${prefix}.ingest.raw`)?.ownership, 'Created');
    await client.delete(Types.MemoryCluster, nsA, 'adopter');
    await eventually(
      'adopter gone',
      async () => !(await client.getOrUndefined(Types.MemoryCluster, nsA, 'adopter')),
    );
    assert.deepEqual(
      [...(await topicsWithPrefix(env, prefix)).keys()],
      [`${prefix}.dlq`],
      'adopted topics are kept',
    );
  });

  it('changes only the config keys it owns; a key removed from the spec reverts to the broker default', async () => {
    const prefix = `engram.${nsA}.cfg`;
    const topic = `${prefix}.ingest.raw`;
    await client.apply(
      Types.MemoryCluster,
      cluster(nsA, 'cfg', {
        topicPrefix: prefix,
        replicationFactor: 1,
        topics: {
          'ingest.raw': { retention: '1h', config: { 'cleanup.policy': 'delete', 'segment.ms': '600000' } },
        },
      }),
    );
    await waitTopics(nsA, 'cfg', 'True');
    // Someone else (a platform team) sets a key Engram does not manage.
    const admin = kafka.admin();
    await admin.connect();
    await admin.alterConfigs({
      validateOnly: false,
      resources: [
        {
          type: 2,
          name: topic,
          configEntries: [
            { name: 'retention.ms', value: '3600000' },
            { name: 'cleanup.policy', value: 'delete' },
            { name: 'segment.ms', value: '600000' },
            { name: 'max.message.bytes', value: '10485760' },
            { name: 'min.insync.replicas', value: '1' },
            { name: 'message.timestamp.type', value: 'LogAppendTime' },
          ],
        },
      ],
    });
    await admin.disconnect();
    await client.mergePatch(Types.MemoryCluster, nsA, 'cfg', {
      spec: {
        // A merge patch: null removes the key from the spec.
        kafka: { topics: { 'ingest.raw': { retention: '2h', config: { 'segment.ms': null } } } },
      },
    });
    await eventually(
      'retention changed',
      async () => (await topicConfig(topic, ['retention.ms']))['retention.ms'] === '7200000',
    );
    await eventually('segment.ms reverted', async () => {
      const c = await topicConfig(topic, ['segment.ms']);
      return c['segment.ms'] === undefined;
    });
    const after = await topicConfig(topic, [
      'min.insync.replicas',
      'message.timestamp.type',
      'cleanup.policy',
    ]);
    assert.equal(after['min.insync.replicas'], '1', 'a key someone else set is left alone');
    assert.equal(after['message.timestamp.type'], 'LogAppendTime');
    assert.equal(after['cleanup.policy'], 'delete');
  });

  it('pins the replication factor it defaulted: more brokers later never stall the cluster', async () => {
    const prefix = `engram.${nsA}.rf`;
    // Managed Kafka with one broker: the default replication factor is 1 (min(3, brokers)).
    {
      const mc: KubeObject = {
        apiVersion: 'engram.dev/v1alpha1',
        kind: 'MemoryCluster',
        metadata: { name: 'grow', namespace: nsB },
        spec: { kafka: { topicPrefix: prefix, managed: {} }, neo4j: { managed: {} }, redis: { managed: {} } },
      };
      await client.apply(Types.MemoryCluster, mc);
      await waitTopics(nsB, 'grow', 'True');
      const before = st(await get(nsB, 'grow'))['topics'] as Array<{
        replicationFactor: number;
        defaults?: { replicationFactor?: number };
      }>;
      assert.ok(before.every((t) => t.replicationFactor === 1 && t.defaults?.replicationFactor === 1));
      await client.mergePatch(Types.MemoryCluster, nsB, 'grow', {
        spec: { kafka: { managed: { replicas: 3 } } },
      });
      // One read for both: the brokers' StatefulSet can still be rolling right after a first Ready.
      await eventually(
        'Ready with three brokers, topics ready',
        async () => {
          const m = await get(nsB, 'grow');
          const ready = conditionOf(m, 'Ready');
          return (
            ready?.status === 'True' &&
            ready.observedGeneration === m.metadata.generation &&
            conditionOf(m, 'TopicsReady')?.reason === 'TopicsReady'
          );
        },
        { timeoutMs: 90_000 },
      );
    }
  });
});
