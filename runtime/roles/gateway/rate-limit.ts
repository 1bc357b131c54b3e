/**
 * Per-tenant token buckets in Redis (runtime/adapters/redis-token-bucket.ts), shared by every
 * gateway replica.
 * A document costs one token; a query costs one. Buckets are control state (no TTL, outside the
 * tenant's key prefix: runtime/contract/stores.ts); a bucket's deadline is the moment it is full
 * again, after which deleting it changes nothing, so ControlExpiry sweeps it then.
 */
import { readFile } from 'node:fs/promises';
import type { Redis } from 'ioredis';
import { RedisTokenBucket } from '../../adapters/redis-token-bucket.ts';
import { redisKeys } from '../../contract/stores.ts';
import { type TenantQuota, tenantQuotasFileSchema } from '../../contract/tenants.ts';
import type { Logger } from '../../observability/log.ts';
import { HttpError } from './http-error.ts';

export interface RateDecision {
  allowed: boolean;
  /** When refused: how long until the request could pass (ms). */
  retryAfterMs: number;
  quota: TenantQuota;
}

export class TenantRateLimiter {
  readonly #bucket: RedisTokenBucket;
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
    this.#bucket = new RedisTokenBucket(redis);
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
      // No file is no per-tenant quota (the operator's ConfigMap is optional until the first tenant).
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.#quotas = {};
        return;
      }
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
    const { allowed, waitMs } = await this.#bucket.take(
      redisKeys.rateLimit(this.#cluster, tenantId),
      redisKeys.controlExpiry(this.#cluster),
      { perSecond: quota.documentsPerSecond, burst: quota.burst },
      cost,
    );
    return { allowed, retryAfterMs: waitMs, quota };
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
