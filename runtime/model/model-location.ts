/**
 * Where the exported embedding model lives. hack/model/build-model.sh writes it to the same
 * path, reading the same pin (model-pin.json), so the two cannot drift apart.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import pin from './model-pin.json' with { type: 'json' };

/** Names the export recipe: a new recipe (versions, quantisation, fixtures) gets a new id. */
export const MODEL_ID: string = pin.id;
export const MODEL_DIMENSIONS: number = pin.dimensions;
/** sentence-transformers' max_seq_length for all-MiniLM-L6-v2. */
export const MODEL_MAX_LENGTH: number = pin.maxLength;

type Env = Readonly<Record<string, string | undefined>>;

/** `${ENGRAM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/engram}/model-<id>`, as the build script computes it. */
export function modelCacheDir(env: Env = process.env): string {
  const cacheHome = env['XDG_CACHE_HOME'] || join(env['HOME'] || homedir(), '.cache');
  return join(env['ENGRAM_CACHE'] || join(cacheHome, 'engram'), `model-${MODEL_ID}`);
}

/** ENGRAM_MODEL_DIR when set (images ship the model there), else the build cache. */
export function resolveModelDir(env: Env = process.env): string {
  return env['ENGRAM_MODEL_DIR'] || modelCacheDir(env);
}

/** The model directory, or an error that says how to make it. */
export function requireModelDir(env: Env = process.env): string {
  const dir = resolveModelDir(env);
  if (!existsSync(join(dir, 'manifest.json'))) {
    const source = env['ENGRAM_MODEL_DIR'] ? 'ENGRAM_MODEL_DIR' : 'the build cache';
    throw new Error(
      `embedding model not found in ${dir} (${source}, no manifest.json): run hack/model/build-model.sh`,
    );
  }
  return dir;
}
