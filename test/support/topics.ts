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

/**
 * Partition counts of the topics named `<prefix>.*`. Under load the broker's metadata can lag a
 * topic it has just created for a moment (a fresh read lists none): an empty answer is re-read
 * for up to 3 s before it counts.
 */
export function topicsWithPrefix(env: DevEnv, prefix: string): Promise<Map<string, number>> {
  return withAdmin(env, async (admin) => {
    let names: string[] = [];
    for (let i = 0; i < 15; i++) {
      names = (await admin.listTopics()).filter((t) => t.startsWith(`${prefix}.`));
      if (names.length) break;
      await new Promise((r) => setTimeout(r, 200));
    }
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
