/**
 * The first stage of entity resolution: a name's key. Two names with the same key are the same
 * entity of a tenant ("Northwind Analytics Inc." = "NORTHWIND ANALYTICS", "Dr. Dana Whitfield" =
 * "Dana Whitfield"); names that differ otherwise go to the vector stage.
 */

const HONORIFICS = new Set(['dr', 'mr', 'mrs', 'ms', 'mx', 'prof', 'professor', 'sir', 'dame']);
const LEGAL_SUFFIXES = new Set([
  'inc',
  'incorporated',
  'ltd',
  'limited',
  'llc',
  'llp',
  'corp',
  'corporation',
  'co',
  'plc',
  'gmbh',
  'ag',
  'sa',
  'bv',
  'nv',
]);

/** Lower case, without diacritics, punctuation, leading honorifics or trailing legal suffixes. */
export function entityKey(name: string): string {
  const words = name
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .replace(/&/g, ' and ')
    .replace(/['\u2019]s\b/g, '')
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim()
    .split(' ')
    .filter(Boolean);
  let start = 0;
  let end = words.length;
  while (end - start > 1 && HONORIFICS.has(words[start]!)) start++;
  while (end - start > 1 && LEGAL_SUFFIXES.has(words[end - 1]!)) end--;
  const key = words.slice(start, end).join(' ');
  // A name of punctuation only keeps its own spelling, so it never merges with another.
  return key === '' ? name.trim().toLowerCase() : key;
}

/** The name to show for an entity: as first written, without the honorific or legal suffix noise. */
export function displayName(name: string): string {
  return name.trim().replace(/\s+/g, ' ');
}
