/**
 * Kubernetes label selectors in their string form (`a=b,c!=d,e in (x,y),!f`), as the HPA sends
 * an External metric's `selector` in `?labelSelector=`: parsed strictly, so a typo is a 400
 * that names it rather than a selector that silently matches everything.
 */

export type Requirement =
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | 'doesnotexist' };

export class SelectorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SelectorError';
  }
}

const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function checkKey(key: string, whole: string): string {
  const slash = key.indexOf('/');
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (!NAME.test(name) || (prefix !== undefined && (prefix.length > 253 || !PREFIX.test(prefix))))
    throw new SelectorError(
      `label selector ${JSON.stringify(whole)}: ${JSON.stringify(key)} is not a label key (a name of at most 63 alphanumerics, '-', '_' or '.', optionally prefixed by a DNS subdomain and '/')`,
    );
  return key;
}

function checkValue(value: string, whole: string): string {
  if (value !== '' && !NAME.test(value))
    throw new SelectorError(
      `label selector ${JSON.stringify(whole)}: ${JSON.stringify(value)} is not a label value (at most 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric)`,
    );
  return value;
}

/** Splits on the commas outside parentheses. */
function terms(selector: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      out.push(selector.slice(start, i));
      start = i + 1;
    }
    if (depth < 0 || depth > 1)
      throw new SelectorError(`label selector ${JSON.stringify(selector)}: unbalanced parentheses`);
  }
  if (depth !== 0)
    throw new SelectorError(`label selector ${JSON.stringify(selector)}: unbalanced parentheses`);
  out.push(selector.slice(start));
  return out.map((t) => t.trim());
}

/** Parses a selector; the empty selector is the empty list (matches everything). */
export function parseLabelSelector(selector: string): Requirement[] {
  if (selector.trim() === '') return [];
  return terms(selector).map((term): Requirement => {
    if (term === '')
      throw new SelectorError(
        `label selector ${JSON.stringify(selector)}: empty requirement (a stray comma)`,
      );
    let m = /^!\s*(\S+)$/.exec(term);
    if (m) return { key: checkKey(m[1]!, selector), op: 'doesnotexist' };
    m = /^(\S+?)\s*(==|!=|=)\s*(\S*)$/.exec(term);
    if (m)
      return {
        key: checkKey(m[1]!, selector),
        op: m[2] === '!=' ? 'notin' : 'in',
        values: [checkValue(m[3]!, selector)],
      };
    m = /^(\S+)\s+(in|notin)\s*\(([^()]*)\)$/.exec(term);
    if (m) {
      const values = m[3]!.split(',').map((v) => checkValue(v.trim(), selector));
      return { key: checkKey(m[1]!, selector), op: m[2] as 'in' | 'notin', values };
    }
    if (/^\S+$/.test(term)) return { key: checkKey(term, selector), op: 'exists' };
    throw new SelectorError(
      `label selector ${JSON.stringify(selector)}: cannot parse ${JSON.stringify(term)} (use key=value, key!=value, key in (a,b), key notin (a,b), key or !key)`,
    );
  });
}

export function matchesLabels(requirements: Requirement[], labels: Record<string, string>): boolean {
  return requirements.every((r) => {
    const has = Object.hasOwn(labels, r.key);
    if (!('values' in r)) return has === (r.op === 'exists');
    const hit = has && r.values.includes(labels[r.key]!);
    return r.op === 'in' ? hit : !hit;
  });
}
