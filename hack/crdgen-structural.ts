/**
 * Turns zod's JSON Schema (openapi-3.0 target) into a Kubernetes structural schema, or fails with
 * the path of what it cannot express. The rewrite rules:
 *  - `additionalProperties: false` beside `properties` is dropped (structural schemas prune instead);
 *  - `additionalProperties: {}` (a loose object) becomes `x-kubernetes-preserve-unknown-fields: true`;
 *  - an integer|string union becomes `x-kubernetes-int-or-string: true` with the two branches;
 *  - the +-2^53 bounds `z.int()` adds are dropped, other bounds kept;
 *  - a date-time string loses zod's regex (the API server checks the format itself);
 *  - `propertyNames` is dropped (not expressible; constrain keys with CEL instead);
 *  - `$ref`/`$defs`, other unions, `not`, `nullable` and unknown keywords are errors;
 *  - every property must carry a description (`kubectl explain` shows it).
 */
import { z } from 'zod';

export type JsonSchema = { [key: string]: unknown };

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** Keywords a structural schema node may carry; anything else zod emits is an error. */
const ALLOWED = new Set([
  'type',
  'format',
  'description',
  'title',
  'properties',
  'required',
  'items',
  'additionalProperties',
  'enum',
  'default',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
  'uniqueItems',
  'minProperties',
  'maxProperties',
  'anyOf',
]);

/** Output key order, so the generated YAML reads top-down and diffs stay small. */
const KEY_ORDER = [
  'description',
  'type',
  'format',
  'enum',
  'default',
  'minimum',
  'exclusiveMinimum',
  'maximum',
  'exclusiveMaximum',
  'multipleOf',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
  'uniqueItems',
  'minProperties',
  'maxProperties',
  'x-kubernetes-int-or-string',
  'anyOf',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'items',
  'properties',
  'additionalProperties',
  'required',
  'x-kubernetes-validations',
];

export class StructuralSchemaError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`cannot make a structural schema:\n  ${problems.join('\n  ')}`);
    this.problems = problems;
  }
}

/** zod schema -> structural JSON schema; `root` names the schema in error paths (e.g. "spec"). */
export function zodToStructural(schema: z.ZodType, root: string): JsonSchema {
  const json = z.toJSONSchema(schema, {
    target: 'openapi-3.0',
    io: 'input',
    unrepresentable: 'throw',
    cycles: 'throw',
    reused: 'inline',
  }) as JsonSchema;
  delete json['$schema'];
  return toStructural(json, root);
}

/** JSON schema -> structural JSON schema (pure; throws StructuralSchemaError listing every problem). */
export function toStructural(schema: JsonSchema, root: string): JsonSchema {
  const problems: string[] = [];
  const out = rewrite(schema, root, problems);
  if (problems.length > 0) throw new StructuralSchemaError(problems);
  return out;
}

function isObject(v: unknown): v is JsonSchema {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function rewrite(node: JsonSchema, path: string, problems: string[]): JsonSchema {
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith('x-kubernetes-')) out[key] = value;
    else if (key === '$ref' || key === '$defs' || key === 'definitions')
      problems.push(`${path}: ${key} is not allowed in a CRD; build the schema with reused: 'inline'`);
    else if (key === 'propertyNames') continue;
    else if (!ALLOWED.has(key)) problems.push(`${path}: unsupported keyword ${key}`);
    else out[key] = value;
  }

  if (Array.isArray(out['anyOf'])) rewriteUnion(out, path, problems);

  if (out['type'] === 'integer') dropSafeIntegerBounds(out);
  if (out['format'] === 'date-time') delete out['pattern'];

  if (out['type'] === 'object' && out['x-kubernetes-int-or-string'] !== true)
    rewriteObject(out, path, problems);

  if (out['type'] === 'array') {
    if (isObject(out['items'])) out['items'] = rewrite(out['items'], `${path}[]`, problems);
    else problems.push(`${path}: an array needs a single items schema`);
  }

  if (
    out['type'] === undefined &&
    out['x-kubernetes-int-or-string'] !== true &&
    out['x-kubernetes-preserve-unknown-fields'] !== true
  ) {
    problems.push(`${path}: no type (structural schemas need one on every node)`);
  }
  return ordered(out);
}

function dropSafeIntegerBounds(node: JsonSchema): void {
  if (node['minimum'] === -MAX_SAFE) delete node['minimum'];
  if (node['maximum'] === MAX_SAFE) delete node['maximum'];
}

/** Only integer|string unions exist in Kubernetes schemas (IntOrString); anything else is refused. */
function rewriteUnion(node: JsonSchema, path: string, problems: string[]): void {
  const branches = node['anyOf'] as unknown[];
  const types = branches.map((b) => (isObject(b) ? b['type'] : undefined));
  if (branches.length !== 2 || !types.includes('integer') || !types.includes('string')) {
    problems.push(`${path}: only integer|string unions are supported (got ${JSON.stringify(types)})`);
    return;
  }
  // The API server accepts only bare {type} branches: hoist their value checks to the node, where
  // string checks (maxLength, pattern) ignore integers and numeric ones (minimum) ignore strings.
  node['anyOf'] = branches.map((b, i) => {
    const branch = { ...(b as JsonSchema) };
    if (branch['type'] === 'integer') dropSafeIntegerBounds(branch);
    for (const [k, v] of Object.entries(branch)) {
      if (k === 'type') continue;
      if (['description', 'default', 'nullable', 'additionalProperties', 'type'].includes(k) || k in node) {
        problems.push(`${path}.anyOf[${i}]: ${k} cannot be hoisted out of the integer|string union`);
      } else node[k] = v;
    }
    return { type: branch['type'] };
  });
  node['x-kubernetes-int-or-string'] = true;
}

function rewriteObject(node: JsonSchema, path: string, problems: string[]): void {
  const props = isObject(node['properties']) ? node['properties'] : undefined;
  const extra = node['additionalProperties'];
  const hasProps = props !== undefined && Object.keys(props).length > 0;

  if (isObject(extra) && Object.keys(extra).length === 0) {
    // A loose object: keep whatever users put there.
    delete node['additionalProperties'];
    node['x-kubernetes-preserve-unknown-fields'] = true;
  } else if (extra === false || extra === undefined) {
    delete node['additionalProperties'];
  } else if (isObject(extra)) {
    if (hasProps) problems.push(`${path}: properties and additionalProperties cannot both be set`);
    node['additionalProperties'] = rewrite(extra, `${path}{}`, problems);
  }

  if (props === undefined) {
    delete node['properties'];
    return;
  }
  if (!hasProps) {
    delete node['properties'];
    if (node['x-kubernetes-preserve-unknown-fields'] !== true && !isObject(node['additionalProperties'])) {
      problems.push(`${path}: an object without properties must be a map or preserve unknown fields`);
    }
    return;
  }
  const outProps: JsonSchema = {};
  for (const [name, child] of Object.entries(props)) {
    const childPath = `${path}.${name}`;
    if (!isObject(child)) {
      problems.push(`${childPath}: not a schema`);
      continue;
    }
    if (typeof child['description'] !== 'string' || child['description'].trim() === '') {
      problems.push(`${childPath}: no description (add .describe() to the zod field)`);
    }
    outProps[name] = rewrite(child, childPath, problems);
  }
  node['properties'] = outProps;
}

function ordered(node: JsonSchema): JsonSchema {
  const rank = (k: string) => {
    const i = KEY_ORDER.indexOf(k);
    return i === -1 ? KEY_ORDER.length : i;
  };
  const keys = Object.keys(node).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  return Object.fromEntries(keys.map((k) => [k, node[k]]));
}
