/**
 * The extract role's settings: none yet. Its variables, checks, config and env output go here, and
 * index.ts composes them like the other sections.
 */
import type { EnvOutput, Parsed } from './variables.ts';

export const EXTRACT_VARS = {} as const;

export type ExtractConfig = Record<string, never>;

export type ExtractEnvInput = Record<string, never>;

export function extractConfig(_p: Parsed<typeof EXTRACT_VARS>): ExtractConfig {
  return {};
}

export function writeExtractEnv(_input: ExtractEnvInput | undefined, _out: EnvOutput): void {}
