/**
 * Which entities of a tenant merge into which: near-duplicate pairs (cosine of name embeddings at
 * or above the threshold) join groups, and each group merges into its oldest member, so one run
 * leaves no pair above the threshold and a second run finds nothing to merge.
 */

export interface EntityAge {
  key: string;
  /** First sight (ms since epoch); the older entity is kept. */
  firstSeen: number;
}

export interface SimilarPair {
  a: EntityAge;
  b: EntityAge;
  /** Cosine of the two name embeddings. */
  similarity: number;
}

export interface Merge {
  keep: string;
  merged: string;
  similarity: number;
}

const older = (x: EntityAge, y: EntityAge) =>
  x.firstSeen !== y.firstSeen ? x.firstSeen < y.firstSeen : x.key < y.key;

/** Groups the pairs (union-find) and names, per group, the oldest entity and what merges into it. */
export function planMerges(pairs: readonly SimilarPair[]): Merge[] {
  const parent = new Map<string, string>();
  const ages = new Map<string, EntityAge>();
  const best = new Map<string, number>();
  const root = (k: string): string => {
    let r = k;
    while (parent.get(r) !== r) r = parent.get(r)!;
    parent.set(k, r);
    return r;
  };
  for (const { a, b, similarity } of pairs) {
    for (const e of [a, b]) {
      if (!parent.has(e.key)) parent.set(e.key, e.key);
      ages.set(e.key, e);
      best.set(e.key, Math.max(best.get(e.key) ?? -1, similarity));
    }
    const ra = root(a.key);
    const rb = root(b.key);
    if (ra === rb) continue;
    // The group's root is its oldest member.
    if (older(ages.get(ra)!, ages.get(rb)!)) parent.set(rb, ra);
    else parent.set(ra, rb);
  }
  const merges: Merge[] = [];
  for (const key of [...parent.keys()].sort()) {
    const keep = root(key);
    if (keep !== key) merges.push({ keep, merged: key, similarity: best.get(key)! });
  }
  return merges;
}
