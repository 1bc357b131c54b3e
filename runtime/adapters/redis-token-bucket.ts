/**
 * A token bucket in Redis, shared by every replica that names the same key: one Lua script refills
 * and takes atomically on Redis' clock (replicas' clocks never disagree about a bucket). Buckets
 * are control state (no TTL): each take records the moment the bucket is full again in the
 * cluster's control-expiry set, after which deleting it changes nothing, so the gateway's sweep
 * (runtime/roles/gateway/control-state.ts) frees it then. Used by the gateway's per-tenant rate
 * limit and the extract role's per-pool request rate towards an LLM endpoint.
 */
import type { Redis } from 'ioredis';

/** Lua shared by the control scripts: the Redis clock in ms. */
export const LUA_NOW_MS = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

const TAKE = `${LUA_NOW_MS}
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil or ts == nil then tokens = burst; ts = now end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
local allowed = 0
local wait = 0
if cost <= tokens then
  tokens = tokens - cost
  allowed = 1
else
  wait = math.ceil((cost - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', now)
redis.call('ZADD', KEYS[2], now + math.ceil((burst - tokens) * 1000 / rate) + 1000, KEYS[1])
return {allowed, wait}
`;

type RedisWithTake = Redis & {
  engramTakeTokens(
    key: string,
    expiry: string,
    rate: number,
    burst: number,
    cost: number,
  ): Promise<[number, number]>;
};

export interface BucketTake {
  allowed: boolean;
  /** When refused: how long until `cost` tokens are there (ms). */
  waitMs: number;
}

export class RedisTokenBucket {
  readonly #redis: RedisWithTake;

  constructor(redis: Redis) {
    redis.defineCommand('engramTakeTokens', { numberOfKeys: 2, lua: TAKE });
    this.#redis = redis as RedisWithTake;
  }

  /** Takes `cost` tokens from the bucket at `key` (refilled at `perSecond`, holding at most `burst`). */
  async take(
    key: string,
    expiryKey: string,
    bucket: { perSecond: number; burst: number },
    cost: number,
  ): Promise<BucketTake> {
    const [allowed, wait] = await this.#redis.engramTakeTokens(
      key,
      expiryKey,
      bucket.perSecond,
      bucket.burst,
      cost,
    );
    return { allowed: allowed === 1, waitMs: wait };
  }
}
