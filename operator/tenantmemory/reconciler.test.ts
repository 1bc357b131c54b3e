import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MemoryCluster } from '../api/memorycluster.ts';
import type { TenantMemory } from '../api/tenantmemory.ts';
import type { KubeObject } from '../kube/client.ts';
import { clusterChangedForTenants, purgeSkip } from './reconciler.ts';

const tm = (policy: 'Delete' | 'Retain', annotations: Record<string, string> = {}) =>
  ({
    metadata: { name: 'acme', namespace: 'ns', annotations },
    spec: { clusterRef: { name: 'prod' }, tenantId: 'acme', deletionPolicy: policy },
  }) as unknown as TenantMemory;
const cluster = (managed: boolean, deleting = false) =>
  ({
    metadata: {
      name: 'prod',
      namespace: 'ns',
      ...(deleting ? { deletionTimestamp: '2026-12-01T00:00:00Z' } : {}),
    },
    spec: managed
      ? { redis: { managed: {} }, neo4j: { managed: {} } }
      : { redis: { external: {} }, neo4j: { external: {} } },
  }) as unknown as MemoryCluster;

describe('purgeSkip', () => {
  it('purges a Delete tenant that owns its id in a live cluster', () => {
    assert.equal(purgeSkip(tm('Delete'), cluster(false), 'acme'), undefined);
    assert.equal(
      purgeSkip(tm('Delete'), cluster(false, true), 'acme'),
      undefined,
      'external stores outlive the cluster',
    );
  });

  it('keeps data on Retain or the skip annotation, and skips what is moot or not its own', () => {
    assert.equal(purgeSkip(tm('Retain'), cluster(false), 'acme')?.reason, 'TenantDataRetained');
    assert.match(
      purgeSkip(tm('Delete', { 'engram.dev/skip-tenant-purge': 'true' }), cluster(false), 'acme')!.note,
      /skip-tenant-purge/,
    );
    assert.match(purgeSkip(tm('Delete'), undefined, undefined)!.note, /MemoryCluster prod is gone/);
    assert.match(purgeSkip(tm('Delete'), cluster(true, true), 'acme')!.note, /nothing to purge/);
    assert.match(purgeSkip(tm('Delete'), cluster(false), 'older')!.note, /belongs to TenantMemory older/);
  });
});

describe('clusterChangedForTenants', () => {
  const mc = (conditions: Array<{ type: string; status: string; message?: string }>, generation = 1) =>
    ({
      metadata: { name: 'prod', namespace: 'ns', generation },
      status: { conditions },
    }) as unknown as KubeObject;
  const stores = [
    { type: 'CacheReady', status: 'True', message: 'ok' },
    { type: 'GraphStoreReady', status: 'True', message: 'ok' },
  ];
  it("ignores the cluster's summary (its tenants' and pools' counts, its Ready)", () => {
    assert.equal(
      clusterChangedForTenants(
        mc([...stores, { type: 'Ready', status: 'False' }]),
        mc([...stores, { type: 'Ready', status: 'True' }]),
      ),
      false,
    );
  });
  it("reacts to the stores' readiness and to the spec", () => {
    assert.equal(
      clusterChangedForTenants(mc(stores), mc([stores[0]!, { type: 'GraphStoreReady', status: 'False' }])),
      true,
    );
    assert.equal(clusterChangedForTenants(mc(stores), mc(stores, 2)), true);
  });
});
