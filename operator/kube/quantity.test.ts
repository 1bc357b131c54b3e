import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareQuantities, isQuantity, parseQuantity, QuantityError, quantityToBytes } from './quantity.ts';

describe('parseQuantity: exact nano-units for every form the API server accepts', () => {
  const cases: Array<[string | number, bigint]> = [
    ['0.7', 700_000_000n],
    ['700m', 700_000_000n],
    ['1', 1_000_000_000n],
    [2, 2_000_000_000n],
    ['1Gi', 1_073_741_824n * 1_000_000_000n],
    ['1024Mi', 1_073_741_824n * 1_000_000_000n],
    ['2e9', 2_000_000_000n * 1_000_000_000n],
    ['2E9', 2_000_000_000n * 1_000_000_000n],
    ['1e-3', 1_000_000n],
    ['1.5Gi', 1_610_612_736n * 1_000_000_000n],
    ['.5', 500_000_000n],
    ['5.', 5_000_000_000n],
    ['+3k', 3_000n * 1_000_000_000n],
    ['-1', -1_000_000_000n],
    ['1n', 1n],
    ['100u', 100_000n],
    // Finer than a nano-unit rounds up, as the API server does.
    ['1e-12', 1n],
  ];
  for (const [q, want] of cases) it(`${JSON.stringify(q)}`, () => assert.equal(parseQuantity(q), want));

  for (const bad of ['', 'abc', '1.2.3', '1Kb', '1 Gi', 'e9', '1e', '--1', '1e999'])
    it(`refuses ${JSON.stringify(bad)}`, () => {
      assert.equal(isQuantity(bad) && !bad.includes('999'), false);
      assert.throws(() => parseQuantity(bad), QuantityError);
    });

  it('compares exactly', () => {
    assert.equal(compareQuantities('0.7', '700m'), 0);
    assert.equal(compareQuantities('0.7', '701m'), -1);
    assert.equal(compareQuantities('1Gi', '1G'), 1);
  });
  it('whole bytes, rounded up', () => {
    assert.equal(quantityToBytes('1Gi'), 2 ** 30);
    assert.equal(quantityToBytes('1500m'), 2);
  });
});
