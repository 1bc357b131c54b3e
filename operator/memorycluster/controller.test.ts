import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../kube/client.ts';
import { specChanged } from './controller.ts';

const mc = (meta: Partial<KubeObject['metadata']>, status?: unknown): KubeObject => ({
  metadata: { name: 'a', namespace: 'n', generation: 1, resourceVersion: '1', ...meta },
  ...(status ? { status } : {}),
});

describe('specChanged (which MemoryCluster updates trigger a reconcile)', () => {
  it('ignores our own status writes', () => {
    assert.equal(specChanged(mc({}), mc({ resourceVersion: '2' }, { observedGeneration: 1 })), false);
  });
  it('reacts to a new generation, annotations, finalizers and deletion', () => {
    assert.equal(specChanged(mc({}), mc({ generation: 2 })), true);
    assert.equal(specChanged(mc({}), mc({ annotations: { 'engram.dev/paused': 'true' } })), true);
    assert.equal(specChanged(mc({}), mc({ finalizers: ['engram.dev/topics'] })), true);
    assert.equal(specChanged(mc({}), mc({ deletionTimestamp: '2026-01-01T00:00:00Z' })), true);
  });
});
