/**
 * The query role's settings: none yet. Its variables, checks, config and env output go here, and
 * index.ts composes them like the other sections.
 */
import type { EnvOutput, Parsed } from './variables.ts';

export const QUERY_VARS = {} as const;

export type QueryConfig = Record<string, never>;

export type QueryEnvInput = Record<string, never>;

export function queryConfig(_p: Parsed<typeof QUERY_VARS>): QueryConfig {
  return {};
}

export function writeQueryEnv(_input: QueryEnvInput | undefined, _out: EnvOutput): void {}
