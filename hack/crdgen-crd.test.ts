// Checks on the generated CRDs that the API server would only catch at run time (or never):
// every path a CRD names exists in its schema with the right type, and every CEL rule is written
// the way the cost estimator accepts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KINDS } from '../operator/api/kinds.ts';
import { buildCrd, crdFileName, openApiSchema, renderCrd } from './crdgen-crd.ts';
import type { JsonSchema } from './crdgen-structural.ts';

/** The schema node a JSONPath-like path names: `.a.b`, `[?(@.x=="y")]` and `['key']` are understood. */
function resolve(schema: JsonSchema, path: string): JsonSchema | undefined {
  let node: JsonSchema | undefined = schema;
  const tokens = path.match(/\.[A-Za-z0-9_-]+|\[\?\([^)]*\)\]|\['[^']+'\]/g) ?? [];
  assert.equal(tokens.join(''), path, `path ${path} parses`);
  for (const token of tokens) {
    if (!node) return undefined;
    if (token.startsWith('[?')) {
      node = node['items'] as JsonSchema | undefined;
      continue;
    }
    const key = token.startsWith('.') ? token.slice(1) : token.slice(2, -2);
    node = (node['properties'] as Record<string, JsonSchema> | undefined)?.[key];
  }
  return node;
}

/** Every node of a schema with its path, for walking rules. */
function* nodes(schema: JsonSchema, path = ''): Generator<[string, JsonSchema]> {
  yield [path, schema];
  for (const [k, child] of Object.entries((schema['properties'] as Record<string, JsonSchema>) ?? {})) {
    yield* nodes(child, `${path}.${k}`);
  }
  if (schema['items']) yield* nodes(schema['items'] as JsonSchema, `${path}[]`);
  const extra = schema['additionalProperties'];
  if (extra && typeof extra === 'object') yield* nodes(extra as JsonSchema, `${path}{}`);
}

interface Rule {
  rule: string;
  message?: string;
  messageExpression?: string;
  fieldPath?: string;
}

for (const def of KINDS) {
  describe(`${def.kind} CRD`, () => {
    const crd = buildCrd(def) as {
      spec: { names: Record<string, unknown>; versions: Array<Record<string, unknown>> };
    };
    const version = crd.spec.versions[0]!;
    const schema = openApiSchema(def);

    it('is namespaced in category engram with its short name, a status subresource and /scale only for pools', () => {
      assert.deepEqual(crd.spec.names['categories'], ['engram']);
      assert.deepEqual(crd.spec.names['shortNames'], def.shortNames);
      const sub = version['subresources'] as Record<string, unknown>;
      assert.deepEqual(sub['status'], {});
      assert.equal('scale' in sub, def.kind === 'WorkerPool');
    });

    it('names only schema fields of the right type in printer columns', () => {
      for (const col of def.printerColumns) {
        if (col.jsonPath === '.metadata.creationTimestamp') continue;
        const node = resolve(schema, col.jsonPath);
        assert.ok(node, `${col.name}: ${col.jsonPath} exists`);
        const want = col.type === 'date' ? 'string' : col.type;
        assert.equal(node['type'], want, `${col.name}: ${col.jsonPath} is ${want}`);
      }
    });

    it('names only scalar schema fields as selectable fields, and existing paths for /scale', () => {
      for (const path of def.selectableFields) {
        assert.ok(['string', 'integer', 'boolean'].includes(String(resolve(schema, path)?.['type'])), path);
      }
      if (def.scale) {
        assert.equal(resolve(schema, def.scale.specReplicasPath)?.['type'], 'integer');
        assert.equal(resolve(schema, def.scale.statusReplicasPath)?.['type'], 'integer');
        assert.equal(resolve(schema, def.scale.labelSelectorPath)?.['type'], 'string');
        assert.ok(
          resolve(schema, def.scale.specReplicasPath)?.['default'] !== undefined,
          '/scale needs a value',
        );
      }
    });

    it('writes CEL rules the API server accepts: messages, fieldPaths that exist, bounded message costs', () => {
      let count = 0;
      for (const [path, node] of nodes(schema)) {
        for (const r of (node['x-kubernetes-validations'] as Rule[] | undefined) ?? []) {
          count++;
          assert.ok(
            r.message && r.message.length > 20,
            `${path}: rule ${r.rule} has a message a person can act on`,
          );
          if (r.fieldPath && path !== '')
            assert.ok(resolve(node, r.fieldPath), `${path}: fieldPath ${r.fieldPath} exists`);
          if (r.messageExpression) {
            // `'..' + string(x)` has an unbounded estimated cost; format() does not.
            assert.doesNotMatch(
              r.messageExpression,
              /\+\s*string\(/,
              `${path}: use celFormat in messageExpression`,
            );
          }
          if (/\boldSelf\b/.test(r.messageExpression ?? ''))
            assert.match(r.rule, /\boldSelf\b/, `${path}: transition rule`);
        }
      }
      assert.ok(count >= 5, `${def.kind} has ${count} rules`);
    });

    it('bounds every string, list and map a CEL rule could touch (spec only)', () => {
      const spec = (schema['properties'] as Record<string, JsonSchema>)['spec']!;
      for (const [path, node] of nodes(spec, '.spec')) {
        if (node['type'] === 'string' && !node['enum']) assert.ok(node['maxLength'], `${path} has maxLength`);
        if (node['type'] === 'array') assert.ok(node['maxItems'], `${path} has maxItems`);
        if (node['type'] === 'object' && node['additionalProperties'])
          assert.ok(node['maxProperties'], `${path} has maxProperties`);
      }
    });

    it('keys list-maps by required fields', () => {
      for (const [path, node] of nodes(schema)) {
        if (node['x-kubernetes-list-type'] !== 'map') continue;
        const item = node['items'] as JsonSchema;
        for (const key of node['x-kubernetes-list-map-keys'] as string[]) {
          assert.ok((item['required'] as string[]).includes(key), `${path}: list-map key ${key} is required`);
        }
      }
    });

    it('renders deterministically to its file name', () => {
      assert.equal(renderCrd(def), renderCrd(def));
      assert.match(crdFileName(def), /^engram\.dev_[a-z]+\.yaml$/);
      assert.match(renderCrd(def), /^# Generated by hack\/generate-crds\.ts/);
    });
  });
}
