/**
 * Does a live object already carry every field of the desired one? Fields others added
 * (labels, sidecars, server defaults) are ignored, so an unchanged world needs no write and
 * the operator never fights other managers over fields it does not set.
 */
import { isQuantity, quantityToBytes } from './quantity.ts';

/** The API server canonicalises quantities ("1024Mi" is stored as "1Gi"): compare by value. */
function sameLeaf(want: unknown, have: unknown): boolean {
  if (want === have) return true;
  if (typeof want === 'string' && typeof have === 'string' && isQuantity(want) && isQuantity(have)) {
    return quantityToBytes(want) === quantityToBytes(have);
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
