/**
 * The External metric an autoscaled WorkerPool's HPA scales on, served by the operator itself
 * (`external.metrics.k8s.io/v1beta1`, no Prometheus adapter needed). The HPA asks for this metric
 * name in the pool's namespace with a selector on the pool label; the value is the pool's total
 * consumer-group lag (messages), and the HPA's target is an AverageValue of the pool's target lag
 * per replica. Prometheus-adapter users point the HPA at the exported gauge of the same name.
 */
export const EXTERNAL_METRICS_GROUP = 'external.metrics.k8s.io';
export const EXTERNAL_METRICS_VERSION = 'v1beta1';

/** Metric name in the HPA's `external.metric.name` (and the operator's Prometheus gauge). */
export const WORKER_POOL_LAG_METRIC = 'engram_workerpool_consumer_lag';

/** Label of the External metric's selector that names the pool (`matchLabels: {<this>: <pool>}`). */
export const WORKER_POOL_LABEL = 'engram.dev/workerpool';
