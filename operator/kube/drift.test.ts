import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyNeeded, firstDrift, firstRemoval } from './drift.ts';

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
    // 0.7 as a float is 0.69999..., 700m/1000 is 0.7000...1: exact parsing makes them one value.
    ['decimal fractions equal their milli form', { r: { cpu: '0.7' } }, { r: { cpu: '700m' } }, undefined],
    ['exponents equal their suffix form', { r: { memory: '2e9' } }, { r: { memory: '2G' } }, undefined],
    ['one milli-unit apart drifts', { r: { cpu: '0.701' } }, { r: { cpu: '700m' } }, '.r.cpu'],
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

describe('firstRemoval: fields this manager applied before and no longer wants', () => {
  // managedFields fieldsV1 of a container the operator applied with limits {cpu, memory}.
  const owned = {
    'f:spec': {
      'f:replicas': {},
      'f:template': {
        'f:spec': {
          'f:containers': {
            'k:{"name":"redis"}': {
              '.': {},
              'f:name': {},
              'f:resources': { 'f:limits': { 'f:cpu': {}, 'f:memory': {} } },
              'f:ports': { 'k:{"containerPort":6379,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {} } },
              'f:args': {},
            },
          },
          'f:tolerations': {},
        },
      },
    },
  };
  const desired = (limits: Record<string, string>, extra: Record<string, unknown> = {}) => ({
    spec: {
      replicas: 1,
      template: {
        spec: {
          containers: [
            { name: 'redis', resources: { limits }, ports: [{ containerPort: 6379 }], args: ['a'] },
          ],
          tolerations: [],
          ...extra,
        },
      },
    },
  });
  it('nothing removed', () =>
    assert.equal(firstRemoval(desired({ cpu: '1', memory: '1Gi' }), owned), undefined));
  it('a removed map key', () =>
    assert.equal(
      firstRemoval(desired({ memory: '1Gi' }), owned),
      '.spec.template.spec.containers[{"name":"redis"}].resources.limits.cpu',
    ));
  it('a removed list item (by its key)', () => {
    const d = desired({ cpu: '1', memory: '1Gi' });
    d.spec.template.spec.containers[0]!.name = 'other';
    assert.match(firstRemoval(d, owned) ?? '', /containers\[\{"name":"redis"\}\]$/);
  });
  it('a removed field', () => {
    const d = desired({ cpu: '1', memory: '1Gi' }) as {
      spec: { template: { spec: Record<string, unknown> } };
    };
    delete d.spec.template.spec.tolerations;
    assert.equal(firstRemoval(d, owned), '.spec.template.spec.tolerations');
  });
  it('applyNeeded reads the managedFields of the manager that applied', () => {
    const live = {
      metadata: {
        managedFields: [
          { manager: 'someone-else', operation: 'Update', fieldsV1: { 'f:spec': { 'f:paused': {} } } },
          { manager: 'engram-operator', operation: 'Apply', fieldsV1: owned },
        ],
      },
      ...desired({ cpu: '1', memory: '1Gi' }),
    };
    assert.equal(applyNeeded(desired({ cpu: '1', memory: '1Gi' }), live, 'engram-operator'), undefined);
    assert.match(applyNeeded(desired({ memory: '1Gi' }), live, 'engram-operator') ?? '', /limits\.cpu$/);
  });
});
