/**
 * The WorkerPool lag metric as an External metric source: the HPA's selector names the pool
 * (`engram.dev/workerpool=<pool>`), the value is the pool's total consumer-group lag as last
 * measured by the operator's lag monitor (a read of its memory, never a Kafka call per request).
 */
import { WORKER_POOL_LABEL, WORKER_POOL_LAG_METRIC } from '../api/external-metrics.ts';
import type { ExternalMetricSource, ExternalMetricValue } from './api.ts';
import { matchesLabels, SelectorError } from './selector.ts';

export interface PoolLagReading {
  /** Messages behind, summed over the pool's partitions. */
  total: number;
  partitions: number;
  observedAt: Date;
}

/** Looks up the last lag reading of pool `pool` in `namespace` (undefined: not measured yet). */
export type ReadPoolLag = (namespace: string, pool: string) => PoolLagReading | undefined;

export function workerPoolLagSource(read: ReadPoolLag): ExternalMetricSource {
  return (namespace, metricName, selector) => {
    const pools = selector.find((r) => r.key === WORKER_POOL_LABEL && r.op === 'in');
    if (pools?.op !== 'in')
      throw new SelectorError(
        `${metricName} is per WorkerPool: the selector must name the pool, e.g. labelSelector=${WORKER_POOL_LABEL}=<pool> (an HPA's metric.selector.matchLabels)`,
      );
    const items: ExternalMetricValue[] = [];
    for (const pool of pools.values) {
      const metricLabels = { [WORKER_POOL_LABEL]: pool };
      if (!matchesLabels(selector, metricLabels)) continue;
      const reading = read(namespace, pool);
      // No reading yet is no item: the HPA then keeps the current replicas instead of acting on a guess.
      if (!reading) continue;
      items.push({
        metricName: WORKER_POOL_LAG_METRIC,
        metricLabels,
        timestamp: reading.observedAt.toISOString(),
        value: String(Math.max(0, Math.round(reading.total))),
      });
    }
    return items;
  };
}
