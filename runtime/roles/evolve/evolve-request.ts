/**
 * graph.evolve messages: `{ v: 1, tenantId, requestedAt }`, keyed by tenant so one partition
 * holds every request of a tenant and the tenant evolves in one worker at a time. `requestedAt`
 * is the run's time: the decay is computed at it, so two requests at the same time change the
 * graph once.
 */
import { z } from 'zod';
import { tenantIdSchema } from '../../contract/tenants.ts';

export const evolveRequestSchema = z.object({
  v: z.literal(1).default(1),
  tenantId: tenantIdSchema,
  requestedAt: z.number().int().nonnegative(),
});

export type EvolveRequest = z.output<typeof evolveRequestSchema>;

export function evolveRequestMessage(request: EvolveRequest): { key: string; value: string } {
  return { key: request.tenantId, value: JSON.stringify(request) };
}

/** Requests of one tenant in a group collapse to the latest: decay depends only on the run's time. */
export function latestPerTenant(requests: readonly EvolveRequest[]): EvolveRequest[] {
  const latest = new Map<string, EvolveRequest>();
  for (const r of requests) {
    const known = latest.get(r.tenantId);
    if (!known || known.requestedAt < r.requestedAt) latest.set(r.tenantId, r);
  }
  return [...latest.values()];
}

/**
 * Every evolve worker schedules every tenant; the time is floored to the interval, so the
 * requests of all workers for one slot are the same request and evolve the graph once.
 */
export function scheduledAt(now: number, intervalMs: number): number {
  return Math.floor(now / intervalMs) * intervalMs;
}
