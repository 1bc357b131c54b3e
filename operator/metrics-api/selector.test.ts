import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { matchesLabels, parseLabelSelector, SelectorError } from './selector.ts';

describe('label selectors', () => {
  const labels = { 'engram.dev/workerpool': 'embed', tier: 'gpu' };
  const cases: [string, boolean][] = [
    ['', true],
    ['engram.dev/workerpool=embed', true],
    ['engram.dev/workerpool==embed', true],
    ['engram.dev/workerpool!=embed', false],
    ['engram.dev/workerpool=query', false],
    ['engram.dev/workerpool in (query, embed)', true],
    ['engram.dev/workerpool notin (query,embed)', false],
    ['tier', true],
    ['!tier', false],
    ['!absent', true],
    ['absent!=x', true],
    ['engram.dev/workerpool=embed,tier=gpu', true],
    ['engram.dev/workerpool=embed, tier=cpu', false],
  ];
  for (const [selector, matches] of cases)
    it(`${JSON.stringify(selector)} ${matches ? 'matches' : 'does not match'}`, () => {
      assert.equal(matchesLabels(parseLabelSelector(selector), labels), matches);
    });

  const bad: [string, RegExp][] = [
    ['a===', /"=" is not a label value/],
    ['a in (b', /unbalanced parentheses/],
    ['a in ((b))', /unbalanced parentheses/],
    ['a=b,', /empty requirement/],
    ['-a=b', /is not a label key/],
    ['Bad_Prefix/a=b', /is not a label key/],
    ['a b', /cannot parse "a b"/],
    [`a=${'x'.repeat(64)}`, /is not a label value/],
  ];
  for (const [selector, message] of bad)
    it(`${JSON.stringify(selector)} is refused with a message that names the problem`, () => {
      assert.throws(
        () => parseLabelSelector(selector),
        (err: Error) => {
          assert.ok(err instanceof SelectorError);
          assert.match(err.message, message);
          return true;
        },
      );
    });
});
