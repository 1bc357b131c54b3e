/**
 * The embed role's inference thread with the real model: a call past its deadline fails as
 * transient at the deadline (counted against its messages, never hanging the worker), and the
 * thread goes on answering once the overdue run is over, with the model's vectors.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { classifyFailure } from '../../runtime/core/errors.ts';
import { OnnxEmbedder } from '../../runtime/model/embedder.ts';
import { ThreadedEmbedder } from '../../runtime/roles/embed/inference-thread.ts';
import { eventually } from '../support/wait.ts';
import { cosine, modelDir } from './fixtures.ts';

describe('ThreadedEmbedder deadline', () => {
  test('a call past the deadline fails as transient at the deadline, and the thread keeps answering', async () => {
    let fatal: Error | undefined;
    let timeouts = 0;
    const embedder = await ThreadedEmbedder.create(
      { modelDir, intraOpNumThreads: 1 },
      {
        timeoutMs: 300,
        onFatal: (e) => {
          fatal = e;
        },
        onTimeout: () => void timeouts++,
      },
    );
    const reference = await OnnxEmbedder.create({ modelDir, intraOpNumThreads: 1 });
    try {
      // Well over 300 ms of work on one thread: 64 texts of ~250 tokens.
      const slow = Array.from({ length: 64 }, (_, i) => `${i} ${'memory graph cluster tenant '.repeat(60)}`);
      const t0 = performance.now();
      const err = await embedder.embed(slow).then(
        () => undefined,
        (e: unknown) => e,
      );
      const waited = performance.now() - t0;
      assert.ok(err instanceof Error, 'the slow call failed');
      assert.equal(classifyFailure(err), 'transient');
      assert.match(err.message, /did not finish within 300 ms \(ENGRAM_INFERENCE_TIMEOUT_MS\)/);
      assert.ok(
        waited < 5000,
        `it failed at its deadline, not when the work ended (${waited.toFixed(0)} ms)`,
      );
      assert.equal(timeouts, 1);

      const [v] = await eventually(
        'the thread answers again',
        () => embedder.embed(['the agent remembers the meeting notes']).catch(() => undefined),
        { timeoutMs: 60_000 },
      );
      const [want] = await reference.embed(['the agent remembers the meeting notes']);
      assert.ok(cosine(v!, want!) > 0.9999, 'the fresh thread embeds with the same model');
      assert.equal(fatal, undefined, 'a deadline is not fatal');
    } finally {
      await embedder.close();
      await reference.close();
    }
  });
});
