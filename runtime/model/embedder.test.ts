import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  bucketByLength,
  contentHash,
  meanPoolNormalized,
  OnnxEmbedder,
  readModelManifest,
  threadsForCpuLimit,
} from './embedder.ts';

describe('bucketByLength', () => {
  test('sorts by length, ties in input order, and cuts at batchSize', () => {
    assert.deepEqual(bucketByLength([5, 2, 9, 2, 7], 2), [[1, 3], [0, 4], [2]]);
  });
  test('covers every index exactly once', () => {
    const lengths = Array.from({ length: 37 }, (_, i) => (i * 7919) % 13);
    const flat = bucketByLength(lengths, 8).flat();
    assert.deepEqual(
      flat.toSorted((a, b) => a - b),
      lengths.map((_, i) => i),
    );
  });
  test('no texts, no batches', () => assert.deepEqual(bucketByLength([], 4), []));
  test('refuses a batch size below 1', () => assert.throws(() => bucketByLength([1], 0), RangeError));
});

describe('meanPoolNormalized', () => {
  test('averages only unmasked tokens, then scales to unit length', () => {
    // 2 rows x 3 tokens x 2 dims; row 1 has one padding token holding junk.
    const hidden = new Float32Array([1, 0, 3, 0, 2, 0, 0, 2, 0, 4, 100, 100]);
    const mask = new BigInt64Array([1n, 1n, 1n, 1n, 1n, 0n]);
    const [a, b] = meanPoolNormalized(hidden, mask, 2, 3, 2);
    assert.deepEqual([...a!], [1, 0]);
    assert.deepEqual([...b!], [0, 1]);
  });
  test('a zero vector stays zero instead of NaN', () => {
    const [v] = meanPoolNormalized(new Float32Array(4), new BigInt64Array([1n, 1n]), 1, 2, 2);
    assert.deepEqual([...v!], [0, 0]);
  });
  test('rejects mismatched shapes', () => {
    assert.throws(() => meanPoolNormalized(new Float32Array(5), new BigInt64Array(2), 1, 2, 2), RangeError);
  });
});

describe('contentHash', () => {
  test('is sha256 hex of model id, NUL, text', () => {
    // Python: hashlib.sha256(b'm/fp32\x00hello').hexdigest()
    assert.equal(
      contentHash('hello', 'm/fp32'),
      '94f61eaefed252c6cb59a75d7487f3f4f09908703678aa66942c263d6d26ac50',
    );
  });
  test('changes with the model id and keeps id/text boundaries apart', () => {
    assert.notEqual(contentHash('hello', 'm/fp32'), contentHash('hello', 'm/int8'));
    assert.notEqual(contentHash('bc', 'a'), contentHash('c', 'ab'));
  });
});

describe('threadsForCpuLimit', () => {
  const cases: [number | undefined, number][] = [
    [undefined, 1],
    [0.25, 1],
    [1, 1],
    [1.5, 1],
    [2, 2],
    [8, 8],
    [Number.NaN, 1],
  ];
  for (const [cores, expected] of cases) {
    test(`${cores} cores -> ${expected} threads`, () => assert.equal(threadsForCpuLimit(cores), expected));
  }
});

describe('model directory checks', () => {
  const withDir = (fn: (dir: string) => void | Promise<void>) => async () => {
    const dir = mkdtempSync(join(tmpdir(), 'engram-embed-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  test(
    'a missing manifest tells to run the build script',
    withDir((dir) => {
      assert.throws(() => readModelManifest(dir), /run hack\/model\/build-model\.sh/);
    }),
  );

  test(
    'a manifest of the wrong shape is refused',
    withDir((dir) => {
      writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ id: 'x' }));
      assert.throws(() => readModelManifest(dir), /not a model manifest/);
    }),
  );

  test(
    'options are checked before anything is loaded',
    withDir(async (dir) => {
      await assert.rejects(OnnxEmbedder.create({ modelDir: dir, intraOpNumThreads: 0 }), /intraOpNumThreads/);
      await assert.rejects(
        OnnxEmbedder.create({ modelDir: dir, intraOpNumThreads: 1, batchSize: 0 }),
        /batchSize/,
      );
      await assert.rejects(
        OnnxEmbedder.create({ modelDir: dir, intraOpNumThreads: 1, maxLength: 513 }),
        /maxLength/,
      );
    }),
  );
});
