import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  isEmptyPlan,
  type TopicClaim,
  type TopicPlanInput,
  type TopicShape,
  topicPlan,
} from './topic-plan.ts';

const t = (name: string, partitions: number, rf = 1, configs: Record<string, string> = {}): TopicShape => ({
  name,
  partitions,
  replicationFactor: rf,
  configs,
});
const world = (...topics: TopicShape[]) => new Map(topics.map((x) => [x.name, x]));
const created = (keys: string[] = []): TopicClaim => ({ ownership: 'Created', configKeys: keys });

function plan(p: Partial<TopicPlanInput> & Pick<TopicPlanInput, 'desired'>) {
  return topicPlan({
    current: new Map(),
    claims: new Map(),
    foreign: new Map(),
    adoptExisting: false,
    adoptAnnotation: 'engram.dev/adopt-topics',
    ...p,
  });
}

describe('topicPlan', () => {
  it('creates missing topics', () => {
    const p = plan({
      desired: [t('a', 4), t('b', 2)],
      current: world(t('b', 2)),
      claims: new Map([['b', created()]]),
    });
    assert.deepEqual(
      p.create.map((x) => x.name),
      ['a'],
    );
  });
  it('an unchanged world is an empty plan', () => {
    const p = plan({
      desired: [t('a', 4, 1, { 'retention.ms': '1000' })],
      current: world(t('a', 4, 1, { 'retention.ms': '1000', 'cleanup.policy': 'delete' })),
      claims: new Map([['a', created(['retention.ms'])]]),
    });
    assert.ok(isEmptyPlan(p) && p.problems.length === 0);
  });
  it('grows partitions of its own topics', () => {
    const p = plan({ desired: [t('a', 8)], current: world(t('a', 4)), claims: new Map([['a', created()]]) });
    assert.deepEqual(p.grow, [{ name: 'a', from: 4, partitions: 8 }]);
  });
  it('refuses a partition decrease with the numbers', () => {
    const p = plan({ desired: [t('a', 2)], current: world(t('a', 4)), claims: new Map([['a', created()]]) });
    assert.ok(isEmptyPlan(p));
    assert.equal(p.problems[0]?.reason, 'NotSupported');
    assert.match(p.problems[0]!.message, /partitions cannot decrease \(is 4, spec asks 2\)/);
  });
  it('refuses a replication factor change, but a broker-default one (-1) matches anything', () => {
    const claims = new Map([['a', created()]]);
    assert.equal(
      plan({ desired: [t('a', 4, 3)], current: world(t('a', 4, 1)), claims }).problems[0]?.reason,
      'NotSupported',
    );
    assert.equal(plan({ desired: [t('a', 4, -1)], current: world(t('a', 4, 2)), claims }).problems.length, 0);
  });

  it('NEVER adopts an existing topic it did not create, even of the same shape', () => {
    const p = plan({ desired: [t('a', 4)], current: world(t('a', 4)) });
    assert.ok(isEmptyPlan(p));
    assert.equal(p.problems[0]?.reason, 'TopicConflict');
    assert.match(
      p.problems[0]!.message,
      /already exists on the broker and was not created by this MemoryCluster/,
    );
    assert.match(p.problems[0]!.message, /engram\.dev\/adopt-topics: "true"/);
  });
  it('adopts an existing topic when allowed (own managed broker, or the annotation), then manages it', () => {
    const p = plan({
      desired: [t('a', 8, 1, { 'retention.ms': '5' })],
      current: world(t('a', 4)),
      adoptExisting: true,
    });
    assert.deepEqual(p.adopt, ['a']);
    assert.deepEqual(p.grow, [{ name: 'a', from: 4, partitions: 8 }]);
    assert.deepEqual(p.alterConfigs, [{ name: 'a', set: { 'retention.ms': '5' }, remove: [] }]);
  });
  it('never touches a topic another MemoryCluster owns, and names the owner', () => {
    const p = plan({
      desired: [t('a', 4)],
      current: world(t('a', 4)),
      foreign: new Map([['a', 'MemoryCluster other/x']]),
      adoptExisting: true,
    });
    assert.ok(isEmptyPlan(p));
    assert.equal(p.problems[0]?.reason, 'TopicPrefixConflict');
    assert.match(p.problems[0]!.message, /belongs to MemoryCluster other\/x/);
  });

  it('alters only the changed keys (incrementally) and removes keys it set before and no longer wants', () => {
    const p = plan({
      desired: [t('a', 4, 1, { 'retention.ms': '2000' })],
      current: world(t('a', 4, 1, { 'retention.ms': '1000', 'cleanup.policy': 'compact' })),
      claims: new Map([['a', created(['retention.ms', 'cleanup.policy'])]]),
    });
    assert.deepEqual(p.alterConfigs, [
      { name: 'a', set: { 'retention.ms': '2000' }, remove: ['cleanup.policy'] },
    ]);
  });
  it('a key another party set on the topic is neither compared nor removed', () => {
    const p = plan({
      desired: [t('a', 4, 1, { 'retention.ms': '1000' })],
      current: world(t('a', 4, 1, { 'retention.ms': '1000', 'min.insync.replicas': '2' })),
      claims: new Map([['a', created(['retention.ms'])]]),
    });
    assert.ok(isEmptyPlan(p));
  });
});
