/**
 * A tenant's write generation in Redis (runtime/contract/stores.ts redisKeys.generation): writers
 * increment it after each committed graph write, and query results are cached under the
 * generation they were computed at, so a write invalidates every cached result of its tenant at
 * once. The counter's TTL is far longer than a cached result's, so when it lapses (no write for
 * that long) and restarts, no result of a reused generation number is still cached.
 */
import type { Redis } from 'ioredis';
import { redisKeys } from '../contract/stores.ts';

export const GENERATION_TTL_SECONDS = 30 * 86_400;

export async function bumpTenantGenerations(
  redis: Redis,
  cluster: string,
  tenantIds: Iterable<string>,
): Promise<void> {
  const pipeline = redis.pipeline();
  for (const tenantId of new Set(tenantIds)) {
    const key = redisKeys.generation(cluster, tenantId);
    pipeline.incr(key).expire(key, GENERATION_TTL_SECONDS);
  }
  const results = await pipeline.exec();
  const failed = results?.find(([err]) => err);
  if (failed) throw failed[0];
}

export async function tenantGeneration(redis: Redis, cluster: string, tenantId: string): Promise<string> {
  return (await redis.get(redisKeys.generation(cluster, tenantId))) ?? '0';
}
