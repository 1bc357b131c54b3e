/**
 * The resolve role's settings: the thresholds of the resolution cascade, the functional relation
 * types and the importance a mention adds (runtime/roles/resolve).
 */
import { z } from 'zod';
import { type EnvOutput, int, type Parsed, v } from './variables.ts';

const unit = z.coerce.number().min(0).max(1);
const relationTypes = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim().toLowerCase())
      .filter(Boolean),
  )
  .pipe(z.array(z.string().regex(/^[a-z0-9_:-]{1,64}$/, 'expected relation types like works_at')));

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

export type ResolveConfig = Parsed<typeof RESOLVE_VARS>;

export type ResolveEnvInput = Partial<Omit<ResolveConfig, 'functionalRelations'>> & {
  functionalRelations?: string[];
};

export function checkResolve(p: Parsed<typeof RESOLVE_VARS>): string[] {
  if (p.greyThreshold > p.matchThreshold)
    return [
      `ENGRAM_RESOLVE_GREY_THRESHOLD (${p.greyThreshold}) exceeds ENGRAM_RESOLVE_MATCH_THRESHOLD (${p.matchThreshold}). Fix: lower the grey threshold`,
    ];
  return [];
}

export function resolveConfig(p: Parsed<typeof RESOLVE_VARS>): ResolveConfig {
  return p;
}

export function writeResolveEnv(input: ResolveEnvInput | undefined, out: EnvOutput): void {
  if (!input) return;
  const { functionalRelations, ...plain } = input;
  out.setEach(RESOLVE_VARS, plain);
  if (functionalRelations) out.set(RESOLVE_VARS.functionalRelations, functionalRelations.join(','));
}
