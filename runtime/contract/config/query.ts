/**
 * The query role's settings (also read by a gateway with ENGRAM_QUERY_SYNC=true): search
 * over-fetch, expansion, ranking weights and the result cache (runtime/roles/query).
 */
import { z } from 'zod';
import { bool, type EnvOutput, int, type Parsed, v } from './variables.ts';

const unit = z.coerce.number().min(0).max(1);

export const QUERY_VARS = {
  gatewaySync: v(
    'ENGRAM_QUERY_SYNC',
    bool.default(false),
    'set it to "true" on the gateway to answer POST /v1/tenants/{tenant}/query in the request (needs ENGRAM_NEO4J_URI, ENGRAM_NEO4J_PASSWORD and ENGRAM_MODEL_DIR), or "false"',
  ),
  overfetch: v(
    'ENGRAM_QUERY_OVERFETCH',
    int(1, 50).default(4),
    'set how many times topK (1-50) candidates the vector search fetches before filtering archived ones, e.g. 4',
  ),
  hops: v('ENGRAM_QUERY_HOPS', int(1, 2).default(2), 'set 1 (chunks -> entities) or 2 (-> related entities)'),
  fanout: v(
    'ENGRAM_QUERY_FANOUT',
    int(1, 100).default(8),
    'set the most entities per chunk and relations per entity (1-100) the expansion follows, e.g. 8',
  ),
  similarityWeight: v('ENGRAM_QUERY_WEIGHT_SIMILARITY', unit.default(0.8), 'set a weight between 0 and 1'),
  recencyWeight: v('ENGRAM_QUERY_WEIGHT_RECENCY', unit.default(0.1), 'set a weight between 0 and 1'),
  importanceWeight: v('ENGRAM_QUERY_WEIGHT_IMPORTANCE', unit.default(0.1), 'set a weight between 0 and 1'),
  recencyHalfLifeDays: v(
    'ENGRAM_QUERY_RECENCY_HALF_LIFE_DAYS',
    z.coerce.number().positive().max(36_500).default(30),
    'set the age in days (> 0) at which recency counts half, e.g. 30',
  ),
  cacheTtlSeconds: v(
    'ENGRAM_QUERY_CACHE_TTL_SECONDS',
    int(0, 86_400).default(300),
    'set how long a query result is cached in seconds (0-86400; 0 disables the cache)',
  ),
  resultTtlSeconds: v(
    'ENGRAM_QUERY_RESULT_TTL_SECONDS',
    int(60, 7 * 86_400).default(3600),
    'set how long an asynchronous query result stays retrievable, in seconds (60-604800)',
  ),
} as const;

export type QueryConfig = Parsed<typeof QUERY_VARS>;

export type QueryEnvInput = Partial<QueryConfig>;

export function checkQuery(p: Parsed<typeof QUERY_VARS>): string[] {
  if (p.similarityWeight + p.recencyWeight + p.importanceWeight === 0)
    return ['ENGRAM_QUERY_WEIGHT_* are all 0. Fix: give the similarity weight a value above 0, e.g. 0.8'];
  return [];
}

export function queryConfig(p: Parsed<typeof QUERY_VARS>): QueryConfig {
  return p;
}

export function writeQueryEnv(input: QueryEnvInput | undefined, out: EnvOutput): void {
  out.setEach(QUERY_VARS, input);
}
