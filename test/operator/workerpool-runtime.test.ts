// End to end: the Deployment the operator writes is runnable, not only parseable. A pool's
// rendered pod (the image's entrypoint `node runtime/main.ts` with the container's args, its env
// with Secrets resolved, its mounts as local directories) runs as a local process; the cluster's
// in-cluster service addresses are mapped to the local servers, as the pod's DNS would map them.
// It really consumes its topic: chunks appear downstream and the pool's lag drops to 0.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { localPod, workerContainer } from '../../hack/pod-process.ts';
import type { KubeObject } from '../../operator/kube/client.ts';
import { Types } from '../../operator/kube/resources.ts';
import { chunkMessageSchema, type RawDocument, sha256 } from '../../runtime/pipeline/messages.ts';
import { readTopic } from '../runtime/kafka-fixtures.ts';
import { type RuntimeProcess, spawnRuntime } from '../runtime/runtime-process.ts';
import { requireDevEnv } from '../support/devenv.ts';
import { conditionOf, createNamespace, deleteNamespace, installCrds, kubeClient } from '../support/kube.ts';
import { freePort, type OperatorProcess, startOperator } from '../support/operator.ts';
import { deleteTopicsWithPrefix } from '../support/topics.ts';
import { eventually, uniqueName } from '../support/wait.ts';
import { SMALL_TOPICS, workerPool } from './workerpool-fixtures.ts';

describe("a WorkerPool's rendered pod, run as a local process", () => {
  const env = requireDevEnv();
  const client = kubeClient(env);
  const ns = uniqueName('e2e-wpr');
  const prefix = `engram.${ns}`;
  const kafka = new Kafka({
    clientId: 'engram-e2e-wpr',
    brokers: env.KAFKA_BROKERS.split(','),
    logLevel: logLevel.NOTHING,
  });
  const producer = kafka.producer();
  const mounts = mkdtempSync(join(tmpdir(), 'engram-wpr-'));
  let op: OperatorProcess;
  let worker: RuntimeProcess | undefined;

  before(async () => {
    await installCrds(env);
    await createNamespace(env, ns);
    await producer.connect();
    // Managed Kafka: the pod's env names the in-cluster Service, which only this mapping reaches.
    op = await startOperator(env, [
      '--namespaces',
      ns,
      '--leader-election-namespace',
      ns,
      '--lag-poll-interval',
      '1s',
    ]);
    await client.apply(Types.MemoryCluster, {
      apiVersion: 'engram.dev/v1alpha1',
      kind: 'MemoryCluster',
      metadata: { name: 'demo', namespace: ns },
      spec: {
        kafka: { topicPrefix: prefix, managed: {}, topics: SMALL_TOPICS },
        neo4j: { managed: {} },
        redis: { managed: {} },
      },
    });
    await eventually(
      'the cluster topics on the broker',
      async () =>
        conditionOf(await client.get(Types.MemoryCluster, ns, 'demo'), 'TopicsReady')?.status === 'True',
      { timeoutMs: 60_000 },
    );
    await client.apply(
      Types.WorkerPool,
      workerPool(ns, 'ingest', { role: 'ingest', replicas: 1, batchSize: 4 }),
    );
  });

  after(async () => {
    await worker?.stop();
    await op?.stop();
    await producer.disconnect();
    await deleteTopicsWithPrefix(env, prefix);
    await deleteNamespace(env, ns);
    rmSync(mounts, { recursive: true, force: true });
    client.close();
  });

  it('consumes its topic: chunks downstream, committed offsets, the pool lag back to 0', async () => {
    const d: KubeObject = await eventually('Deployment ingest', () =>
      client.getOrUndefined(Types.Deployment, ns, 'ingest'),
    );
    const c = workerContainer(d);
    // Service hosts -> the local servers; the pod's health port and mounts -> free local ones.
    const serviceKafka = `demo-kafka.${ns}.svc:9092`;
    assert.equal(c.env.find((e) => e.name === 'ENGRAM_KAFKA_BROKERS')?.value, serviceKafka);
    const healthPort = await freePort();
    const pod = await localPod(client, ns, d, {
      dir: mounts,
      hosts: { [serviceKafka]: env.KAFKA_BROKERS },
      override: { ENGRAM_METRICS_PORT: String(healthPort) },
    });
    assert.equal(pod.env['ENGRAM_KAFKA_BROKERS'], env.KAFKA_BROKERS);
    assert.deepEqual(c.args, ['ingest'], 'the entrypoint gets the role as its only argument');

    const doc: RawDocument = {
      v: 1,
      kind: 'document',
      tenantId: 'acme',
      documentId: 'doc-1',
      contentHash: sha256('Pods run what the operator renders. They consume their topic.'),
      content: 'Pods run what the operator renders. They consume their topic.',
      acceptedAt: Date.now(),
    };
    await producer.send({
      topic: `${prefix}.ingest.raw`,
      messages: [{ key: 'acme/doc-1', value: JSON.stringify(doc) }],
    });
    await eventually('pool lag 1 before any worker runs', async () => {
      const p = await client.get(Types.WorkerPool, ns, 'ingest');
      return (p.status as { lag?: number }).lag === 1;
    });

    worker = spawnRuntime(c.args[0]!, pod.env);
    // The pod's own readiness probe path, on the pod's (mapped) health port.
    await eventually(
      `worker ready (stderr: ${worker.stderr.join('').slice(-300)})`,
      async () => (await fetch(`http://127.0.0.1:${healthPort}${pod.readinessPath}`)).ok,
      { timeoutMs: 30_000 },
    );
    const [chunk] = await readTopic(kafka, `${prefix}.ingest.embed`, 1);
    const parsed = chunkMessageSchema.parse(JSON.parse(chunk!.value!.toString()));
    assert.equal(parsed.tenantId, 'acme');
    await eventually(
      'pool lag 0 once the worker committed',
      async () => {
        const p = await client.get(Types.WorkerPool, ns, 'ingest');
        return (p.status as { lag?: number }).lag === 0;
      },
      { timeoutMs: 20_000 },
    );
  });
});
