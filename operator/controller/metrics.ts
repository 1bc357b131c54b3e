/** The operator's Prometheus metrics (prom-client), one registry per process. */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { CONDITION_TYPES } from '../api/wellknown.ts';
import type { KubeObject } from '../kube/client.ts';
import { findCondition } from './conditions.ts';

/** 1 when the object's Ready condition is True for its current generation, else 0 (pure). */
export function readyValue(obj: KubeObject): 0 | 1 {
  const ready = findCondition(
    (obj.status as { conditions?: Parameters<typeof findCondition>[0] } | undefined)?.conditions,
    CONDITION_TYPES.ready,
  );
  const generation = obj.metadata.generation ?? 0;
  return ready?.status === 'True' && (ready.observedGeneration ?? generation) >= generation ? 1 : 0;
}

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({
    name: 'engram_operator_reconciles_total',
    help: 'Reconciles by controller and result (success, error, requeue).',
    labelNames: ['controller', 'result'] as const,
    registers: [this.registry],
  });
  readonly reconcileDuration = new Histogram({
    name: 'engram_operator_reconcile_duration_seconds',
    help: 'Time spent in one reconcile.',
    labelNames: ['controller'] as const,
    buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'engram_operator_workqueue_depth',
    help: 'Keys waiting in the work queue.',
    labelNames: ['controller'] as const,
    registers: [this.registry],
  });
  readonly queueLatency = new Histogram({
    name: 'engram_operator_workqueue_wait_seconds',
    help: 'Time a key waited in the queue before a worker took it.',
    labelNames: ['controller'] as const,
    buckets: [0.001, 0.01, 0.1, 0.5, 1, 5, 30],
    registers: [this.registry],
  });
  readonly apiCalls = new Counter({
    name: 'engram_operator_kube_api_calls_total',
    help: 'Kubernetes API calls by verb, resource and HTTP status code (0 = no response).',
    labelNames: ['verb', 'resource', 'code'] as const,
    registers: [this.registry],
  });
  readonly kafkaCalls = new Counter({
    name: 'engram_operator_kafka_admin_calls_total',
    help: 'Kafka Admin API calls by verb (describe, create, createPartitions, alterConfigs, delete).',
    labelNames: ['verb', 'result'] as const,
    registers: [this.registry],
  });
  readonly storeCalls = new Counter({
    name: 'engram_operator_store_calls_total',
    help: 'Calls to the graph store and the cache for tenants, by store (neo4j, redis), operation and result (ok, error).',
    labelNames: ['store', 'operation', 'result'] as const,
    registers: [this.registry],
  });
  /** Primary caches whose objects' readiness is exported, by kind. */
  readonly #readiness: Array<{ kind: string; list: () => KubeObject[] }> = [];
  // Computed from the watch caches at scrape time: a deleted object's series goes with it.
  readonly resourceReady = new Gauge({
    name: 'engram_operator_resource_ready',
    help: "1 while an object's Ready condition is True for its current generation, else 0.",
    labelNames: ['kind', 'namespace', 'name'] as const,
    registers: [this.registry],
    collect: () => {
      this.resourceReady.reset();
      for (const { kind, list } of this.#readiness)
        for (const obj of list())
          this.resourceReady.set(
            { kind, namespace: obj.metadata.namespace ?? '', name: obj.metadata.name },
            readyValue(obj),
          );
    },
  });
  readonly leader = new Gauge({
    name: 'engram_operator_leader',
    help: '1 while this replica holds the leader lease.',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'engram_operator_' });
  }

  /** Exports engram_operator_resource_ready for every object `list` returns (a controller's primary cache). */
  observeReadiness(kind: string, list: () => KubeObject[]): void {
    this.#readiness.push({ kind, list });
  }
}
