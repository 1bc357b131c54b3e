// End to end: scale to zero. An autoscaled pool with minReplicas 0 goes to 0 after it was idle for
// scaleToZeroAfter, stays there below the activation lag, and comes back to 1 when the lag reaches
// it; the HPA stays in place at min 1 (the HPA controller leaves a target at 0 alone) and the
// operator's applied Deployment never holds replicas.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import type { KubeObject } from '../../operator/kube/client.ts';
import { Types } from '../../operator/kube/resources.ts';
import { requireDevEnv } from '../support/devenv.ts';
import { conditionOf, createNamespace, deleteNamespace, installCrds, kubeClient } from '../support/kube.ts';
import { type OperatorProcess, startOperator } from '../support/operator.ts';
import { deleteTopicsWithPrefix } from '../support/topics.ts';
import { eventually, uniqueName } from '../support/wait.ts';
import { applyLocalCluster, workerPool } from './workerpool-fixtures.ts';

describe('WorkerPool scale to zero', () => {
  const env = requireDevEnv();
  const client = kubeClient(env);
  const ns = uniqueName('e2e-wpz');
  const prefix = `engram.${ns}`;
  const kafka = new Kafka({
    clientId: 'engram-e2e-wpz',
    brokers: env.KAFKA_BROKERS.split(','),
    logLevel: logLevel.NOTHING,
  });
  const producer = kafka.producer();
  let op: OperatorProcess;

  const replicasOf = async () =>
    ((await client.get(Types.Deployment, ns, 'sleepy')).spec as { replicas: number }).replicas;
  const produce = (n: number) =>
    producer.send({
      topic: `${prefix}.ingest.raw`,
      messages: Array.from({ length: n }, (_, i) => ({ key: `k${i}`, value: '{}' })),
    });

  before(async () => {
    await installCrds(env);
    await createNamespace(env, ns);
    await producer.connect();
    op = await startOperator(env, [
      '--namespaces',
      ns,
      '--leader-election-namespace',
      ns,
      '--resync-period',
      '3s',
      '--poll-interval',
      '3s',
      '--lag-poll-interval',
      '1s',
    ]);
    await applyLocalCluster(client, env, ns, 'demo', prefix);
    await eventually(
      'the cluster topics on the broker',
      async () =>
        conditionOf(await client.get(Types.MemoryCluster, ns, 'demo'), 'TopicsReady')?.status === 'True',
      { timeoutMs: 45_000 },
    );
    await client.apply(
      Types.WorkerPool,
      workerPool(ns, 'sleepy', {
        role: 'ingest',
        autoscaling: {
          minReplicas: 0,
          maxReplicas: 4,
          targetLagPerReplica: 5,
          activationLag: 3,
          scaleToZeroAfter: '10s',
        },
      }),
    );
  });

  after(async () => {
    await op?.stop();
    await producer.disconnect();
    await deleteTopicsWithPrefix(env, prefix);
    await deleteNamespace(env, ns);
    client.close();
  });

  it('goes to 0 after scaleToZeroAfter with no lag, reporting it, with the HPA left at min 1', async () => {
    const created = Date.now();
    await eventually('Deployment sleepy at 1', async () => (await replicasOf().catch(() => -1)) === 1);
    await eventually('Deployment sleepy at 0', async () => (await replicasOf()) === 0, { timeoutMs: 30_000 });
    assert.ok(Date.now() - created >= 9_000, 'not before the idle time');
    const p = await eventually('pool Ready at zero', async () => {
      const x = await client.get(Types.WorkerPool, ns, 'sleepy');
      return conditionOf(x, 'Ready')?.reason === 'ScaledToZero' ? x : undefined;
    });
    assert.equal(conditionOf(p, 'Ready')?.status, 'True');
    assert.equal(conditionOf(p, 'AutoscalingReady')?.reason, 'ScaledToZero');
    const hpa = await client.get(Types.HorizontalPodAutoscaler, ns, 'sleepy');
    assert.equal((hpa.spec as { minReplicas: number }).minReplicas, 1);
    const d = await client.get(Types.Deployment, ns, 'sleepy');
    const applied = (
      (d.metadata.managedFields ?? []) as Array<{ manager?: string; operation?: string; fieldsV1?: unknown }>
    )
      .filter((m) => m.manager === 'engram-operator' && m.operation === 'Apply')
      .map((m) => JSON.stringify(m.fieldsV1));
    assert.equal(applied.length, 1);
    assert.ok(!applied[0]!.includes('"f:replicas"'), 'the applied Deployment never holds replicas');
  });

  it('stays at 0 below the activation lag and comes back to 1 when the lag reaches it', async () => {
    await produce(2);
    await eventually('lag 2', async () => {
      const x: KubeObject = await client.get(Types.WorkerPool, ns, 'sleepy');
      return (x.status as { lag?: number }).lag === 2;
    });
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(await replicasOf(), 0, 'lag 2 < activationLag 3');
    const at = Date.now();
    await produce(1);
    await eventually('Deployment sleepy back at 1', async () => (await replicasOf()) === 1, {
      timeoutMs: 15_000,
    });
    const tookMs = Date.now() - at;
    assert.ok(tookMs < 10_000, `activation took ${tookMs} ms`);
    const events = await client.list(Types.Event, ns);
    const reasons = events.items.map((e) => (e as unknown as { reason: string }).reason);
    assert.ok(reasons.includes('ScaledToZero') && reasons.includes('Activated'), reasons.join(','));
  });
});
