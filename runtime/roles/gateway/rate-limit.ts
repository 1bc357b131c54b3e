/**
 * Per-tenant token buckets in Redis, shared by every gateway replica. One Lua script refills and
 * takes atomically, on Redis' clock (replicas' clocks never disagree about a bucket).
 * A document costs one token; a query costs one. Buckets are control state (no TTL, outside the
 * tenant's key prefix: runtime/contract/stores.ts); a bucket's deadline is the moment it is full
 * again, after which deleting it changes nothing, so ControlExpiry sweeps it then.
 */
import { readFile } from 'node:fs/promises';
import type { Redis } from 'ioredis';
import { redisKeys } from '../../contract/stores.ts';
import { type TenantQuota, tenantQuotasFileSchema } from '../../contract/tenants.ts';
import type { Logger } from '../../observability/log.ts';
import { LUA_NOW_MS } from './control-state.ts';
import { HttpError } from './http-error.ts';

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

export interface RateDecision {
  allowed: boolean;
  /** When refused: how long until the request could pass (ms). */
  retryAfterMs: number;
  quota: TenantQuota;
}

type RedisWithTake = Redis & {
  engramTakeTokens(
    key: string,
    expiry: string,
    rate: number,
    burst: number,
    cost: number,
  ): Promise<[number, number]>;
};

export class TenantRateLimiter {
  readonly #redis: RedisWithTake;
  readonly #cluster: string;
  readonly #defaults: TenantQuota;
  readonly #quotasFile: string | undefined;
  readonly #log: Logger;
  #quotas: Record<string, TenantQuota> = {};
  #timer: NodeJS.Timeout | undefined;

  constructor(
    redis: Redis,
    options: { cluster: string; defaults: TenantQuota; quotasFile?: string | undefined; log: Logger },
  ) {
    redis.defineCommand('engramTakeTokens', { numberOfKeys: 2, lua: TAKE });
    this.#redis = redis as RedisWithTake;
    this.#cluster = options.cluster;
    this.#defaults = options.defaults;
    this.#quotasFile = options.quotasFile;
    this.#log = options.log;
  }

  async loadQuotas(): Promise<void> {
    if (!this.#quotasFile) return;
    try {
      const parsed = tenantQuotasFileSchema.safeParse(JSON.parse(await readFile(this.#quotasFile, 'utf8')));
      if (!parsed.success)
        throw new Error(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
      this.#quotas = parsed.data;
    } catch (err) {
      // Keep the last good quotas: a bad edit must not lift every limit.
      this.#log.error('cannot load ENGRAM_TENANT_QUOTAS_FILE; keeping the previous quotas', {
        file: this.#quotasFile,
        error: err,
      });
    }
  }

  startReloading(intervalMs: number): void {
    if (!this.#quotasFile) return;
    this.#timer = setInterval(() => void this.loadQuotas(), intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  quotaOf(tenantId: string): TenantQuota {
    return this.#quotas[tenantId] ?? this.#defaults;
  }

  async take(tenantId: string, cost: number): Promise<RateDecision> {
    const quota = this.quotaOf(tenantId);
    const [allowed, wait] = await this.#redis.engramTakeTokens(
      redisKeys.rateLimit(this.#cluster, tenantId),
      redisKeys.controlExpiry(this.#cluster),
      quota.documentsPerSecond,
      quota.burst,
      cost,
    );
    return { allowed: allowed === 1, retryAfterMs: wait, quota };
  }
}

/** Takes `cost` tokens or refuses with 429 and Retry-After (whole seconds, at least 1). */
export async function takeTokens(
  limiter: Pick<TenantRateLimiter, 'take'>,
  tenantId: string,
  cost: number,
): Promise<void> {
  const decision = await limiter.take(tenantId, cost);
  if (decision.allowed) return;
  const { documentsPerSecond, burst } = decision.quota;
  const seconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
  throw new HttpError(
    429,
    'rate_limited',
    `tenant ${tenantId} is over its rate limit (${documentsPerSecond} documents/s, burst ${burst}): retry after ${seconds} s`,
    { headers: { 'retry-after': String(seconds) } },
  );
}
