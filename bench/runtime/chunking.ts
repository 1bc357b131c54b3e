/**
 * Chunking time next to its floor, in one run, for texts that used to make it quadratic.
 *
 *   floor: one pass of the same token counter over the whole text (what any chunker must do).
 *   chunk: chunkText with the ingest role's settings (254 tokens, 32 overlap, the char bound).
 *
 * Linear chunking keeps the ratio flat as the text doubles; a quadratic one doubles it. Before
 * the galloping split, 256 KiB of "a." took 7.5 s (model tokenizer) and one 256 KiB word 0.53 s
 * (estimate) on the 2-core dev machine.
 *
 * Usage: node bench/runtime/chunking.ts [--counter model|estimate] [--max-kib 512]
 * Needs the model (hack/model/build-model.sh) for --counter model.
 */
import { parseArgs } from 'node:util';
import { requireModelDir } from '../../runtime/model/model-location.ts';
import { chunkText, estimateTokens, type TokenCounter } from '../../runtime/roles/ingest/chunker.ts';
import { loadTokenCounter } from '../../runtime/roles/ingest/token-counter.ts';

const { values: args } = parseArgs({
  options: {
    counter: { type: 'string', default: 'model' },
    'max-kib': { type: 'string', default: '512' },
  },
});
const count: TokenCounter =
  args.counter === 'model' ? await loadTokenCounter(requireModelDir()) : estimateTokens;
const maxKib = Number(args['max-kib']);

const SHAPES: Record<string, (chars: number) => string> = {
  prose: (n) => 'The agent remembers the meeting notes before lunch. '.repeat(Math.ceil(n / 52)).slice(0, n),
  '"a." word': (n) => 'a.'.repeat(n / 2),
  'one long word': (n) => 'a'.repeat(n),
  'control characters': (n) => '\u0001'.repeat(n),
};

const time = (fn: () => unknown) => {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
};

process.stdout.write('shape                 KiB   floor ms   chunk ms   ratio   chunks\n');
for (const [shape, make] of Object.entries(SHAPES)) {
  for (let kib = 64; kib <= maxKib; kib *= 2) {
    const text = make(kib * 1024);
    count(text.slice(0, 1000)); // warm the tokenizer's code paths
    const floor = time(() => count(text));
    let chunks = 0;
    const ms = time(() => {
      chunks = chunkText(text, { maxTokens: 254, overlapTokens: 32, countTokens: count }).length;
    });
    process.stdout.write(
      `${shape.padEnd(20)} ${String(kib).padStart(5)} ${floor.toFixed(1).padStart(10)} ${ms.toFixed(1).padStart(10)} ${(ms / Math.max(floor, 0.1)).toFixed(1).padStart(7)} ${String(chunks).padStart(8)}\n`,
    );
  }
}
