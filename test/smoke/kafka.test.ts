// The broker is real: topics are created through the Admin API, messages round-trip.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { requireDevEnv } from '../support/devenv.ts';
import { eventually, uniqueName } from '../support/wait.ts';

describe('kafka broker', () => {
  const env = requireDevEnv();
  const kafka = new Kafka({
    clientId: 'engram-smoke',
    brokers: env.KAFKA_BROKERS.split(','),
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  const topic = uniqueName('smoke');

  after(async () => {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });

  it('creates a topic with N partitions, produces and consumes', async () => {
    await admin.connect();
    assert.equal(
      await admin.createTopics({
        topics: [{ topic, numPartitions: 6, replicationFactor: 1 }],
        waitForLeaders: true,
      }),
      true,
    );
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    assert.equal(meta.topics[0]?.partitions.length, 6);

    const producer = kafka.producer();
    await producer.connect();
    const sent = Array.from({ length: 30 }, (_, i) => ({ key: `k${i % 5}`, value: `v${i}` }));
    await producer.send({ topic, messages: sent });
    await producer.disconnect();

    const consumer = kafka.consumer({ groupId: uniqueName('smoke-group') });
    const received: string[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void received.push(String(message.value)) });
    await eventually('all messages consumed', async () => received.length === sent.length, {
      timeoutMs: 30_000,
    });
    await consumer.disconnect();
    assert.deepEqual([...received].sort(), sent.map((m) => m.value).sort());
  });
});
