import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { firstDrift } from './drift.ts';

describe('firstDrift', () => {
  const cases: Array<[string, unknown, unknown, string | undefined]> = [
    ['identical', { a: 1, b: { c: 'x' } }, { a: 1, b: { c: 'x' } }, undefined],
    [
      'extra live fields and labels are ignored',
      { m: { labels: { a: '1' } } },
      { m: { labels: { a: '1', b: '2' } }, s: 1 },
      undefined,
    ],
    ['a changed leaf', { spec: { replicas: 2 } }, { spec: { replicas: 3 } }, '.spec.replicas'],
    ['a missing field', { spec: { x: 'y' } }, { spec: {} }, '.spec.x'],
    [
      'quantities compare by value',
      { r: { memory: '1024Mi', cpu: '1000m' } },
      { r: { memory: '1Gi', cpu: '1' } },
      undefined,
    ],
    ['different quantities drift', { r: { memory: '2Gi' } }, { r: { memory: '1Gi' } }, '.r.memory'],
    [
      'named lists match by name; others may add items',
      { c: [{ name: 'main', image: 'a' }] },
      {
        c: [
          { name: 'sidecar', image: 's' },
          { name: 'main', image: 'a', extra: 1 },
        ],
      },
      undefined,
    ],
    [
      'a named item edited',
      { c: [{ name: 'main', image: 'a' }] },
      { c: [{ name: 'main', image: 'b' }] },
      '.c[main].image',
    ],
    ['plain lists must match in length', { args: ['a', 'b'] }, { args: ['a'] }, '.args[]'],
    ['undefined desired values are skipped', { a: undefined, b: 1 }, { b: 1 }, undefined],
  ];
  for (const [name, desired, live, expected] of cases) {
    it(name, () => assert.equal(firstDrift(desired, live), expected));
  }
});
