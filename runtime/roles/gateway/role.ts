/** gateway: the tenant-facing HTTP API on ENGRAM_HTTP_PORT (see api.ts for the routes and checks). */
import { createServer } from 'node:http';
import { Counter, Gauge, Histogram } from 'prom-client';
import { createKafka, KafkaProducerTransport } from '../../adapters/kafka.ts';
import { createRedis, redisReady } from '../../adapters/redis.ts';
import { requireSection } from '../../contract/config.ts';
import { METRICS } from '../../contract/metrics.ts';
import { LATENCY_BUCKETS } from '../../observability/metrics.ts';
import type { RoleContext, RunningRole } from '../context.ts';
import { createGatewayHandler, type GatewayMetrics } from './api.ts';
import { DocumentIdempotency } from './idempotency.ts';
import { TenantRateLimiter } from './rate-limit.ts';
import { TenantKeyStore } from './tenant-keys.ts';

const RELOAD_INTERVAL_MS = 5000;

export async function start(ctx: RoleContext): Promise<RunningRole> {
  const { config, log, health } = ctx;
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
  const keys = new TenantKeyStore(config.gateway.tenantKeysDir, log);
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
  const producer = new KafkaProducerTransport(createKafka(config.kafka, log));
  await producer.connect();

  const server = createServer(
    createGatewayHandler({
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
    }),
  );
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.httpPort, () => resolve());
  });
  health.addCheck({ name: 'tenant-keys', check: () => keys.loadError });
  health.addCheck({ name: 'redis', check: () => redisReady(redis) });
  health.addCheck({
    name: 'kafka-producer',
    check: () => (producer.isConnected() ? undefined : 'producer not connected'),
  });
  log.info('gateway listening', { port: config.httpPort, tenants: keys.tenantCount });

  return {
    stop: async () => {
      // Stop accepting, let requests in flight finish (they end with produce + confirm), then close.
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      keys.stop();
      limiter.stop();
      await producer.close();
      await redis.quit();
    },
  };
}
