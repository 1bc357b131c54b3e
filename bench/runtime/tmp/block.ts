import { OnnxEmbedder } from '../../../runtime/embed/embedder.ts';
import { requireModelDir } from '../../../runtime/embed/model-location.ts';

const e = await OnnxEmbedder.create({ modelDir: requireModelDir(), intraOpNumThreads: 1 });
const texts = Array.from(
  { length: 64 },
  (_, i) =>
    `The agent remembers the meeting notes before lunch number ${i} and then some more words here about things.`,
);
await e.embed(texts);
let last = performance.now();
let maxGap = 0;
const t = setInterval(() => {
  const now = performance.now();
  maxGap = Math.max(maxGap, now - last);
  last = now;
}, 5);
const t0 = performance.now();
await e.embed(texts);
console.log('embed ms', (performance.now() - t0).toFixed(0), 'max event-loop gap ms', maxGap.toFixed(0));
clearInterval(t);
