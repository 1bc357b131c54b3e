/**
 * The tenant's side of Redis, at the edge: its ACL user (observe with ACL GETUSER, write only on
 * drift) and the purge of its keys (SCAN by prefix + UNLINK) and user. Runs on the cluster's shared
 * Redis session (its own credentials); every call is bounded in time and in number in flight.
 */
import { redisKeys, tenantRedisPrefix } from '../../runtime/contract/stores.ts';
import type { RedisSession } from '../stores/sessions.ts';
import { type AclUser, aclSetUserRules, aclUserDrift, parseAclGetUser } from './desired/redis.ts';

const SCAN_BATCH = 1000;

/** Creates or corrects the tenant's ACL user; returns what drifted (undefined: nothing written). */
export async function ensureTenantUser(
  redis: RedisSession,
  user: string,
  want: AclUser,
): Promise<string | undefined> {
  const live = parseAclGetUser(await redis.run('acl-getuser', (r) => r.call('ACL', 'GETUSER', user)));
  const drift = aclUserDrift(live, want);
  if (drift) await redis.run('acl-setuser', (r) => r.call('ACL', 'SETUSER', user, ...aclSetUserRules(want)));
  return drift;
}

/** Deletes every key under the tenant's prefix and its ACL user; returns the keys deleted. */
export function purgeTenantRedis(
  session: RedisSession,
  cluster: string,
  tenantId: string,
  user: string,
): Promise<number> {
  return session.run('purge', async (redis) => {
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
