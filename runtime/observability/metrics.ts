/**
 * The runtime's Prometheus registry. Names come from the contract (runtime/contract/metrics.ts);
 * process metrics are collected with the same `engram_` prefix.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { METRIC_PREFIX, METRICS } from '../contract/metrics.ts';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export interface WorkerMetrics {
  processed: Counter<'role' | 'topic'>;
  failed: Counter<'role' | 'topic' | 'reason'>;
  deadLettered: Counter<'role' | 'topic' | 'reason'>;
  deadLetterFailures: Counter<'role' | 'topic' | 'outcome'>;
  batchDuration: Histogram<'role' | 'topic'>;
  handlerDuration: Histogram<'role' | 'topic'>;
  batchSize: Histogram<'role' | 'topic'>;
  lag: Gauge<'role' | 'topic' | 'partition'>;
  inFlight: Gauge<'role'>;
  produced: Counter<'role' | 'topic'>;
  cacheHits: Counter<'role' | 'cache'>;
  cacheMisses: Counter<'role' | 'cache'>;
}

export interface RuntimeMetrics {
  registry: Registry;
  worker: WorkerMetrics;
}

export function createRuntimeMetrics(defaultLabels: Record<string, string> = {}): RuntimeMetrics {
  const registry = new Registry();
  registry.setDefaultLabels(defaultLabels);
  collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  const registers = [registry];
  const worker: WorkerMetrics = {
    processed: new Counter({
      name: METRICS.messagesProcessed,
      help: 'Messages whose side effects are durable and whose offsets were resolved',
      labelNames: ['role', 'topic'],
      registers,
    }),
    failed: new Counter({
      name: METRICS.messagesFailed,
      help: 'Failed processing attempts, by reason (unavailable|transient|error|poison)',
      labelNames: ['role', 'topic', 'reason'],
      registers,
    }),
    deadLettered: new Counter({
      name: METRICS.messagesDeadLettered,
      help: 'Messages written to the dlq topic, by reason (poison|exhausted)',
      labelNames: ['role', 'topic', 'reason'],
      registers,
    }),
    deadLetterFailures: new Counter({
      name: METRICS.deadLetterFailures,
      help: 'Dead letters the dlq refused whole: outcome truncated (sent cut down, with a reference) or dropped (only logged; the offset moved past it)',
      labelNames: ['role', 'topic', 'outcome'],
      registers,
    }),
    batchDuration: new Histogram({
      name: METRICS.batchDuration,
      help: 'Wall time of one partition batch, from delivery to offsets resolved',
      labelNames: ['role', 'topic'],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    handlerDuration: new Histogram({
      name: METRICS.handlerDuration,
      help: 'Wall time of one processor call on a group of messages; keep the rebalance timeout above its tail',
      labelNames: ['role', 'topic'],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    batchSize: new Histogram({
      name: METRICS.batchSize,
      help: 'Messages per partition batch',
      labelNames: ['role', 'topic'],
      buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500],
      registers,
    }),
    lag: new Gauge({
      name: METRICS.consumerLag,
      help: 'Consumer lag seen by this worker: high watermark minus the next offset to process',
      labelNames: ['role', 'topic', 'partition'],
      registers,
    }),
    inFlight: new Gauge({
      name: METRICS.inFlight,
      help: 'Messages taken from Kafka whose offsets are not resolved yet',
      labelNames: ['role'],
      registers,
    }),
    produced: new Counter({
      name: METRICS.messagesProduced,
      help: 'Messages produced, by topic',
      labelNames: ['role', 'topic'],
      registers,
    }),
    cacheHits: new Counter({
      name: METRICS.cacheHits,
      help: 'Cache hits, by cache',
      labelNames: ['role', 'cache'],
      registers,
    }),
    cacheMisses: new Counter({
      name: METRICS.cacheMisses,
      help: 'Cache misses, by cache',
      labelNames: ['role', 'cache'],
      registers,
    }),
  };
  return { registry, worker };
}

export { LATENCY_BUCKETS };
