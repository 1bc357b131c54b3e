/**
 * The evolve role: decay, archival and consolidation of each tenant's memories, and the schedule
 * that requests them. A tenant's half-life and archive-after come from the quotas file the
 * operator writes from TenantMemory.spec.retention (ENGRAM_TENANT_QUOTAS_FILE, see tenants.ts);
 * the values here are the defaults for tenants without one.
 */
import { z } from 'zod';
import { type EnvOutput, int, type Parsed, v } from './variables.ts';

export const EVOLVE_VARS = {
  evolveIntervalSeconds: v(
    'ENGRAM_EVOLVE_INTERVAL_SECONDS',
    int(0, 31_536_000).default(3600),
    'set how often (seconds) each evolve worker requests an evolution of every tenant it finds in Neo4j, or 0 to only serve requests produced elsewhere',
  ),
  evolveHalfLifeSeconds: v(
    'ENGRAM_EVOLVE_HALF_LIFE_SECONDS',
    z.coerce.number().positive().max(3_153_600_000).default(2_592_000),
    'set the default half-life of importance in seconds (> 0), e.g. 2592000 for 30 days',
  ),
  evolveArchiveBelow: v(
    'ENGRAM_EVOLVE_ARCHIVE_BELOW',
    z.coerce.number().min(0).max(1000).default(0.05),
    'set the decayed importance below which an item is archived (>= 0), e.g. 0.05',
  ),
  evolveMergeSimilarity: v(
    'ENGRAM_EVOLVE_MERGE_SIMILARITY',
    z.coerce.number().min(0.5).max(1).default(0.95),
    'set the cosine of entity-name embeddings from which two entities of a tenant are merged (0.5-1), e.g. 0.95',
  ),
  evolveBatchSize: v(
    'ENGRAM_EVOLVE_BATCH_SIZE',
    int(10, 100_000).default(1000),
    'set how many nodes one evolution transaction updates (10-100000)',
  ),
} as const;

export interface EvolveConfig {
  /** 0: no scheduler in this process. */
  intervalMs: number;
  halfLifeMs: number;
  archiveBelow: number;
  mergeSimilarity: number;
  batchSize: number;
}

export type EvolveEnvInput = Partial<EvolveConfig>;

export function evolveConfig(p: Parsed<typeof EVOLVE_VARS>): EvolveConfig {
  return {
    intervalMs: p.evolveIntervalSeconds * 1000,
    halfLifeMs: p.evolveHalfLifeSeconds * 1000,
    archiveBelow: p.evolveArchiveBelow,
    mergeSimilarity: p.evolveMergeSimilarity,
    batchSize: p.evolveBatchSize,
  };
}

export function writeEvolveEnv(input: EvolveEnvInput | undefined, out: EnvOutput): void {
  if (!input) return;
  out.set(
    EVOLVE_VARS.evolveIntervalSeconds,
    input.intervalMs === undefined ? undefined : input.intervalMs / 1000,
  );
  out.set(
    EVOLVE_VARS.evolveHalfLifeSeconds,
    input.halfLifeMs === undefined ? undefined : input.halfLifeMs / 1000,
  );
  out.set(EVOLVE_VARS.evolveArchiveBelow, input.archiveBelow);
  out.set(EVOLVE_VARS.evolveMergeSimilarity, input.mergeSimilarity);
  out.set(EVOLVE_VARS.evolveBatchSize, input.batchSize);
}
