import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeClient, KubeObject } from './client.ts';
import { Informer } from './informer.ts';
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
