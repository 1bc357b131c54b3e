import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { entityKey } from './entity-names.ts';

describe('entityKey', () => {
  const same: [string, string][] = [
    ['Northwind Analytics Inc.', 'Northwind Analytics'],
    ['NORTHWIND ANALYTICS', 'northwind analytics'],
    ['Bluefin Robotics Ltd', 'Bluefin Robotics'],
    ['Dr. Dana Whitfield', 'Dana Whitfield'],
    ['José Álvarez', 'Jose Alvarez'],
    ['Smith & Sons', 'Smith and Sons'],
    ["Acme's", 'Acme'],
    ['  Priya   Raman ', 'Priya Raman'],
  ];
  for (const [a, b] of same) it(`${a} = ${b}`, () => assert.equal(entityKey(a), entityKey(b)));

  const different: [string, string][] = [
    ['Dana Whitfield', 'Dan Whitfield'],
    ['Acme', 'Acme Labs'],
    ['Co', 'Inc'],
  ];
  for (const [a, b] of different) it(`${a} != ${b}`, () => assert.notEqual(entityKey(a), entityKey(b)));

  it('keeps a lone honorific or suffix as the name', () => {
    assert.equal(entityKey('Dr'), 'dr');
    assert.equal(entityKey('Inc.'), 'inc');
    assert.equal(entityKey('!!!'), '!!!');
  });
});
