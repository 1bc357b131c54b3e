/**
 * The resolve and query roles' settings: each variable's schema and fix, parsing, and the
 * operator's env output, in one place both sides import (like contract/config.ts, whose
 * conventions it follows: empty counts as unset, every problem names the variable and its fix).
 */
import { z } from 'zod';
import { RuntimeConfigError } from './config.ts';

const unit = z.coerce.number().min(0).max(1);
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const relationTypes = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.string().regex(/^[A-Za-z0-9_:-]{1,64}$/, 'expected relation types like works_at')));

interface KnowledgeVar<S extends z.ZodType> {
  env: string;
  schema: S;
  fix: string;
}
const v = <S extends z.ZodType>(env: string, schema: S, fix: string): KnowledgeVar<S> => ({
  env,
  schema,
  fix,
});

export const DEFAULT_FUNCTIONAL_RELATIONS = [
  'works_at',
  'based_in',
  'lives_in',
  'headquartered_in',
  'ceo_of',
];

export const RESOLVE_VARS = {
  matchThreshold: v(
    'ENGRAM_RESOLVE_MATCH_THRESHOLD',
    unit.default(0.92),
    'set the entity-name cosine similarity (0-1) at or above which a new name is an existing entity, e.g. 0.92',
  ),
  greyThreshold: v(
    'ENGRAM_RESOLVE_GREY_THRESHOLD',
    unit.default(0.8),
    'set the cosine similarity (0-1, at most ENGRAM_RESOLVE_MATCH_THRESHOLD) from which a match is asked of the confirmer, e.g. 0.8',
  ),
  candidates: v(
    'ENGRAM_RESOLVE_CANDIDATES',
    int(1, 100).default(5),
    'set how many nearest entities (1-100) the vector index returns per new name, e.g. 5',
  ),
  functionalRelations: v(
    'ENGRAM_RESOLVE_FUNCTIONAL_RELATIONS',
    relationTypes.default(DEFAULT_FUNCTIONAL_RELATIONS),
    'set the comma-separated relation types an entity holds one of at a time (a new target ends the old fact), e.g. "works_at,based_in"',
  ),
  importancePerMention: v(
    'ENGRAM_RESOLVE_IMPORTANCE_PER_MENTION',
    z.coerce.number().min(0).max(1000).default(1),
    'set the importance (>= 0) a new mention adds to an entity, e.g. 1',
  ),
} as const;

export const QUERY_VARS = {
  gatewaySync: v(
    'ENGRAM_QUERY_SYNC',
    z
      .enum(['true', 'false'])
      .default('false')
      .transform((x) => x === 'true'),
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

type Parsed<T extends Record<string, KnowledgeVar<z.ZodType>>> = { [K in keyof T]: z.output<T[K]['schema']> };
export type ResolveSettings = Parsed<typeof RESOLVE_VARS>;
export type QuerySettings = Parsed<typeof QUERY_VARS>;

function parseVars<T extends Record<string, KnowledgeVar<z.ZodType>>>(
  table: T,
  env: Record<string, string | undefined>,
  problems: string[],
): Parsed<T> {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(table)) {
    const raw = env[spec.env] === '' ? undefined : env[spec.env];
    const result = spec.schema.safeParse(raw);
    if (result.success) out[key] = result.data;
    else
      problems.push(
        `${spec.env} (got ${JSON.stringify(raw)}): ${result.error.issues[0]?.message ?? 'is invalid'}. Fix: ${spec.fix}`,
      );
  }
  return out as Parsed<T>;
}

export function parseResolveSettings(env: Record<string, string | undefined>): ResolveSettings {
  const problems: string[] = [];
  const s = parseVars(RESOLVE_VARS, env, problems);
  if (problems.length === 0 && s.greyThreshold > s.matchThreshold)
    problems.push(
      `ENGRAM_RESOLVE_GREY_THRESHOLD (${s.greyThreshold}) exceeds ENGRAM_RESOLVE_MATCH_THRESHOLD (${s.matchThreshold}). Fix: lower the grey threshold`,
    );
  if (problems.length > 0) throw new RuntimeConfigError(problems);
  return s;
}

export function parseQuerySettings(env: Record<string, string | undefined>): QuerySettings {
  const problems: string[] = [];
  const s = parseVars(QUERY_VARS, env, problems);
  if (problems.length === 0 && s.similarityWeight + s.recencyWeight + s.importanceWeight === 0)
    problems.push(
      'ENGRAM_QUERY_WEIGHT_* are all 0. Fix: give the similarity weight a value above 0, e.g. 0.8',
    );
  if (problems.length > 0) throw new RuntimeConfigError(problems);
  return s;
}

/** The operator's side: env entries for the settings a MemoryCluster overrides (others keep defaults). */
export function knowledgeEnv(input: {
  resolve?: Partial<ResolveSettings>;
  query?: Partial<QuerySettings>;
}): { name: string; value: string }[] {
  const out: { name: string; value: string }[] = [];
  const emit = <T extends Record<string, KnowledgeVar<z.ZodType>>>(
    table: T,
    values: Partial<Parsed<T>> = {},
  ) => {
    for (const [key, value] of Object.entries(values)) {
      if (value === undefined) continue;
      out.push({ name: table[key]!.env, value: Array.isArray(value) ? value.join(',') : String(value) });
    }
  };
  emit(RESOLVE_VARS, input.resolve);
  emit(QUERY_VARS, input.query);
  return out.sort((a, b) => a.name.localeCompare(b.name));
}
