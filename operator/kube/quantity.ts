/**
 * Kubernetes resource quantities, parsed exactly. Every form the API server accepts (binary and
 * decimal suffixes, decimal exponents, signs, "0.7", ".5", "5.") becomes an integer number of
 * nano-units (a BigInt), so "0.7" and the stored "700m" compare equal with no float rounding, and
 * a value the API server stores can always be read back.
 */

const BINARY: Readonly<Record<string, bigint>> = {
  Ki: 2n ** 10n,
  Mi: 2n ** 20n,
  Gi: 2n ** 30n,
  Ti: 2n ** 40n,
  Pi: 2n ** 50n,
  Ei: 2n ** 60n,
};
/** Decimal suffixes as powers of ten. */
const DECIMAL: Readonly<Record<string, number>> = {
  n: -9,
  u: -6,
  m: -3,
  '': 0,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
};

// <sign><number><suffix>, as k8s.io/apimachinery/pkg/api/resource defines it.
const QUANTITY = /^([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$/;

/** The unit quantities are counted in here: 10^-9 of the base unit (Kubernetes' finest precision). */
export const NANO = 1_000_000_000n;

export class QuantityError extends Error {
  constructor(value: unknown) {
    super(
      `not a Kubernetes quantity: ${JSON.stringify(value)} (use a number with an optional suffix, e.g. 500m, 2, 512Mi, 4Gi)`,
    );
    this.name = 'QuantityError';
  }
}

/** Whether a string is a quantity the API server accepts. */
export const isQuantity = (s: string): boolean => QUANTITY.test(s);

/**
 * A quantity in nano-units. Precision below a nano-unit is rounded up, as the API server does;
 * absurd exponents are refused rather than allocating huge integers.
 */
export function parseQuantity(q: string | number): bigint {
  const text = typeof q === 'number' ? String(q) : q.trim();
  const m = QUANTITY.exec(text);
  if (!m) throw new QuantityError(q);
  const [, sign, number, suffix = ''] = m as unknown as [string, string, string, string | undefined];
  const [whole = '', fraction = ''] = number.split('.');
  // The number as an integer of digits, times 10^-fraction.length.
  let digits = BigInt(`${whole || '0'}${fraction}`);
  let exponent = -fraction.length;
  let factor = 1n;
  if (suffix in BINARY) factor = BINARY[suffix]!;
  else if (suffix in DECIMAL) exponent += DECIMAL[suffix]!;
  else exponent += Number(suffix.slice(1));
  if (Math.abs(exponent) > 64) throw new QuantityError(q);
  digits *= factor;
  // Scale to nano-units: multiply by 10^(exponent + 9), rounding a remainder up.
  const scale = exponent + 9;
  let nano: bigint;
  if (scale >= 0) nano = digits * 10n ** BigInt(scale);
  else {
    const div = 10n ** BigInt(-scale);
    nano = digits / div + (digits % div === 0n ? 0n : 1n);
  }
  return sign === '-' ? -nano : nano;
}

/** Exact comparison: negative, zero or positive. */
export function compareQuantities(a: string | number, b: string | number): number {
  const x = parseQuantity(a);
  const y = parseQuantity(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** A quantity in whole base units (bytes for memory), rounded up. */
export function quantityToBytes(q: string | number): number {
  const nano = parseQuantity(q);
  return Number(nano / NANO + (nano % NANO > 0n ? 1n : 0n));
}

/** Whole MiB, the unit Neo4j and Redis settings are written in here (`1024m`, `768mb`). */
export const bytesToMebibytes = (bytes: number): number => Math.max(1, Math.floor(bytes / 2 ** 20));
