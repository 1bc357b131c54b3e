/**
 * The evolve role: graph.evolve requests in, one tenant's evolution per request (decay, archival,
 * consolidation: tenant-memory-graph.ts), with the tenant's half-life from the quotas file the
 * operator writes (TenantMemory.spec.retention), else ENGRAM_EVOLVE_HALF_LIFE_SECONDS.
 *
 * The schedule lives here too: every ENGRAM_EVOLVE_INTERVAL_SECONDS each worker produces one
 * request per tenant it finds in Neo4j, keyed by tenant, with the time floored to the interval
 * (evolve-request.ts), so N workers produce the same N requests and the graph changes once.
 */
import { readFile } from 'node:fs/promises';
import type { Redis } from 'ioredis';
import { Counter, type Registry } from 'prom-client';
import { createNeo4jDriver } from '../../adapters/neo4j.ts';
import { createRedis, redisReady } from '../../adapters/redis.ts';
import type { EvolveConfig } from '../../contract/config/evolve.ts';
import { requireSection } from '../../contract/config.ts';
import { METRICS } from '../../contract/metrics.ts';
import { type TenantQuota, tenantQuotasFileSchema } from '../../contract/tenants.ts';
import { topicName } from '../../contract/topics.ts';
import type { RoleContext, RunningRole } from '../../core/role-context.ts';
import type { ProducerTransport } from '../../core/transport.ts';
import type { Logger } from '../../observability/log.ts';
import { decodeJson } from '../../pipeline/messages.ts';
import { bumpTenantGenerations } from '../../pipeline/tenant-generation.ts';
import { runConsumingRole } from '../../worker/consuming-role.ts';
import type { Processor } from '../../worker/worker.ts';
import {
  type EvolveRequest,
  evolveRequestMessage,
  evolveRequestSchema,
  latestPerTenant,
  scheduledAt,
} from './evolve-request.ts';
import { type EvolutionSummary, TenantMemoryGraph } from './tenant-memory-graph.ts';

type Retention = NonNullable<TenantQuota['retention']>;

export interface EvolveProcessorOptions {
  graph: TenantMemoryGraph;
  settings: EvolveConfig;
  /** The tenant's retention, if the operator wrote one. */
  retention: (tenantId: string) => Promise<Retention | undefined>;
  bumpGenerations: (tenantIds: string[]) => Promise<void>;
  registry: Registry;
  log: Logger;
}

export function evolveProcessor(options: EvolveProcessorOptions): Processor<EvolveRequest> {
  const { graph, settings, log } = options;
  const changes = new Counter({
    name: METRICS.evolveChanges,
    help: 'Nodes changed by evolution, by kind (archived, restored, merged)',
    labelNames: ['kind'],
    registers: [options.registry],
  });
  return {
    decode: (message) => decodeJson(evolveRequestSchema, message.value),
    async process(items) {
      for (const request of latestPerTenant(items.map((i) => i.value))) {
        const started = performance.now();
        const retention = await options.retention(request.tenantId);
        const summary: EvolutionSummary = await graph.evolve(request.tenantId, {
          now: request.requestedAt,
          halfLifeMs: retention ? retention.halfLifeSeconds * 1000 : settings.halfLifeMs,
          ...(retention?.archiveAfterSeconds && { archiveAfterMs: retention.archiveAfterSeconds * 1000 }),
          archiveBelow: settings.archiveBelow,
          mergeSimilarity: settings.mergeSimilarity,
        });
        changes.inc({ kind: 'archived' }, summary.archived);
        changes.inc({ kind: 'restored' }, summary.restored);
        changes.inc({ kind: 'merged' }, summary.merged);
        if (summary.propertiesSet > 0 || summary.nodesDeleted > 0)
          await options.bumpGenerations([request.tenantId]);
        log.info('tenant evolved', {
          tenantId: request.tenantId,
          requestedAt: request.requestedAt,
          ...summary,
          ms: Math.round(performance.now() - started),
        });
      }
    },
  };
}

/** Reads the quotas file on each request: the operator rewrites it when a TenantMemory changes. */
function retentionFromFile(path: string | undefined, log: Logger) {
  return async (tenantId: string): Promise<Retention | undefined> => {
    if (!path) return undefined;
    try {
      const parsed = tenantQuotasFileSchema.safeParse(JSON.parse(await readFile(path, 'utf8')));
      if (!parsed.success) {
        log.warn('tenant quotas file unusable for retention; using the default half-life', {
          path,
          error: parsed.error.issues[0]?.message,
        });
        return undefined;
      }
      return parsed.data[tenantId]?.retention;
    } catch (err) {
      log.warn('tenant quotas file unreadable; using the default half-life', {
        path,
        error: (err as Error).message,
      });
      return undefined;
    }
  };
}

/** Produces one request per known tenant every interval; returns a stop function. */
export function scheduleEvolutions(
  graph: TenantMemoryGraph,
  producer: ProducerTransport,
  topic: string,
  intervalMs: number,
  log: Logger,
): () => void {
  const tick = async () => {
    try {
      const requestedAt = scheduledAt(Date.now(), intervalMs);
      const tenants = await graph.tenants();
      if (tenants.length === 0) return;
      await producer.send([
        { topic, messages: tenants.map((tenantId) => evolveRequestMessage({ v: 1, tenantId, requestedAt })) },
      ]);
      log.debug('evolutions requested', { tenants: tenants.length, requestedAt });
    } catch (err) {
      log.warn('scheduling evolutions failed; retrying next interval', { error: (err as Error).message });
    }
  };
  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref();
  void tick();
  return () => clearInterval(timer);
}

export async function start(ctx: RoleContext): Promise<RunningRole> {
  const { config, log, health } = ctx;
  const settings = config.evolve;
  const neo4jConfig = requireSection(config, 'neo4j');
  const driver = createNeo4jDriver(neo4jConfig, `engram-${config.cluster}-evolve`);
  await driver.verifyConnectivity({ database: neo4jConfig.database });
  const graph = new TenantMemoryGraph(driver, {
    database: neo4jConfig.database,
    batchSize: settings.batchSize,
    transactionTimeoutMs: neo4jConfig.transactionTimeoutMs,
  });
  const redis: Redis = createRedis(requireSection(config, 'redis'), `engram-${config.cluster}-evolve`);
  health.addCheck({ name: 'redis', check: () => redisReady(redis) });
  log.info('evolution settings', { settings });
  let stopSchedule: (() => void) | undefined;
  return runConsumingRole(ctx, async (producer) => {
    if (settings.intervalMs > 0)
      stopSchedule = scheduleEvolutions(
        graph,
        producer,
        topicName(config.topicPrefix, 'graph.evolve'),
        settings.intervalMs,
        log,
      );
    return {
      processor: evolveProcessor({
        graph,
        settings,
        retention: retentionFromFile(config.gateway.tenantQuotasFile, log),
        bumpGenerations: (tenantIds) => bumpTenantGenerations(redis, config.cluster, tenantIds),
        registry: ctx.metrics.registry,
        log,
      }),
      close: async () => {
        stopSchedule?.();
        await driver.close();
        await redis.quit();
      },
    };
  });
}
