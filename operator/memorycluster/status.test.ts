import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type ClusterObservation,
  computeClusterStatus,
  computePausedStatus,
  type PartHealth,
  statefulSetHealth,
  workersHealth,
} from './status.ts';

const ok: PartHealth = { status: 'True', reason: 'Ready', message: 'ok' };
const observation = (parts: Partial<ClusterObservation> = {}): ClusterObservation => ({
  generation: 2,
  topicPrefix: 'p',
  kafka: ok,
  topics: { ...ok, list: [] },
  graphStore: ok,
  cache: ok,
  workers: { ...ok, pools: 0, replicas: 0, readyReplicas: 0, totalLag: undefined },
  tenants: 0,
  endpoints: {},
  credentials: {},
  ...parts,
});
const cond = (s: ReturnType<typeof computeClusterStatus>, type: string) =>
  s.conditions!.find((c) => c.type === type)!;
const now = new Date('2026-11-22T10:00:00Z');

describe('computeClusterStatus', () => {
  const cases: Array<
    [
      string,
      Partial<ClusterObservation>,
      { ready: string; reason: string; reconciling: string; stalled: string },
    ]
  > = [
    ['all parts ready', {}, { ready: 'True', reason: 'Reconciled', reconciling: 'False', stalled: 'False' }],
    [
      'a part in progress is Unknown, not False',
      { graphStore: { status: 'Unknown', reason: 'PodsNotReady', message: 'Neo4j: 0/1 pods ready' } },
      { ready: 'Unknown', reason: 'Progressing', reconciling: 'True', stalled: 'False' },
    ],
    [
      'an error is False with its reason',
      { topics: { status: 'False', reason: 'KafkaUnavailable', message: 'cannot reach Kafka', list: [] } },
      { ready: 'False', reason: 'KafkaUnavailable', reconciling: 'True', stalled: 'False' },
    ],
    [
      'a change it cannot make stalls',
      {
        topics: {
          status: 'False',
          reason: 'NotSupported',
          message: 'partitions cannot decrease',
          stalled: true,
          list: [],
        },
      },
      { ready: 'False', reason: 'NotSupported', reconciling: 'False', stalled: 'True' },
    ],
    [
      'a managed Kafka still starting is progress, not failure',
      {
        kafka: { status: 'Unknown', reason: 'PodsNotReady', message: 'managed Redpanda: 0/1 pods ready' },
        topics: { status: 'Unknown', reason: 'WaitingForKafka', message: 'waiting', list: [] },
      },
      { ready: 'Unknown', reason: 'Progressing', reconciling: 'True', stalled: 'False' },
    ],
  ];
  for (const [name, parts, want] of cases) {
    it(name, () => {
      const s = computeClusterStatus(undefined, observation(parts), now);
      assert.equal(cond(s, 'Ready').status, want.ready);
      assert.equal(cond(s, 'Ready').reason, want.reason);
      assert.equal(cond(s, 'Reconciling').status, want.reconciling);
      assert.equal(cond(s, 'Stalled').status, want.stalled);
      for (const c of s.conditions!)
        assert.equal(c.observedGeneration, 2, `${c.type} is for this generation`);
      assert.equal(s.observedGeneration, 2);
    });
  }

  it('keeps lastTransitionTime while a status holds and moves it on a transition', () => {
    const first = computeClusterStatus(undefined, observation(), now);
    const later = new Date('2026-11-22T11:00:00Z');
    const same = computeClusterStatus(first, observation(), later);
    assert.deepEqual(same, first, 'nothing changed: byte-equal status, so no write');
    const failed = computeClusterStatus(
      first,
      observation({ cache: { status: 'False', reason: 'Unreachable', message: 'x' } }),
      later,
    );
    assert.equal(cond(failed, 'CacheReady').lastTransitionTime, '2026-11-22T11:00:00Z');
    assert.equal(cond(failed, 'GraphStoreReady').lastTransitionTime, '2026-11-22T10:00:00Z');
  });
});

