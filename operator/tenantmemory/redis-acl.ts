/**
 * The tenant's side of Redis, at the edge: its ACL user (observe with ACL GETUSER, write only on
 * drift) and the purge of its keys (SCAN by prefix + UNLINK) and user. Connects as the cluster's
 * own Redis credentials through the shared store access; every call is bounded in time.
 */
import type { Redis } from 'ioredis';
import { redisKeys, tenantRedisPrefix } from '../../runtime/contract/stores.ts';
import type { StoreAccess } from '../stores/access.ts';
import { redisClient } from '../stores/connectivity.ts';
import { type AclUser, aclSetUserRules, aclUserDrift, parseAclGetUser } from './desired/redis.ts';

const SCAN_BATCH = 1000;

const text = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Runs `fn` on a fresh connection; errors say which Redis and what to check, never a credential. */
export async function withRedis<T>(access: StoreAccess, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = redisClient(access.uri, access.creds, access.database as number);
  let socketError: unknown;
  redis.on('error', (err) => {
    socketError ??= err;
  });
  try {
    await redis.connect();
    return await fn(redis);
  } catch (err) {
    const why = socketError && /Connection is closed/.test(text(err)) ? text(socketError) : text(err);
    if (/NOPERM/.test(why))
      throw new Error(
        `Redis at ${access.uri} refused the cluster's Redis user (${why}): it needs ACL rights (ACL SETUSER/GETUSER/DELUSER, SCAN, UNLINK) to manage tenants`,
      );
    throw new Error(`cannot reach Redis at ${access.uri}: ${why}`);
  } finally {
    redis.disconnect();
  }
}

/** Creates or corrects the tenant's ACL user; returns what drifted (undefined: nothing written). */
export function ensureTenantUser(
  access: StoreAccess,
  user: string,
  want: AclUser,
): Promise<string | undefined> {
  return withRedis(access, async (redis) => {
    const live = parseAclGetUser(await redis.call('ACL', 'GETUSER', user));
    const drift = aclUserDrift(live, want);
    if (drift) await redis.call('ACL', 'SETUSER', user, ...aclSetUserRules(want));
    return drift;
  });
}

/** Deletes every key under the tenant's prefix and its ACL user; returns the keys deleted. */
export function purgeTenantRedis(
  access: StoreAccess,
  cluster: string,
  tenantId: string,
  user: string,
): Promise<number> {
  return withRedis(access, async (redis) => {
    // The user goes first: the tenant cannot write new keys while its old ones are removed.
    await redis.call('ACL', 'DELUSER', user);
    // The gateway's idempotency records sit under the cluster's control prefix: kept, they would
    // answer a re-created tenant's documents as duplicates that never reach the graph.
    const prefixes = [tenantRedisPrefix(cluster, tenantId), redisKeys.document(cluster, tenantId, '')];
    let deleted = 0;
    for (const prefix of prefixes) {
      const match = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', SCAN_BATCH);
        cursor = next;
        if (keys.length) deleted += await redis.unlink(...keys);
      } while (cursor !== '0');
    }
    return deleted;
  });
}
