/**
 * Wires a role's processor into the framework: kafkajs transport, dlq producer, readiness (the
 * consumer is in its group) and liveness (progress while there is lag) checks, and a stop that
 * drains the worker before closing what the role opened.
 */
import { createKafka, KafkaConsumerTransport, KafkaProducerTransport } from '../adapters/kafka.ts';
import { ROLE_SPECS } from '../contract/roles.ts';
import { TOPIC_MAX_MESSAGE_BYTES, topicName } from '../contract/topics.ts';
import type { RoleContext, RunningRole } from '../core/role-context.ts';
import { type Processor, Worker } from './worker.ts';

export interface ConsumingRoleParts<T> {
  processor: Processor<T>;
  /** Closes what the role opened (drivers, clients), after the worker has drained. */
  close?: () => Promise<void>;
}

export async function runConsumingRole<T>(
  ctx: RoleContext,
  build: (producer: KafkaProducerTransport) => Promise<ConsumingRoleParts<T>>,
): Promise<RunningRole> {
  const { config, log, metrics, health } = ctx;
  const input = ROLE_SPECS[config.role].consumes;
  if (!input) throw new Error(`role ${config.role} consumes no topic`);
  const kafka = createKafka(config.kafka, log);
  const producer = new KafkaProducerTransport(kafka);
  await producer.connect();
  const parts = await build(producer);
  const worker = new Worker<T>({
    role: config.role,
    topic: topicName(config.topicPrefix, input),
    dlqTopic: topicName(config.topicPrefix, 'dlq'),
    groupId: config.consumerGroup,
    consumer: new KafkaConsumerTransport(kafka, config.kafka),
    producer,
    processor: parts.processor,
    settings: {
      ...config.worker,
      heartbeatIntervalMs: config.kafka.heartbeatIntervalMs,
      rebalanceTimeoutMs: config.kafka.rebalanceTimeoutMs,
      dlqMaxMessageBytes: TOPIC_MAX_MESSAGE_BYTES.dlq,
    },
    log,
    metrics: metrics.worker,
    onFatal: (error) => ctx.fatal(error),
  });
  health.addCheck({ name: 'consumer', check: () => worker.ready() });
  health.addLivenessCheck({ name: 'progress', check: () => worker.live() });
  await worker.start();
  return {
    stop: async () => {
      await worker.stop();
      await parts.close?.();
      await producer.close();
    },
  };
}
