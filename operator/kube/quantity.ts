/** Kubernetes quantities (binary and decimal suffixes) as numbers, and back to whole MiB. */

const SUFFIX: Readonly<Record<string, number>> = {
  '': 1,
  n: 1e-9,
  u: 1e-6,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
  m: 1e-3,
};

/** Whether a string is a Kubernetes quantity in the forms this operator writes and reads. */
export const isQuantity = (s: string): boolean => /^[0-9]+(\.[0-9]+)?([numkMGTPE]|[KMGTPE]i)?$/.test(s);

export function quantityToBytes(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = /^([0-9]+(?:\.[0-9]+)?)([a-zA-Z]*)$/.exec(q.trim());
  const factor = m ? SUFFIX[m[2]!] : undefined;
  if (!m || factor === undefined) throw new Error(`not a quantity: ${JSON.stringify(q)}`);
  return Number(m[1]) * factor;
}

/** Whole MiB, the unit Neo4j and Redis settings are written in here (`1024m`, `768mb`). */
export const bytesToMebibytes = (bytes: number): number => Math.max(1, Math.floor(bytes / 2 ** 20));
