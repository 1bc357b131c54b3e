import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { computeTenantStatus, nextUsage, type TenantObservation } from './status.ts';

const T = { status: 'True', reason: 'OK', message: 'fine' } as const;
const base: TenantObservation = {
  generation: 2,
  tenantId: 'acme',
  cluster: T,
  credentials: T,
  cache: T,
  graph: T,
  credentialsSecretName: 'acme-credentials',
  notes: [],
};
const cond = (s: ReturnType<typeof computeTenantStatus>, type: string) =>
  s.conditions?.find((c) => c.type === type);

describe('computeTenantStatus', () => {
  it('is Ready when every part is, for the generation observed', () => {
    const s = computeTenantStatus(undefined, base, new Date('2026-12-01T00:00:00Z'));
    assert.equal(cond(s, 'Ready')?.status, 'True');
    assert.equal(cond(s, 'Ready')?.observedGeneration, 2);
    assert.equal(s.credentialsSecretName, 'acme-credentials');
  });

  it('is byte-equal for unchanged inputs later (a resync writes nothing)', () => {
    const first = computeTenantStatus(undefined, base, new Date('2026-12-01T00:00:00Z'));
    const again = computeTenantStatus(first, base, new Date('2026-12-01T01:00:00Z'));
    assert.deepEqual(again, first);
  });

  it('reports a missing cluster in Ready and leaves the stores unchecked', () => {
    const s = computeTenantStatus(
      undefined,
      {
        ...base,
        cluster: { status: 'False', reason: 'ClusterNotFound', message: 'MemoryCluster x not found' },
      },
      new Date(),
    );
    assert.equal(cond(s, 'Ready')?.reason, 'ClusterNotFound');
    assert.equal(cond(s, 'Ready')?.message, 'MemoryCluster x not found');
    assert.equal(cond(s, 'CacheReady')?.status, 'Unknown');
  });

  it('names the failing part; a conflict is Stalled', () => {
    const s = computeTenantStatus(
      undefined,
      { ...base, cache: { status: 'False', reason: 'Unreachable', message: 'cannot reach Redis' } },
      new Date(),
    );
    assert.equal(cond(s, 'Ready')?.message, 'CacheReady: cannot reach Redis');
    const c = computeTenantStatus(
      undefined,
      { ...base, cluster: { status: 'False', reason: 'TenantIdConflict', message: 'taken', stalled: true } },
      new Date(),
    );
    assert.equal(cond(c, 'Stalled')?.status, 'True');
  });
});

describe('nextUsage', () => {
  it('keeps the previous block (and its time) while the counts do not move', () => {
    const prev = { documents: 1, nodes: 2, relationships: 3, observedAt: '2026-12-01T00:00:00Z' };
    assert.equal(nextUsage(prev, { documents: 1, nodes: 2, relationships: 3 }, new Date()), prev);
    assert.equal(nextUsage(prev, undefined, new Date()), prev);
    assert.deepEqual(
      nextUsage(prev, { documents: 1, nodes: 5, relationships: 3 }, new Date('2026-12-02T00:00:00Z')),
      {
        documents: 1,
        nodes: 5,
        relationships: 3,
        observedAt: '2026-12-02T00:00:00Z',
      },
    );
  });
});
