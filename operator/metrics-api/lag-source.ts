/**
 * The WorkerPool lag metric as an External metric source: the HPA's selector names the pool
 * (`engram.dev/workerpool=<pool>`), the value is the pool's total consumer-group lag as last
 * measured by the operator's lag monitor (a read of its memory, never a Kafka call per request).
 */
import { Counter, type Registry } from 'prom-client';
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

export const EXTERNAL_METRIC_READS = 'engram_operator_external_metric_reads_total';

/**
 * `source` counting its reads by namespace and metric: whether (and how often) the HPA
 * controller reads a pool's lag shows on /metrics without turning on API server audit logs.
 */
export function countedSource(source: ExternalMetricSource, registry: Registry): ExternalMetricSource {
  const reads = new Counter({
    name: EXTERNAL_METRIC_READS,
    help: 'External Metrics API reads answered (each HPA sync of an HPA on an Engram metric is one).',
    labelNames: ['namespace', 'metric'] as const,
    registers: [registry],
  });
  return async (namespace, metricName, selector) => {
    const items = await source(namespace, metricName, selector);
    reads.inc({ namespace, metric: metricName });
    return items;
  };
}
