import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MODEL_ID, modelCacheDir, requireModelDir, resolveModelDir } from './model-location.ts';

test('the cache dir follows ENGRAM_CACHE, else XDG_CACHE_HOME, else HOME/.cache, like build-model.sh', () => {
  assert.equal(modelCacheDir({ ENGRAM_CACHE: '/e', XDG_CACHE_HOME: '/c' }), `/e/model-${MODEL_ID}`);
  assert.equal(modelCacheDir({ XDG_CACHE_HOME: '/c', HOME: '/h' }), `/c/engram/model-${MODEL_ID}`);
  assert.equal(modelCacheDir({ XDG_CACHE_HOME: '', HOME: '/h' }), `/h/.cache/engram/model-${MODEL_ID}`);
});

test('ENGRAM_MODEL_DIR wins over the cache', () => {
  assert.equal(resolveModelDir({ ENGRAM_MODEL_DIR: '/models/minilm', HOME: '/h' }), '/models/minilm');
  assert.equal(resolveModelDir({ ENGRAM_MODEL_DIR: '', HOME: '/h' }), `/h/.cache/engram/model-${MODEL_ID}`);
});

test('requireModelDir names the build script when the model is missing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'engram-model-'));
  try {
    assert.throws(() => requireModelDir({ ENGRAM_MODEL_DIR: dir }), /run hack\/model\/build-model\.sh/);
    writeFileSync(join(dir, 'manifest.json'), '{}');
    assert.equal(requireModelDir({ ENGRAM_MODEL_DIR: dir }), dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
