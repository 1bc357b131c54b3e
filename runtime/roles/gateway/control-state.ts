/**
 * Expiry of the gateway's control keys (runtime/contract/stores.ts): they carry no Redis TTL, so a
 * `volatile-*` eviction policy never drops them; instead every write records the key's deadline
 * (Redis clock, ms) in one sorted set, and each replica sweeps what is due. Correctness never waits
 * for a sweep: the scripts that read a record compare its deadline themselves; the sweep only frees
 * memory. Also checks, once at start, that the Redis policy keeps that promise.
 */
import type { Redis } from 'ioredis';
import { redisKeys } from '../../contract/stores.ts';
import type { Logger } from '../../observability/log.ts';

/** Deletes due keys and their deadlines, at most ARGV[1] per call (one bounded script run). */
const SWEEP = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, k in ipairs(due) do redis.call('DEL', k) end
if #due > 0 then redis.call('ZREM', KEYS[1], unpack(due)) end
return #due
`;

const SWEEP_BATCH = 500;

type RedisWithSweep = Redis & { engramSweepControl(expiryKey: string, limit: number): Promise<number> };

export class ControlExpiry {
  readonly #redis: RedisWithSweep;
  readonly #key: string;
  #timer: NodeJS.Timeout | undefined;

  constructor(redis: Redis, options: { cluster: string }) {
    redis.defineCommand('engramSweepControl', { numberOfKeys: 1, lua: SWEEP });
    this.#redis = redis as RedisWithSweep;
    this.#key = redisKeys.controlExpiry(options.cluster);
  }

  /** Deletes every control key whose deadline passed; returns how many. */
  async sweep(maxBatches = 20): Promise<number> {
    let total = 0;
    for (let i = 0; i < maxBatches; i++) {
      const n = await this.#redis.engramSweepControl(this.#key, SWEEP_BATCH);
      total += n;
      if (n < SWEEP_BATCH) break;
    }
    return total;
  }

  /** Control keys waiting for their deadline. */
  pending(): Promise<number> {
    return this.#redis.zcard(this.#key);
  }

  startSweeping(intervalMs: number, log: Logger): void {
    this.#timer = setInterval(() => {
      this.sweep().catch((err: unknown) =>
        log.warn('control state sweep failed; retrying later', { error: err }),
      );
    }, intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/**
 * Warns when the Redis eviction policy may evict keys without a TTL (allkeys-*): then control state
 * could be dropped under memory pressure. Managed services may refuse CONFIG; that is reported too.
 */
export async function checkEvictionPolicy(redis: Redis, log: Logger): Promise<void> {
  let policy: string | undefined;
  try {
    const reply = (await redis.config('GET', 'maxmemory-policy')) as string[];
    policy = reply[1];
  } catch (err) {
    log.info('cannot read the redis maxmemory-policy; make sure it is volatile-* or noeviction', {
      error: err,
    });
    return;
  }
  if (policy?.startsWith('allkeys-'))
    log.warn('redis eviction policy can drop control state', {
      policy,
      fix: 'set maxmemory-policy to volatile-lru (the managed default) or noeviction: idempotency records and rate-limit buckets carry no TTL and must not be evicted',
    });
}
