/**
 * Does a live object already match the desired one? Two questions, both needed:
 * - does the live object carry every desired field with the desired value (fields others added,
 *   labels, sidecars and server defaults are ignored, so the operator never fights other managers);
 * - does it still carry a field the operator applied earlier but no longer wants? Server-side apply
 *   removes such a field only when we apply again, so it is found through the object's
 *   managedFields: the fields our field manager owns that the desired object lacks.
 * Either answer means one apply; an unchanged world means none.
 */
import { isQuantity, parseQuantity } from './quantity.ts';

/** The API server canonicalises quantities ("1024Mi" is stored as "1Gi", "0.7" as "700m"): compare exactly. */
function sameLeaf(want: unknown, have: unknown): boolean {
  if (want === have) return true;
  if (typeof want === 'string' && typeof have === 'string' && isQuantity(want) && isQuantity(have)) {
    return parseQuantity(want) === parseQuantity(have);
  }
  return false;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Returns the path of the first desired field the live object lacks or differs in, else undefined. */
export function firstDrift(desired: unknown, live: unknown, path = ''): string | undefined {
  if (isObject(desired)) {
    if (!isObject(live)) return path || '.';
    for (const [k, v] of Object.entries(desired)) {
      if (v === undefined) continue;
      const d = firstDrift(v, live[k], `${path}.${k}`);
      if (d) return d;
    }
    return undefined;
  }
  if (Array.isArray(desired)) {
    if (!Array.isArray(live)) return path;
    // Lists of named items (containers, env, ports, volumes) merge by name: others may add items.
    if (desired.every((d) => isObject(d) && typeof d.name === 'string')) {
      for (const d of desired as Array<Record<string, unknown>>) {
        const match = live.find((l) => isObject(l) && l.name === d.name);
        const drift = firstDrift(d, match, `${path}[${String(d.name)}]`);
        if (drift) return drift;
      }
      return undefined;
    }
    if (desired.length !== live.length) return `${path}[]`;
    for (let i = 0; i < desired.length; i++) {
      const d = firstDrift(desired[i], live[i], `${path}[${i}]`);
      if (d) return d;
    }
    return undefined;
  }
  return sameLeaf(desired, live) ? undefined : path;
}

interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  subresource?: string;
  fieldsV1?: Record<string, unknown>;
}

/** The fields (managedFields fieldsV1 tree) `manager` owns through server-side apply on the main resource. */
export function appliedFields(live: { metadata: Record<string, unknown> }, manager: string) {
  const entries = (live.metadata.managedFields ?? []) as ManagedFieldsEntry[];
  return entries.find((e) => e.manager === manager && e.operation === 'Apply' && !e.subresource)?.fieldsV1;
}

/** Does a list item carry every key field of a managedFields `k:{...}` entry? */
function matchesKey(item: unknown, key: Record<string, unknown>): boolean {
  if (!isObject(item)) return false;
  // A key field the desired item leaves out is one the server defaulted (protocol: TCP): it matches.
  return Object.entries(key).every(([k, v]) => item[k] === undefined || String(item[k]) === String(v));
}

/**
 * The path of the first field in `owned` (a fieldsV1 tree) that `desired` no longer has, else
 * undefined: applying `desired` again is what makes the server remove it.
 */
export function firstRemoval(desired: unknown, owned: unknown, path = ''): string | undefined {
  if (!isObject(owned)) return undefined;
  for (const [entry, sub] of Object.entries(owned)) {
    if (entry === '.') continue;
    const kind = entry.slice(0, 2);
    const rest = entry.slice(2);
    if (kind === 'f:') {
      const value = isObject(desired) ? desired[rest] : undefined;
      if (value === undefined) return `${path}.${rest}`;
      const d = firstRemoval(value, sub, `${path}.${rest}`);
      if (d) return d;
    } else if (kind === 'k:') {
      const key = JSON.parse(rest) as Record<string, unknown>;
      const item = Array.isArray(desired) ? desired.find((i) => matchesKey(i, key)) : undefined;
      if (item === undefined) return `${path}[${rest}]`;
      const d = firstRemoval(item, sub, `${path}[${rest}]`);
      if (d) return d;
    } else if (kind === 'v:') {
      const value = JSON.parse(rest) as unknown;
      if (!Array.isArray(desired) || !desired.some((i) => sameLeaf(i, value))) return `${path}[${rest}]`;
    }
    // i:<index> entries (positional lists) cannot be told apart from the value; they are re-applied whole.
  }
  return undefined;
}

/** Why `live` needs an apply of `desired` by `manager` (the first differing path), else undefined. */
export function applyNeeded(
  desired: unknown,
  live: { metadata: Record<string, unknown> },
  manager: string,
): string | undefined {
  return firstDrift(desired, live) ?? firstRemoval(desired, appliedFields(live, manager));
}
