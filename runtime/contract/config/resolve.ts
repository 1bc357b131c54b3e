/**
 * The resolve role's settings: none yet. Its variables, checks, config and env output go here, and
 * index.ts composes them like the other sections.
 */
import type { EnvOutput, Parsed } from './variables.ts';

export const RESOLVE_VARS = {} as const;

export type ResolveConfig = Record<string, never>;

export type ResolveEnvInput = Record<string, never>;

export function resolveConfig(_p: Parsed<typeof RESOLVE_VARS>): ResolveConfig {
  return {};
}

export function writeResolveEnv(_input: ResolveEnvInput | undefined, _out: EnvOutput): void {}
