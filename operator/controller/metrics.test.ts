import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../kube/client.ts';
import { OperatorMetrics, readyValue } from './metrics.ts';

const mc = (
  name: string,
  generation: number,
  ready?: { status: string; observedGeneration: number },
): KubeObject => ({
  apiVersion: 'engram.dev/v1alpha1',
  kind: 'MemoryCluster',
  metadata: { name, namespace: 'memory', generation },
  ...(ready
    ? {
        status: {
          conditions: [{ type: 'Ready', reason: 'r', message: '', lastTransitionTime: '', ...ready }],
        },
      }
    : {}),
});

describe('engram_operator_resource_ready', () => {
  it('is 1 only for Ready True of the current generation', () => {
    assert.equal(readyValue(mc('a', 2, { status: 'True', observedGeneration: 2 })), 1);
    assert.equal(readyValue(mc('a', 3, { status: 'True', observedGeneration: 2 })), 0, 'older generation');
    assert.equal(readyValue(mc('a', 2, { status: 'Unknown', observedGeneration: 2 })), 0);
    assert.equal(readyValue(mc('a', 2, { status: 'False', observedGeneration: 2 })), 0);
    assert.equal(readyValue(mc('a', 1)), 0, 'no status yet');
  });

  it('is read from the cache at each scrape: a deleted object has no series left', async () => {
    const metrics = new OperatorMetrics();
    let objects = [mc('up', 1, { status: 'True', observedGeneration: 1 }), mc('down', 1)];
    metrics.observeReadiness('MemoryCluster', () => objects);
    const scrape = async () =>
      (await metrics.registry.getSingleMetricAsString('engram_operator_resource_ready'))
        .split('\n')
        .filter((l) => !l.startsWith('#'));
    assert.deepEqual(await scrape(), [
      'engram_operator_resource_ready{kind="MemoryCluster",namespace="memory",name="up"} 1',
      'engram_operator_resource_ready{kind="MemoryCluster",namespace="memory",name="down"} 0',
    ]);
    objects = [objects[0]!];
    assert.deepEqual(await scrape(), [
      'engram_operator_resource_ready{kind="MemoryCluster",namespace="memory",name="up"} 1',
    ]);
  });
});
