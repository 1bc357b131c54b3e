import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_TOPIC_PARTITIONS, TOPIC_KEYS } from '../../runtime/contract/topics.ts';
import {
  defaultReplicationFactor,
  durationToMilliseconds,
  effectiveTopicPrefix,
  effectiveTopics,
} from './defaults.ts';
import { type MemoryClusterSpec, memoryClusterSpecSchema } from './memorycluster.ts';
import { annotationEnabled } from './wellknown.ts';

const spec = (kafka: unknown): MemoryClusterSpec =>
  memoryClusterSpecSchema.parse({ kafka, neo4j: { managed: {} }, redis: { managed: {} } });

describe('effectiveTopics', () => {
  it('gives the seven topics with the seed partitions and retention under the default prefix', () => {
    const topics = effectiveTopics(spec({ managed: {} }), 'team-a', 'demo');
    assert.deepEqual(
      topics.map((t) => t.key),
      [...TOPIC_KEYS],
    );
    const raw = topics.find((t) => t.key === 'ingest.raw')!;
    assert.equal(raw.name, 'engram.team-a.demo.ingest.raw');
    assert.equal(raw.partitions, DEFAULT_TOPIC_PARTITIONS['ingest.raw']);
    assert.equal(raw.replicationFactor, 1, 'one managed broker: RF 1');
    assert.deepEqual(raw.config, {
      'max.message.bytes': '10485760',
      'message.timestamp.type': 'LogAppendTime',
      'retention.ms': String(168 * 3600_000),
    });
    const resolve = topics.find((t) => t.key === 'graph.resolve')!;
    assert.deepEqual(
      resolve.config,
      { 'max.message.bytes': '1048576' },
      'no retention set by the seed guide',
    );
  });

  it('applies per-topic overrides over spec.kafka over the defaults', () => {
    const topics = effectiveTopics(
      spec({
        topicPrefix: 'engram.prod',
        replicationFactor: 3,
        managed: { replicas: 3 },
        topics: {
          dlq: {
            partitions: 12,
            replicationFactor: 2,
            retention: '1h30m',
            config: { 'cleanup.policy': 'compact' },
          },
        },
      }),
      'ns',
      'prod',
    );
    const dlq = topics.find((t) => t.key === 'dlq')!;
    assert.deepEqual(dlq, {
      key: 'dlq',
      name: 'engram.prod.dlq',
      partitions: 12,
      replicationFactor: 2,
      config: {
        'max.message.bytes': '11534336',
        'retention.ms': String(90 * 60_000),
        'cleanup.policy': 'compact',
      },
      defaulted: { partitions: false, replicationFactor: false, configKeys: ['max.message.bytes'] },
    });
    const raw = topics.find((t) => t.key === 'ingest.raw')!;
    assert.equal(raw.replicationFactor, 3);
    // What the operator filled in is marked: it is pinned in status once the topic exists.
    assert.deepEqual(raw.defaulted, {
      partitions: true,
      replicationFactor: false,
      configKeys: Object.keys(raw.config).sort(),
    });
  });

  it('leaves the replication factor to the broker for external Kafka', () => {
    const topics = effectiveTopics(spec({ external: { bootstrapServers: ['kafka:9092'] } }), 'ns', 'x');
    assert.ok(topics.every((t) => t.replicationFactor === undefined));
  });
});

describe('defaults', () => {
  it('caps the managed replication factor at 3 and at the broker count', () => {
    assert.equal(defaultReplicationFactor(spec({ managed: {} })), 1);
    assert.equal(defaultReplicationFactor(spec({ managed: { replicas: 2 } })), 2);
    assert.equal(defaultReplicationFactor(spec({ managed: { replicas: 5 } })), 3);
  });

  it('uses spec.kafka.topicPrefix when set, else engram.<namespace>.<name>', () => {
    assert.equal(effectiveTopicPrefix(spec({ managed: {}, topicPrefix: 'p' }), 'ns', 'n'), 'p');
    assert.equal(effectiveTopicPrefix(spec({ managed: {} }), 'ns', 'n'), 'engram.ns.n');
  });

  it('parses API durations', () => {
    assert.equal(durationToMilliseconds('250ms'), 250);
    assert.equal(durationToMilliseconds('90s'), 90_000);
    assert.equal(durationToMilliseconds('1h30m'), 5_400_000);
    assert.equal(durationToMilliseconds('720h'), 30 * 24 * 3600_000);
    assert.throws(() => durationToMilliseconds('7d'), /not a duration/);
    assert.throws(() => durationToMilliseconds(''), /not a duration/);
  });

  it('reads annotation switches only when exactly "true"', () => {
    assert.equal(annotationEnabled({ 'engram.dev/paused': 'true' }, 'engram.dev/paused'), true);
    assert.equal(annotationEnabled({ 'engram.dev/paused': 'True' }, 'engram.dev/paused'), false);
    assert.equal(annotationEnabled(undefined, 'engram.dev/paused'), false);
  });
});
