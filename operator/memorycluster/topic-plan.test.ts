import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isEmptyPlan, type TopicShape, topicPlan } from './topic-plan.ts';

const t = (name: string, partitions: number, rf = 1, configs: Record<string, string> = {}): TopicShape => ({
  name,
  partitions,
  replicationFactor: rf,
  configs,
});
const world = (...topics: TopicShape[]) => new Map(topics.map((x) => [x.name, x]));

describe('topicPlan', () => {
  const cases: Array<{
    name: string;
    desired: TopicShape[];
    current: TopicShape[];
    managed: string[];
    expect: (p: ReturnType<typeof topicPlan>) => void;
  }> = [
    {
      name: 'creates missing topics',
      desired: [t('a', 4), t('b', 2)],
      current: [t('b', 2)],
      managed: ['b'],
      expect: (p) =>
        assert.deepEqual(
          p.create.map((x) => x.name),
          ['a'],
        ),
    },
    {
      name: 'an unchanged world is an empty plan',
      desired: [t('a', 4, 1, { 'retention.ms': '1000' })],
      current: [t('a', 4, 1, { 'retention.ms': '1000', 'cleanup.policy': 'delete' })],
      managed: ['a'],
      expect: (p) => assert.ok(isEmptyPlan(p) && p.problems.length === 0),
    },
    {
      name: 'grows partitions',
      desired: [t('a', 8)],
      current: [t('a', 4)],
      managed: ['a'],
      expect: (p) => assert.deepEqual(p.grow, [{ name: 'a', from: 4, partitions: 8 }]),
    },
    {
      name: 'refuses a partition decrease with the numbers',
      desired: [t('a', 2)],
      current: [t('a', 4)],
      managed: ['a'],
      expect: (p) => {
        assert.ok(isEmptyPlan(p));
        assert.equal(p.problems[0]?.reason, 'NotSupported');
        assert.match(p.problems[0]!.message, /partitions cannot decrease \(is 4, spec asks 2\)/);
      },
    },
    {
      name: 'refuses a replication factor change',
      desired: [t('a', 4, 3)],
      current: [t('a', 4, 1)],
      managed: ['a'],
      expect: (p) =>
        assert.match(p.problems[0]!.message, /replication factor cannot change \(is 1, spec asks 3\)/),
    },
    {
      name: 'alters only changed configs, sending the full desired set',
      desired: [t('a', 4, 1, { 'retention.ms': '2000', 'cleanup.policy': 'delete' })],
      current: [t('a', 4, 1, { 'retention.ms': '1000', 'cleanup.policy': 'delete' })],
      managed: ['a'],
      expect: (p) =>
        assert.deepEqual(p.alterConfigs, [
          {
            name: 'a',
            configs: { 'retention.ms': '2000', 'cleanup.policy': 'delete' },
            changed: ['retention.ms'],
          },
        ]),
    },
    {
      name: 'reports a foreign topic of another shape and leaves it alone',
      desired: [t('a', 4)],
      current: [t('a', 12)],
      managed: [],
      expect: (p) => {
        assert.ok(isEmptyPlan(p));
        assert.equal(p.problems[0]?.reason, 'TopicConflict');
        assert.match(p.problems[0]!.message, /already exists on the broker with 12 partitions/);
      },
    },
    {
      name: 'adopts a foreign topic of the same shape',
      desired: [t('a', 4)],
      current: [t('a', 4)],
      managed: [],
      expect: (p) => assert.ok(isEmptyPlan(p) && p.problems.length === 0),
    },
  ];
  for (const c of cases) {
    it(c.name, () => c.expect(topicPlan(c.desired, world(...c.current), new Set(c.managed))));
  }
});
