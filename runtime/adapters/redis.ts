/** The ioredis client as the runtime uses it: credentials from the contract, never in the URL we log. */
import { Redis } from 'ioredis';
import type { RuntimeConfig } from '../contract/config.ts';

export function createRedis(config: NonNullable<RuntimeConfig['redis']>, name: string): Redis {
  return new Redis(config.url, {
    connectionName: name,
    ...(config.username && { username: config.username }),
    ...(config.password && { password: config.password }),
    maxRetriesPerRequest: 3,
    enableAutoPipelining: true,
  });
}

export function redisReady(redis: Redis): string | undefined {
  return redis.status === 'ready' ? undefined : `redis ${redis.status}`;
}
