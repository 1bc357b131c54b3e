/** gateway: the tenant-facing HTTP API on ENGRAM_HTTP_PORT (see api.ts for the routes and checks). */
import { Counter, Gauge, Histogram } from 'prom-client';
import { createKafka, KafkaProducerTransport } from '../../adapters/kafka.ts';
import { createRedis, redisReady } from '../../adapters/redis.ts';
import { RuntimeConfigError, requireSection } from '../../contract/config.ts';
import { METRICS } from '../../contract/metrics.ts';
import type { RoleContext, RunningRole } from '../../core/role-context.ts';
import { LATENCY_BUCKETS } from '../../observability/metrics.ts';
import { openQueryStack } from '../query/role.ts';
import { buildGatewayApp, type GatewayMetrics } from './api.ts';
import { ControlExpiry, checkEvictionPolicy } from './control-state.ts';
import { DocumentIdempotency } from './idempotency.ts';
import { TenantRateLimiter } from './rate-limit.ts';
import { TenantKeyStore } from './tenant-keys.ts';

const RELOAD_INTERVAL_MS = 5000;
const SWEEP_INTERVAL_MS = 10_000;

export async function start(ctx: RoleContext): Promise<RunningRole> {
  const { config, log, health } = ctx;
  // Registered before anything else: /readyz is 503 until the API port accepts connections.
  let phase: string | undefined = 'starting: the API port is not listening yet';
  health.addCheck({ name: 'gateway', check: () => phase });
  const registers = [ctx.metrics.registry];
  const metrics: GatewayMetrics = {
    requests: new Counter({
      name: METRICS.httpRequests,
      help: 'HTTP requests by route and status',
      labelNames: ['route', 'status'],
      registers,
    }),
    duration: new Histogram({
      name: METRICS.httpRequestDuration,
      help: 'HTTP request duration by route',
      labelNames: ['route'],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    documents: new Counter({
      name: METRICS.documentsIngested,
      help: 'Documents by tenant and outcome (accepted|duplicate|in_progress)',
      labelNames: ['tenant', 'status'],
      registers,
    }),
    rejected: new Counter({
      name: METRICS.requestsRejected,
      help: 'Refused requests by tenant and reason',
      labelNames: ['tenant', 'reason'],
      registers,
    }),
  };

  const redis = createRedis(requireSection(config, 'redis'), `engram-${config.cluster}-gateway`);
  health.addCheck({ name: 'redis', check: () => redisReady(redis) });
  void checkEvictionPolicy(redis, log);
  const keys = new TenantKeyStore(config.gateway.tenantKeysDir, log);
  health.addCheck({ name: 'tenant-keys', check: () => keys.loadError });
  await keys.load();
  keys.startReloading(RELOAD_INTERVAL_MS);
  new Gauge({
    name: METRICS.tenantsLoaded,
    help: 'Tenants with at least one API key loaded',
    registers,
    collect() {
      this.set(keys.tenantCount);
    },
  });
  const limiter = new TenantRateLimiter(redis, {
    cluster: config.cluster,
    defaults: { documentsPerSecond: config.gateway.rateLimitPerSecond, burst: config.gateway.rateLimitBurst },
    quotasFile: config.gateway.tenantQuotasFile,
    log,
  });
  await limiter.loadQuotas();
  limiter.startReloading(RELOAD_INTERVAL_MS);
  const idempotency = new DocumentIdempotency(redis, {
    cluster: config.cluster,
    ttlSeconds: config.gateway.idempotencyTtlSeconds,
  });
  const expiry = new ControlExpiry(redis, { cluster: config.cluster });
  expiry.startSweeping(SWEEP_INTERVAL_MS, log);
  const producer = new KafkaProducerTransport(createKafka(config.kafka, log));
  health.addCheck({
    name: 'kafka-producer',
    check: () => (producer.isConnected() ? undefined : 'producer not connected'),
  });
  await producer.connect();

  // ENGRAM_QUERY_SYNC: this gateway also answers POST /v1/tenants/{t}/query in the request.
  if (config.query.gatewaySync && !(config.neo4j && config.model))
    throw new RuntimeConfigError([
      'ENGRAM_QUERY_SYNC is true but ENGRAM_NEO4J_URI, ENGRAM_NEO4J_PASSWORD or ENGRAM_MODEL_DIR is missing. Fix: set them, or set ENGRAM_QUERY_SYNC=false',
    ]);
  const queryStack = config.query.gatewaySync
    ? await openQueryStack(config, log, ctx.metrics, (e) => ctx.fatal(e))
    : undefined;
  const app = buildGatewayApp({
    cluster: config.cluster,
    topicPrefix: config.topicPrefix,
    keys,
    limiter,
    idempotency,
    producer,
    redis,
    limits: config.gateway,
    metrics,
    log,
    ...(queryStack && {
      answer: (tenantId: string, text: string, topK: number) =>
        queryStack.engine.answer(tenantId, text, topK),
    }),
  });
  await app.listen({ port: config.httpPort, host: '0.0.0.0' });
  phase = undefined;
  log.info('gateway listening', { port: config.httpPort, tenants: keys.tenantCount });

  return {
    stop: async () => {
      phase = 'stopping';
      // Stop accepting, let requests in flight finish (they end with produce + confirm), then close.
      await app.close();
      keys.stop();
      limiter.stop();
      expiry.stop();
      await producer.close();
      await redis.quit();
      await queryStack?.close();
    },
  };
}
