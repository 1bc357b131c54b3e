import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeClient, KubeObject } from './client.ts';
import { Informer, slim } from './informer.ts';
import { Types } from './resources.ts';

const pool = (name: string, cluster: string, rv: string): KubeObject => ({
  metadata: { name, namespace: 'n', resourceVersion: rv },
  spec: { clusterRef: { name: cluster } },
});

describe('Informer indexes', () => {
  it('follow adds, changes and deletes, and are current before handlers run', () => {
    const informer = new Informer({} as KubeClient, Types.WorkerPool);
    const store = informer as unknown as { upsert(o: KubeObject): void; remove(o: KubeObject): void };
    informer.addIndex('cluster', (o) => [
      `${o.metadata.namespace}/${(o.spec as { clusterRef: { name: string } }).clusterRef.name}`,
    ]);
    const seen: number[] = [];
    informer.on({ add: () => seen.push(informer.byIndex('cluster', 'n/a').length) });
    store.upsert(pool('p1', 'a', '1'));
    store.upsert(pool('p2', 'a', '1'));
    store.upsert(pool('p3', 'b', '1'));
    assert.deepEqual(seen, [1, 2, 2], 'a handler sees the index with its own object in it');
    assert.deepEqual(
      informer
        .byIndex('cluster', 'n/a')
        .map((o) => o.metadata.name)
        .sort(),
      ['p1', 'p2'],
    );
    store.upsert(pool('p2', 'b', '2'));
    assert.deepEqual(
      informer.byIndex('cluster', 'n/a').map((o) => o.metadata.name),
      ['p1'],
    );
    assert.equal(informer.byIndex('cluster', 'n/b').length, 2);
    store.remove(pool('p1', 'a', '3'));
    assert.deepEqual(informer.byIndex('cluster', 'n/a'), []);
  });
});

describe('slim (what the caches keep of an object)', () => {
  it("keeps only our own server-side-apply entry of managedFields and drops kubectl's last-applied copy", () => {
    const ours = { manager: 'engram-operator', operation: 'Apply', fieldsV1: { 'f:spec': {} } };
    const obj = {
      metadata: {
        name: 'x',
        annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"big":1}', keep: 'me' },
        managedFields: [
          ours,
          { manager: 'engram-operator', operation: 'Update', subresource: 'status', fieldsV1: {} },
          { manager: 'kubectl-client-side-apply', operation: 'Update', fieldsV1: {} },
        ],
      },
    } as unknown as KubeObject;
    slim(obj);
    assert.deepEqual((obj.metadata as { managedFields?: unknown }).managedFields, [ours]);
    assert.deepEqual(obj.metadata.annotations, { keep: 'me' });
  });

  it('removes managedFields altogether when none is ours', () => {
    const obj = {
      metadata: { name: 'x', managedFields: [{ manager: 'kubectl', operation: 'Update' }] },
    } as unknown as KubeObject;
    slim(obj);
    assert.equal('managedFields' in obj.metadata, false);
  });
});
