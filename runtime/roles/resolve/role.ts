/**
 * resolve: `graph.resolve` (entities and relations per chunk) -> the tenant's entity graph in
 * Neo4j. Per group: normalised names looked up by key (stage 1), the rest embedded and matched
 * against the tenant's entity-name vector index (stage 2), the grey zone asked of a confirmer if
 * one is configured (stage 3, none by default); then one idempotent write transaction
 * (entity-graph.ts) and the tenant's generation bumped, which invalidates its cached query results.
 */
import { Counter, type Registry } from 'prom-client';
import { createNeo4jDriver } from '../../adapters/neo4j.ts';
import { WriteSlots } from '../../adapters/neo4j-write-slots.ts';
import { createRedis, redisReady } from '../../adapters/redis.ts';
import type { ResolveConfig as ResolveSettings } from '../../contract/config/resolve.ts';
import { requireSection } from '../../contract/config.ts';
import { METRICS } from '../../contract/metrics.ts';
import type { RoleContext, RunningRole } from '../../core/role-context.ts';
import type { Embedder } from '../../model/embedder.ts';
import type { Logger } from '../../observability/log.ts';
import {
  type ExtractionMessage as ChunkExtraction,
  decodeJson,
  extractionMessageSchema,
} from '../../pipeline/messages.ts';
import { bumpTenantGenerations } from '../../pipeline/tenant-generation.ts';
import { runConsumingRole } from '../../worker/consuming-role.ts';
import type { Processor } from '../../worker/worker.ts';
import { ThreadedEmbedder } from '../embed/inference-thread.ts';
import { EntityGraph, type EntityReads, type ResolvedWrite } from './entity-graph.ts';
import {
  applyResolution,
  collectMentions,
  decide,
  type EntityMatchConfirmer,
  groupNewNames,
  type NameToResolve,
  tenantKey,
} from './resolution.ts';

export interface ResolveProcessorOptions {
  graph: Pick<EntityGraph, 'resolveAndWrite'>;
  embedder: Pick<Embedder, 'embed'>;
  settings: ResolveSettings;
  /** Increments the tenants' generations once their write committed. */
  bumpGenerations: (tenantIds: string[]) => Promise<void>;
  registry: Registry;
  log?: Logger;
  confirmer?: EntityMatchConfirmer;
}

/** The cascade for one group of extractions, ending in the write it commits. */
export async function resolveBatch(
  extractions: readonly ChunkExtraction[],
  graph: EntityReads,
  options: Pick<ResolveProcessorOptions, 'embedder' | 'settings' | 'confirmer'>,
  count: (stage: string, n?: number) => void = () => undefined,
): Promise<ResolvedWrite> {
  const { embedder, settings, confirmer } = options;
  const batch = collectMentions(extractions);
  const known = await graph.lookupKeys(batch.names);
  const resolved = new Map<string, string>();
  const unknown: NameToResolve[] = [];
  for (const n of batch.names) {
    const id = tenantKey(n.tenantId, n.key);
    const hit = known.get(id);
    if (hit === undefined) unknown.push(n);
    else if (hit !== n.key) resolved.set(id, hit);
  }
  count('exact', batch.names.length - unknown.length);
  // The key, not the spelling: "Juniper Foods Ltd" and "Juniper Food" compare without the suffix noise.
  const vectors = unknown.length > 0 ? await embedder.embed(unknown.map((n) => n.key)) : [];
  const items = unknown.map((name, i) => ({ name, vector: vectors[i]! }));
  const candidates = await graph.nearest(items, settings.candidates);
  const aliases: ResolvedWrite['aliases'] = [];
  const fresh: typeof items = [];
  for (const item of items) {
    const id = tenantKey(item.name.tenantId, item.name.key);
    const d = await decide(item.name, candidates.get(id) ?? [], settings, confirmer);
    if (d.kind === 'new') {
      fresh.push(item);
      continue;
    }
    resolved.set(id, d.key);
    aliases.push({ ...item.name, entityKey: d.key, score: d.score, stage: d.stage });
    count(d.stage);
  }
  const twins = groupNewNames(fresh, settings.matchThreshold);
  const newVectors = new Map<string, Float32Array>();
  for (const item of fresh) {
    const id = tenantKey(item.name.tenantId, item.name.key);
    const head = twins.get(id);
    if (head === undefined) {
      newVectors.set(id, item.vector);
      continue;
    }
    resolved.set(id, head);
    aliases.push({ ...item.name, entityKey: head, score: settings.matchThreshold, stage: 'batch' });
    count('batch');
  }
  count('new', newVectors.size);
  return { batch: applyResolution(batch, resolved), vectors: newVectors, aliases };
}

