/** A deterministic corpus of short English documents for pipeline tests (no randomness between runs). */
const SUBJECTS = [
  'The agent',
  'A memory cluster',
  'The operator',
  'Each tenant',
  'The gateway',
  'A worker',
  'The graph',
  'Redis',
];
const VERBS = ['remembers', 'stores', 'forgets', 'links', 'embeds', 'recalls', 'summarises', 'indexes'];
const OBJECTS = [
  'the meeting notes',
  'a customer complaint',
  'the quarterly plan',
  'an invoice',
  'the travel itinerary',
  'a bug report',
  'the onboarding guide',
  'a recipe for soup',
];
const TAILS = [
  'before lunch',
  'after the outage',
  'for the next sprint',
  'without asking',
  'every morning',
  'in three languages',
  'with great care',
  'on Tuesday',
];

function rng(seed: number): () => number {
  let s = Math.imul(seed, 0x9e3779b1) >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  for (let i = 0; i < 4; i++) next(); // small seeds start with small outputs: warm up
  return next;
}

/** Document `i`: 1 to 9 sentences, unique through its number. */
export function corpusDocument(i: number): string {
  const r = rng(i + 1);
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)]!;
  const n = 1 + Math.floor(r() * 9);
  return Array.from(
    { length: n },
    (_, s) => `${pick(SUBJECTS)} ${pick(VERBS)} ${pick(OBJECTS)} ${pick(TAILS)} (note ${i}.${s}).`,
  ).join(' ');
}
