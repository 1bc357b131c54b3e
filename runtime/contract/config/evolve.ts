/**
 * The evolve role's settings: none yet. Its variables, checks, config and env output go here, and
 * index.ts composes them like the other sections.
 */
import type { EnvOutput, Parsed } from './variables.ts';

export const EVOLVE_VARS = {} as const;

export type EvolveConfig = Record<string, never>;

export type EvolveEnvInput = Record<string, never>;

export function evolveConfig(_p: Parsed<typeof EVOLVE_VARS>): EvolveConfig {
  return {};
}

export function writeEvolveEnv(_input: EvolveEnvInput | undefined, _out: EnvOutput): void {}
