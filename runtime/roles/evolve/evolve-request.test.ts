import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evolveRequestMessage, evolveRequestSchema, latestPerTenant, scheduledAt } from './evolve-request.ts';

describe('evolve requests', () => {
  it('are keyed by tenant and accept the short form {tenantId, requestedAt}', () => {
    const m = evolveRequestMessage({ v: 1, tenantId: 'acme', requestedAt: 5 });
    assert.equal(m.key, 'acme');
    assert.deepEqual(evolveRequestSchema.parse({ tenantId: 'acme', requestedAt: 5 }), {
      v: 1,
      tenantId: 'acme',
      requestedAt: 5,
    });
    assert.equal(evolveRequestSchema.safeParse({ tenantId: 'Bad_Id', requestedAt: 5 }).success, false);
  });

  it('collapse to the latest per tenant', () => {
    const r = (tenantId: string, requestedAt: number) => ({ v: 1 as const, tenantId, requestedAt });
    assert.deepEqual(latestPerTenant([r('a', 2), r('b', 1), r('a', 7), r('a', 3)]), [r('a', 7), r('b', 1)]);
  });

  it('of every worker in one interval carry the same time', () => {
    assert.equal(scheduledAt(3_600_000 * 5 + 17, 3_600_000), 3_600_000 * 5);
    assert.equal(scheduledAt(3_600_000 * 6 - 1, 3_600_000), 3_600_000 * 5);
  });
});