export function resolveProcessor(options: ResolveProcessorOptions): Processor<ChunkExtraction> {
  const registers = [options.registry];
  const resolvedNames = new Counter({
    name: METRICS.entitiesResolved,
    help: 'Entity names resolved, by the cascade stage that decided',
    labelNames: ['stage'],
    registers,
  });
  const relations = new Counter({
    name: METRICS.relationsWritten,
    help: 'Relation statements written (created or replayed)',
    registers,
  });
  return {
    decode: (message) => decodeJson(extractionMessageSchema, message.value),
    async process(items) {
      const started = performance.now();
      const extractions = items.map((i) => i.value);
      // Counted once per commit: a re-run of the transaction after a deadlock recounts nothing.
      let stages = new Map<string, number>();
      const result = await options.graph.resolveAndWrite(
        extractions.map((x) => x.tenantId),
        (reads) => {
          stages = new Map();
          return resolveBatch(extractions, reads, options, (stage, n = 1) =>
            stages.set(stage, (stages.get(stage) ?? 0) + n),
          );
        },
      );
      for (const [stage, n] of stages) resolvedNames.inc({ stage }, n);
      options.log?.debug('group resolved', {
        extractions: extractions.length,
        stages: Object.fromEntries(stages),
        ...result,
        ms: Math.round(performance.now() - started),
      });
      relations.inc(result.relations);
      await options.bumpGenerations(extractions.map((x) => x.tenantId));
    },
  };
}

export async function start(ctx: RoleContext): Promise<RunningRole> {
  const { config, log, health } = ctx;
  const settings = config.resolve;
  const model = requireSection(config, 'model');
  const neo4jConfig = requireSection(config, 'neo4j');
  const embedder = await ThreadedEmbedder.create(
    {
      modelDir: model.dir,
      variant: model.variant,
      intraOpNumThreads: model.threads,
      executionProvider: model.executionProvider,
    },
    { timeoutMs: model.inferenceTimeoutMs, onFatal: (error) => ctx.fatal(error) },
  );
  const driver = createNeo4jDriver(neo4jConfig, `engram-${config.cluster}-resolve`);
  await driver.verifyConnectivity({ database: neo4jConfig.database });
  const graph = new EntityGraph(driver, new WriteSlots(neo4jConfig.maxConcurrentWrites), {
    database: neo4jConfig.database,
    dimensions: embedder.dimensions,
    transactionTimeoutMs: neo4jConfig.transactionTimeoutMs,
    functionalRelations: settings.functionalRelations,
    importancePerMention: settings.importancePerMention,
  });
  await graph.ensureSchema();
  const redis = createRedis(requireSection(config, 'redis'), `engram-${config.cluster}-resolve`);
  health.addCheck({ name: 'redis', check: () => redisReady(redis) });
  log.info('resolution settings', { settings });
  return runConsumingRole(ctx, async () => ({
    processor: resolveProcessor({
      graph,
      embedder,
      settings,
      bumpGenerations: (tenantIds) => bumpTenantGenerations(redis, config.cluster, tenantIds),
      registry: ctx.metrics.registry,
      log,
    }),
    close: async () => {
      await embedder.close();
      await driver.close();
      await redis.quit();
    },
  }));
}
