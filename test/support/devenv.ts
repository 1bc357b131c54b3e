/**
 * Access to the local environment (`make devenv`) for integration tests.
 * Reads `.devenv/env`, the contract file a running environment writes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const envFile = join(repoRoot, '.devenv', 'env');

export interface DevEnv {
  KUBECONFIG: string;
  KAFKA_BROKERS: string;
  NEO4J_URI: string;
  NEO4J_USER: string;
  NEO4J_PASSWORD: string;
  REDIS_URL: string;
  KUBECTL: string;
  [key: string]: string;
}

/** Parses the `export KEY=value` lines written by hack/devenv. */
export function readDevEnv(file = envFile): DevEnv | undefined {
  if (!existsSync(file)) return undefined;
  const env: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^(?:export\s+)?([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m || m[2]!.includes('$')) continue;
    env[m[1]!] = m[2]!.replace(/^'(.*)'$/, '$1').replace(/^"(.*)"$/, '$1');
  }
  return env as DevEnv;
}

/**
 * Returns the environment or throws with what to do: integration tests never skip, so a
 * missing server is a failure in CI and on a laptop alike (`make test` starts it).
 */
export function requireDevEnv(): DevEnv {
  const env = readDevEnv();
  if (env) return env;
  throw new Error(`local environment not running (${envFile} missing): run \`make devenv\` first`);
}
