/** Topics on the local broker, read with a fresh admin client per call (no stale metadata). */
import { Kafka, logLevel } from 'kafkajs';
import type { DevEnv } from './devenv.ts';

async function withAdmin<T>(env: DevEnv, fn: (admin: ReturnType<Kafka['admin']>) => Promise<T>): Promise<T> {
  const admin = new Kafka({ brokers: env.KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

/** Partition counts of the topics named `<prefix>.*`. */
export function topicsWithPrefix(env: DevEnv, prefix: string): Promise<Map<string, number>> {
  return withAdmin(env, async (admin) => {
    const names = (await admin.listTopics()).filter((t) => t.startsWith(`${prefix}.`));
    if (!names.length) return new Map<string, number>();
    const meta = await admin.fetchTopicMetadata({ topics: names });
    return new Map(meta.topics.map((t) => [t.name, t.partitions.length]));
  });
}

export function deleteTopicsWithPrefix(env: DevEnv, prefix: string): Promise<void> {
  return withAdmin(env, async (admin) => {
    const names = (await admin.listTopics()).filter((t) => t.startsWith(`${prefix}.`));
    if (names.length) await admin.deleteTopics({ topics: names }).catch(() => undefined);
  });
}
