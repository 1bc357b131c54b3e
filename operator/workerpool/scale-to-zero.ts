/**
 * The 0 <-> 1 step of a pool with autoscaling.minReplicas 0 (pure): the HPA cannot go below 1,
 * so the operator scales an idle pool from 1 to 0 and a pool at 0 back to 1 when lag appears;
 * above 1 the HPA decides. The idle clock is the lag monitor's idleSince, kept in memory: after
 * an operator restart it starts again, so a pool goes to zero later than asked, never earlier.
 */
import { DEFAULT_WORKER_POOL, durationToMilliseconds } from '../api/defaults.ts';
import type { WorkerPool } from '../api/workerpool.ts';
import type { LagReading } from './lag.ts';

export interface ScaleToZeroStep {
  /** Replicas to set through the Deployment's /scale now. */
  replicas?: 0 | 1;
  /** Look again after this long (the idle time still to wait). */
  recheckAfterMs?: number;
}

export function scaleToZeroStep(
  autoscaling: WorkerPool['spec']['autoscaling'],
  current: number | undefined,
  reading: LagReading | undefined,
  now: Date,
): ScaleToZeroStep {
  if (!autoscaling || autoscaling.minReplicas > 0 || current === undefined || !reading) return {};
  if (current === 0) {
    const activation = autoscaling.activationLag ?? DEFAULT_WORKER_POOL.activationLag;
    return reading.total >= activation ? { replicas: 1 } : {};
  }
  if (current !== 1 || !reading.idleSince) return {};
  const after = durationToMilliseconds(autoscaling.scaleToZeroAfter ?? DEFAULT_WORKER_POOL.scaleToZeroAfter);
  const idle = now.getTime() - reading.idleSince.getTime();
  return idle >= after ? { replicas: 0 } : { recheckAfterMs: after - idle };
}
