import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import {
  type JsonSchema,
  StructuralSchemaError,
  toStructural,
  zodToStructural,
} from './crdgen-structural.ts';

const SAFE = Number.MAX_SAFE_INTEGER;

/** Problems toStructural reports for `schema`, or [] when it converts. */
function problems(schema: JsonSchema): string[] {
  try {
    toStructural(schema, 'spec');
    return [];
  } catch (err) {
    if (err instanceof StructuralSchemaError) return err.problems;
    throw err;
  }
}

describe('structural rewrite rules', () => {
  const cases: Array<{ name: string; in: JsonSchema; out: JsonSchema }> = [
    {
      name: 'drops additionalProperties: false beside properties',
      in: {
        type: 'object',
        properties: { a: { type: 'string', description: 'A' } },
        additionalProperties: false,
      },
      out: { type: 'object', properties: { a: { description: 'A', type: 'string' } } },
    },
    {
      name: 'turns an empty additionalProperties (loose object) into preserve-unknown-fields',
      in: { type: 'object', properties: {}, additionalProperties: {} },
      out: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
    },
    {
      name: 'keeps a map (additionalProperties schema without properties), rewriting its values',
      in: { type: 'object', additionalProperties: { type: 'integer', minimum: -SAFE, maximum: SAFE } },
      out: { type: 'object', additionalProperties: { type: 'integer' } },
    },
    {
      name: 'turns an integer|string union into int-or-string with bare branches and hoisted checks',
      in: {
        anyOf: [
          { type: 'integer', minimum: 0, maximum: SAFE },
          { type: 'string', maxLength: 32 },
        ],
      },
      out: {
        minimum: 0,
        maxLength: 32,
        'x-kubernetes-int-or-string': true,
        anyOf: [{ type: 'integer' }, { type: 'string' }],
      },
    },
    {
      name: 'drops only the +-2^53 bounds z.int() adds',
      in: { type: 'integer', minimum: -SAFE, maximum: SAFE },
      out: { type: 'integer' },
    },
    {
      name: 'keeps real integer bounds',
      in: { type: 'integer', minimum: 1, maximum: 7 },
      out: { type: 'integer', minimum: 1, maximum: 7 },
    },
    {
      name: "drops zod's regex on a date-time string",
      in: { type: 'string', format: 'date-time', pattern: '^\\d{4}-...$' },
      out: { type: 'string', format: 'date-time' },
    },
    {
      name: 'drops propertyNames (not expressible in a CRD)',
      in: { type: 'object', propertyNames: { maxLength: 3 }, additionalProperties: { type: 'string' } },
      out: { type: 'object', additionalProperties: { type: 'string' } },
    },
    {
      name: 'passes x-kubernetes-* keys through and orders keys: description first, rules last',
      in: {
        'x-kubernetes-validations': [{ rule: 'self > 0', message: 'm' }],
        maximum: 3,
        type: 'integer',
        description: 'd',
      },
      out: {
        description: 'd',
        type: 'integer',
        maximum: 3,
        'x-kubernetes-validations': [{ rule: 'self > 0', message: 'm' }],
      },
    },
    {
      name: 'recurses into array items',
      in: {
        type: 'array',
        items: { type: 'object', properties: { a: { type: 'integer', description: 'A', minimum: -SAFE } } },
      },
      out: {
        type: 'array',
        items: { type: 'object', properties: { a: { description: 'A', type: 'integer' } } },
      },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = toStructural(c.in, 'spec');
      assert.deepEqual(got, c.out);
      assert.deepEqual(Object.keys(got), Object.keys(c.out), 'key order');
    });
  }

  const refused: Array<{ name: string; in: JsonSchema; problem: RegExp }> = [
    { name: '$ref', in: { $ref: '#/$defs/x' }, problem: /\$ref is not allowed/ },
    {
      name: '$defs',
      in: { type: 'object', properties: {}, additionalProperties: {}, $defs: {} },
      problem: /\$defs/,
    },
    {
      name: 'a union other than integer|string',
      in: { anyOf: [{ type: 'string' }, { type: 'boolean' }] },
      problem: /only integer\|string unions/,
    },
    {
      name: 'an unknown keyword',
      in: { type: 'string', contentEncoding: 'base64' },
      problem: /unsupported keyword contentEncoding/,
    },
    { name: 'a node without type', in: { description: 'x' }, problem: /no type/ },
    {
      name: 'a property without description',
      in: { type: 'object', properties: { bare: { type: 'string' } } },
      problem: /spec\.bare: no description/,
    },
    {
      name: 'properties and additionalProperties together',
      in: {
        type: 'object',
        properties: { a: { type: 'string', description: 'A' } },
        additionalProperties: { type: 'string' },
      },
      problem: /cannot both be set/,
    },
    {
      name: 'an object that is neither struct nor map',
      in: { type: 'object', properties: {} },
      problem: /without properties/,
    },
  ];
  for (const c of refused) {
    it(`refuses ${c.name}`, () => {
      const found = problems(c.in);
      assert.ok(
        found.some((p) => c.problem.test(p)),
        `expected ${c.problem} in ${JSON.stringify(found)}`,
      );
    });
  }

  it('reports every problem at once, with paths', () => {
    const found = problems({
      type: 'object',
      properties: { a: { type: 'string' }, b: { type: 'object', properties: { c: { type: 'integer' } } } },
    });
    assert.deepEqual(found, [
      'spec.a: no description (add .describe() to the zod field)',
      'spec.b: no description (add .describe() to the zod field)',
      'spec.b.c: no description (add .describe() to the zod field)',
    ]);
  });
});

describe('zodToStructural', () => {
  it('converts a zod object with defaults, enums, maps, int-or-string and CEL rules', () => {
    const schema = z
      .object({
        policy: z.enum(['Retain', 'Delete']).default('Retain').describe('Policy.'),
        size: z
          .union([z.int().min(0), z.string().max(8)])
          .optional()
          .describe('Size.'),
        labels: z.record(z.string(), z.string()).optional().describe('Labels.'),
        count: z
          .int()
          .min(1)
          .meta({ 'x-kubernetes-validations': [{ rule: 'self <= 3', message: 'at most 3' }] })
          .describe('Count.'),
      })
      .describe('Spec.');
    assert.deepEqual(zodToStructural(schema, 'spec'), {
      description: 'Spec.',
      type: 'object',
      properties: {
        policy: { description: 'Policy.', type: 'string', enum: ['Retain', 'Delete'], default: 'Retain' },
        size: {
          description: 'Size.',
          minimum: 0,
          maxLength: 8,
          'x-kubernetes-int-or-string': true,
          anyOf: [{ type: 'integer' }, { type: 'string' }],
        },
        labels: { description: 'Labels.', type: 'object', additionalProperties: { type: 'string' } },
        count: {
          description: 'Count.',
          type: 'integer',
          minimum: 1,
          'x-kubernetes-validations': [{ rule: 'self <= 3', message: 'at most 3' }],
        },
      },
      required: ['count'],
    });
  });

  it('refuses a zod schema a CRD cannot express', () => {
    assert.throws(
      () => zodToStructural(z.object({ u: z.union([z.string(), z.boolean()]).describe('U.') }), 'spec'),
      /only integer\|string unions/,
    );
    assert.throws(() => zodToStructural(z.object({ d: z.date().describe('D.') }), 'spec'));
  });
});
