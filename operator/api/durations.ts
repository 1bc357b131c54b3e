/**
 * Durations ("90s", "1h30m", "168h"): units h, m, s, ms, largest first, each at most once, at most
 * MAX_DURATION. The bound check must not call CEL's duration() on a value outside its range (about
 * 292 years: a conversion error would be the message), so it first checks a digit budget per unit:
 * a number with more digits alone exceeds MAX_DURATION, and the budgets together stay in range.
 */
import { celFormat, celString, checkedString, matchesCheck, type StringCheck } from './common.ts';

const UNITS = [
  { unit: 'h', ms: 3_600_000, digits: 5 },
  { unit: 'm', ms: 60_000, digits: 7 },
  { unit: 's', ms: 1000, digits: 9 },
  { unit: 'ms', ms: 1, digits: 12 },
] as const;

/** `<n>h?<n>m?<n>s?<n>ms?` with at least one part; `digits` bounds each number (leading zeros free). */
function orderedUnits(bounded: boolean): string {
  const num = (d: number) => (bounded ? `0*[0-9]{1,${d}}` : '[0-9]+');
  const alternatives = UNITS.map((first, i) =>
    [
      `${num(first.digits)}${first.unit}`,
      ...UNITS.slice(i + 1).map((u) => `(${num(u.digits)}${u.unit})?`),
    ].join(''),
  );
  return `^(${alternatives.join('|')})$`;
}

export const DURATION_PATTERN = orderedUnits(false);
/** The digit budgets: 11 + 19 + 32 + 32 years at most, inside CEL's duration range. */
const BOUNDED_DURATION_PATTERN = orderedUnits(true);

/**
 * Longest duration: 10 years, below the smallest number a digit budget refuses (100000h, 11 years),
 * so zod and CEL admit the same strings. Unlimited topic retention is config retention.ms: "-1".
 */
export const MAX_DURATION = '87600h';
export const MAX_DURATION_MS = 87600 * 3_600_000;

/** Milliseconds of a string in DURATION_PATTERN (huge digit counts only grow it, never wrap). */
export function durationMilliseconds(value: string): number {
  let total = 0;
  for (const m of value.matchAll(/([0-9]+)(ms|h|m|s)/g))
    total += Number(m[1]) * UNITS.find((u) => u.unit === m[2])!.ms;
  return total;
}

const isDuration = (v: string) => new RegExp(DURATION_PATTERN).test(v);

/** CEL: `expr` is a duration the API admits, so duration(expr) cannot fail. */
export const celIsDuration = (expr: string) =>
  `${expr}.matches(${celString(DURATION_PATTERN)}) && ${expr}.matches(${celString(BOUNDED_DURATION_PATTERN)})`;

/** A positive duration of at most MAX_DURATION. */
export function duration(what: string) {
  const format = matchesCheck(
    DURATION_PATTERN,
    `${what} must be a duration such as 90s, 30m or 168h (units h, m, s and ms, largest first, each at most once, e.g. 1h30m; write days as hours)`,
  );
  const range: StringCheck = {
    cel: `!self.matches(${celString(DURATION_PATTERN)}) || (self.matches(${celString(BOUNDED_DURATION_PATTERN)}) && duration(self) > duration('0s') && duration(self) <= duration('${MAX_DURATION}'))`,
    test: (v) =>
      !isDuration(v) || (durationMilliseconds(v) > 0 && durationMilliseconds(v) <= MAX_DURATION_MS),
    message: `${what} must be longer than 0 and at most ${MAX_DURATION} (10 years)`,
    messageExpression: celFormat(
      `${what} must be longer than 0 and at most ${MAX_DURATION} (10 years), not %s`,
      'self',
    ),
  };
  return checkedString(32, format, range);
}