describe('computePausedStatus', () => {
  it('speaks for the new generation only in Ready and Paused; other conditions keep theirs', () => {
    const reconciled = computeClusterStatus(undefined, observation(), now);
    const paused = computePausedStatus(reconciled, 3, new Date('2026-11-22T12:00:00Z'));
    assert.equal(paused.observedGeneration, 3);
    assert.equal(cond(paused, 'Ready').status, 'Unknown');
    assert.equal(cond(paused, 'Ready').reason, 'Paused');
    assert.equal(cond(paused, 'Ready').observedGeneration, 3);
    assert.equal(cond(paused, 'Paused').status, 'True');
    for (const type of ['TopicsReady', 'GraphStoreReady', 'CacheReady', 'KafkaReady', 'WorkersReady'])
      assert.equal(cond(paused, type).observedGeneration, 2, `${type} was computed for generation 2`);
    assert.deepEqual(
      computePausedStatus(paused, 3, new Date('2026-11-22T13:00:00Z')),
      paused,
      'no rewrite at rest',
    );
  });
  it('a new cluster reports no Paused condition as a Warning-worthy False: NotPaused only', () => {
    const s = computeClusterStatus(undefined, observation(), now);
    assert.equal(cond(s, 'Paused').status, 'False');
    assert.equal(cond(s, 'Paused').reason, 'NotPaused');
  });
  it('always reports the LAG column, 0 without pools', () => {
    assert.equal(computeClusterStatus(undefined, observation(), now).totalLag, 0);
  });
});

describe('statefulSetHealth', () => {
  const sts = (generation: number, status: Record<string, unknown>) => ({
    metadata: { name: 's', generation },
    spec: { replicas: 2 },
    status,
  });
  it('is Unknown until the controller has seen the new spec and every pod is updated and ready', () => {
    assert.equal(statefulSetHealth(undefined, 'Neo4j').reason, 'Creating');
    assert.equal(statefulSetHealth(sts(3, { observedGeneration: 2 }), 'Neo4j').reason, 'RollingOut');
    assert.equal(
      statefulSetHealth(sts(3, { observedGeneration: 3, updatedReplicas: 1, readyReplicas: 2 }), 'Neo4j')
        .reason,
      'RollingOut',
    );
    assert.equal(
      statefulSetHealth(sts(3, { observedGeneration: 3, updatedReplicas: 2, readyReplicas: 1 }), 'Neo4j')
        .reason,
      'PodsNotReady',
    );
    assert.equal(
      statefulSetHealth(sts(3, { observedGeneration: 3, updatedReplicas: 2, readyReplicas: 2 }), 'Neo4j')
        .status,
      'True',
    );
  });
});

describe('workersHealth', () => {
  const pool = (name: string, ready: string | undefined, generation = 1, observed = 1) => ({
    apiVersion: 'engram.dev/v1alpha1',
    kind: 'WorkerPool',
    metadata: { name, namespace: 'ns', generation },
    status: {
      replicas: 2,
      readyReplicas: ready === 'True' ? 2 : 0,
      lag: 5,
      conditions: ready
        ? [
            {
              type: 'Ready',
              status: ready,
              reason: 'R',
              message: `${name} says ${ready}`,
              observedGeneration: observed,
            },
          ]
        : [],
    },
  });
  it('is True with no pools, and True when every pool is Ready for its generation', () => {
    assert.equal(workersHealth([]).status, 'True');
    const h = workersHealth([pool('a', 'True'), pool('b', 'True')]);
    assert.deepEqual([h.status, h.replicas, h.readyReplicas, h.totalLag], ['True', 4, 4, 10]);
  });
  it('is False (not Unknown forever) when a pool fails, naming it', () => {
    const h = workersHealth([pool('a', 'True'), pool('b', 'False')]);
    assert.equal(h.status, 'False');
    assert.match(h.message, /b: b says False/);
  });
  it('is Unknown while a pool is not yet reconciled for its generation', () => {
    assert.equal(workersHealth([pool('a', undefined)]).status, 'Unknown');
    assert.equal(workersHealth([pool('a', 'True', 2, 1)]).status, 'Unknown');
  });
});
