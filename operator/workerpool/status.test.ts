import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WorkerPool } from '../api/workerpool.ts';
import type { KubeObject } from '../kube/client.ts';
import { scaleToZeroStep } from './scale-to-zero.ts';
import {
  autoscalingHealth,
  computeWorkerPoolStatus,
  deploymentHealth,
  type PoolObservation,
} from './status.ts';

const deployment = (replicas: number, status: Record<string, unknown>, generation = 1): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'p', namespace: 'ns', generation },
  spec: { replicas },
  status: { observedGeneration: generation, ...status },
});
const hpa = (
  conditions: Array<{ type: string; status: string; reason?: string; message?: string }>,
): KubeObject => ({
  apiVersion: 'autoscaling/v2',
  kind: 'HorizontalPodAutoscaler',
  metadata: { name: 'p', namespace: 'ns' },
  status: { conditions },
});
const observation = (o: Partial<PoolObservation>): PoolObservation => ({
  generation: 1,
  deployment: undefined,
  autoscaled: false,
  hpa: undefined,
  selector: 's',
  lag: undefined,
  ...o,
});
const NOW = new Date('2026-01-01T00:00:00Z');

describe('deploymentHealth', () => {
  const table: Array<[string, KubeObject | undefined, string, string]> = [
    ['missing', undefined, 'Unknown', 'Creating'],
    ['not observed', deployment(2, { observedGeneration: 1 }, 2), 'Unknown', 'RollingOut'],
    [
      'pods not updated',
      deployment(2, { updatedReplicas: 1, readyReplicas: 2, replicas: 2 }),
      'Unknown',
      'RollingOut',
    ],
    [
      'pods not ready',
      deployment(2, { updatedReplicas: 2, readyReplicas: 1, replicas: 2 }),
      'Unknown',
      'PodsNotReady',
    ],
    ['ready', deployment(2, { updatedReplicas: 2, readyReplicas: 2, replicas: 2 }), 'True', 'Ready'],
    ['scaled to zero', deployment(0, {}), 'True', 'ScaledToZero'],
    [
      'quota refused pods',
      deployment(2, {
        conditions: [{ type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate', message: 'quota' }],
      }),
      'False',
      'FailedCreate',
    ],
  ];
  for (const [what, d, status, reason] of table) {
    it(what, () => {
      const h = deploymentHealth(d);
      assert.equal(h.status, status);
      assert.equal(h.reason, reason);
    });
  }
});

describe('autoscalingHealth', () => {
  const ok = [
    { type: 'AbleToScale', status: 'True' },
    { type: 'ScalingActive', status: 'True' },
  ];
  it('says what to run when the External metric is missing', () => {
    const h = autoscalingHealth(
      observation({
        autoscaled: true,
        deployment: deployment(1, {}),
        hpa: hpa([
          { type: 'AbleToScale', status: 'True' },
          { type: 'ScalingActive', status: 'False', reason: 'FailedGetExternalMetric', message: 'no API' },
        ]),
      }),
    );
    assert.equal(h.status, 'False');
    assert.match(h.message, /External Metrics API/);
  });
  it('is fine at zero, where the HPA reports ScalingDisabled', () => {
    const h = autoscalingHealth(
      observation({
        autoscaled: true,
        deployment: deployment(0, {}),
        hpa: hpa([{ type: 'ScalingActive', status: 'False', reason: 'ScalingDisabled' }]),
      }),
    );
    assert.equal(h.reason, 'ScaledToZero');
  });
  it('is True when the HPA scales', () => {
    assert.equal(
      autoscalingHealth(observation({ autoscaled: true, deployment: deployment(1, {}), hpa: hpa(ok) }))
        .status,
      'True',
    );
  });
  it('is True for a pool without autoscaling', () => {
    assert.equal(autoscalingHealth(observation({})).reason, 'NotAutoscaled');
  });
});

describe('computeWorkerPoolStatus', () => {
  it('reports replicas, lag and Ready; the same observation yields the same status (no write)', () => {
    const o = observation({
      deployment: deployment(2, { updatedReplicas: 2, readyReplicas: 2, replicas: 2 }),
      lag: { total: 12, partitions: 4, stuckPartitions: 0, observedAt: NOW, idleSince: undefined },
      consumerGroup: 'g',
      topics: ['t'],
    });
    const first = computeWorkerPoolStatus(undefined, o, NOW);
    assert.equal(first.replicas, 2);
    assert.equal(first.lag, 12);
    assert.equal(first.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
    assert.deepEqual(computeWorkerPoolStatus(first, o, new Date(NOW.getTime() + 60_000)), first);
  });
  it('a later poll with the same lag keeps lagObservedAt (an idle pool costs no status write)', () => {
    const at = (ms: number, total: number) =>
      observation({
        lag: {
          total,
          partitions: 4,
          stuckPartitions: 0,
          observedAt: new Date(NOW.getTime() + ms),
          idleSince: undefined,
        },
      });
    const first = computeWorkerPoolStatus(undefined, at(0, 5), NOW);
    assert.deepEqual(computeWorkerPoolStatus(first, at(10_000, 5), NOW), first);
    const changed = computeWorkerPoolStatus(first, at(20_000, 6), NOW);
    assert.equal(changed.lagObservedAt, new Date(NOW.getTime() + 20_000).toISOString());
  });
  it('keeps the last lag when a poll could not measure it', () => {
    const first = computeWorkerPoolStatus(
      undefined,
      observation({
        lag: { total: 3, partitions: 1, stuckPartitions: 0, observedAt: NOW, idleSince: undefined },
      }),
      NOW,
    );
    assert.equal(computeWorkerPoolStatus(first, observation({}), NOW).lag, 3);
  });
  it('is Ready=False and not stalled without its cluster', () => {
    const s = computeWorkerPoolStatus(
      undefined,
      observation({ blocked: { status: 'False', reason: 'ClusterNotFound', message: 'create it' } }),
      NOW,
    );
    assert.equal(s.conditions?.find((c) => c.type === 'Ready')?.reason, 'ClusterNotFound');
    assert.equal(s.conditions?.find((c) => c.type === 'Stalled')?.status, 'False');
  });
});

describe('scaleToZeroStep', () => {
  const zeroable = {
    minReplicas: 0,
    maxReplicas: 4,
    targetLagPerReplica: 10,
    activationLag: 5,
    scaleToZeroAfter: '1m',
  };
  const reading = (total: number, idleFor?: number) => ({
    total,
    partitions: 4,
    stuckPartitions: 0,
    observedAt: NOW,
    idleSince: idleFor === undefined ? undefined : new Date(NOW.getTime() - idleFor),
  });
  type A = WorkerPool['spec']['autoscaling'];
  it('waits out the idle time, then scales 1 -> 0', () => {
    assert.deepEqual(scaleToZeroStep(zeroable as A, 1, reading(0, 20_000), NOW), { recheckAfterMs: 40_000 });
    assert.deepEqual(scaleToZeroStep(zeroable as A, 1, reading(0, 60_000), NOW), { replicas: 0 });
  });
  it('scales 0 -> 1 at the activation lag, not below it', () => {
    assert.deepEqual(scaleToZeroStep(zeroable as A, 0, reading(4), NOW), {});
    assert.deepEqual(scaleToZeroStep(zeroable as A, 0, reading(5), NOW), { replicas: 1 });
  });
  it('leaves everything above 1, and pools with minReplicas >= 1, to the HPA', () => {
    assert.deepEqual(scaleToZeroStep(zeroable as A, 3, reading(0, 1e9), NOW), {});
    assert.deepEqual(scaleToZeroStep({ ...zeroable, minReplicas: 1 } as A, 1, reading(0, 1e9), NOW), {});
  });
  it('does nothing before the first lag reading', () => {
    assert.deepEqual(scaleToZeroStep(zeroable as A, 1, undefined, NOW), {});
  });
});
