/**
 * Idempotency on (tenant, document id, content hash). A document is claimed (state `p`, short
 * deadline) before it is produced, confirmed (state `d`, long deadline) once the broker acknowledged
 * it, and released if producing failed, so a crash between produce and confirm can only cause a
 * harmless re-send (chunk ids are deterministic), never a lost document.
 *
 * Records are control state (runtime/contract/stores.ts): a hash `{h, s, x}` (content hash, state,
 * deadline in ms on the Redis clock) with no Redis TTL, so no eviction policy but allkeys-* can drop
 * it; every script treats a record past its deadline as absent, and ControlExpiry sweeps it later.
 */
import type { Redis } from 'ioredis';
import { LUA_NOW_MS } from '../../adapters/redis-token-bucket.ts';
import { redisKeys } from '../../contract/stores.ts';

const CLAIM = `${LUA_NOW_MS}
local r = redis.call('HMGET', KEYS[1], 'h', 's', 'x')
if r[1] == ARGV[1] and tonumber(r[3] or '0') > now then
  if r[2] == 'd' then return 'duplicate' end
  return 'in_progress'
end
local deadline = now + tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'h', ARGV[1], 's', 'p', 'x', deadline)
redis.call('ZADD', KEYS[2], deadline, KEYS[1])
return 'claimed'
`;
const CONFIRM = `${LUA_NOW_MS}
local r = redis.call('HMGET', KEYS[1], 'h', 's')
if r[1] == ARGV[1] and r[2] == 'p' then
  local deadline = now + tonumber(ARGV[2])
  redis.call('HSET', KEYS[1], 's', 'd', 'x', deadline)
  redis.call('ZADD', KEYS[2], deadline, KEYS[1])
  return 1
end
return 0
`;
const RELEASE = `
local r = redis.call('HMGET', KEYS[1], 'h', 's')
if r[1] == ARGV[1] and r[2] == 'p' then
  redis.call('ZREM', KEYS[2], KEYS[1])
  return redis.call('DEL', KEYS[1])
end
return 0
`;

export type ClaimResult = 'claimed' | 'duplicate' | 'in_progress';

export interface DocumentRef {
  tenantId: string;
  documentId: string;
  contentHash: string;
}

type RedisWithScripts = Redis & {
  engramClaimDoc(key: string, expiry: string, hash: string, pendingTtlMs: number): Promise<ClaimResult>;
  engramConfirmDoc(key: string, expiry: string, hash: string, ttlMs: number): Promise<number>;
  engramReleaseDoc(key: string, expiry: string, hash: string): Promise<number>;
};

export class DocumentIdempotency {
  readonly #redis: RedisWithScripts;
  readonly #cluster: string;
  readonly #expiry: string;
  readonly #ttlMs: number;
  readonly #pendingTtlMs: number;

  constructor(redis: Redis, options: { cluster: string; ttlSeconds: number; pendingTtlMs?: number }) {
    redis.defineCommand('engramClaimDoc', { numberOfKeys: 2, lua: CLAIM });
    redis.defineCommand('engramConfirmDoc', { numberOfKeys: 2, lua: CONFIRM });
    redis.defineCommand('engramReleaseDoc', { numberOfKeys: 2, lua: RELEASE });
    this.#redis = redis as RedisWithScripts;
    this.#cluster = options.cluster;
    this.#expiry = redisKeys.controlExpiry(options.cluster);
    this.#ttlMs = options.ttlSeconds * 1000;
    this.#pendingTtlMs = options.pendingTtlMs ?? 60_000;
  }

  #key(d: DocumentRef): string {
    return redisKeys.document(this.#cluster, d.tenantId, d.documentId);
  }

  async claim(docs: DocumentRef[]): Promise<ClaimResult[]> {
    const pipeline = this.#redis.pipeline();
    const scripts = pipeline as unknown as RedisWithScripts;
    for (const d of docs)
      scripts.engramClaimDoc(this.#key(d), this.#expiry, d.contentHash, this.#pendingTtlMs);
    return unwrap<ClaimResult>(await pipeline.exec());
  }

  async confirm(docs: DocumentRef[]): Promise<void> {
    if (docs.length === 0) return;
    const pipeline = this.#redis.pipeline();
    const scripts = pipeline as unknown as RedisWithScripts;
    for (const d of docs) scripts.engramConfirmDoc(this.#key(d), this.#expiry, d.contentHash, this.#ttlMs);
    unwrap(await pipeline.exec());
  }

  async release(docs: DocumentRef[]): Promise<void> {
    if (docs.length === 0) return;
    const pipeline = this.#redis.pipeline();
    const scripts = pipeline as unknown as RedisWithScripts;
    for (const d of docs) scripts.engramReleaseDoc(this.#key(d), this.#expiry, d.contentHash);
    unwrap(await pipeline.exec());
  }
}

function unwrap<T>(results: [Error | null, unknown][] | null): T[] {
  if (!results) throw new Error('redis pipeline was discarded');
  return results.map(([err, value]) => {
    if (err) throw err;
    return value as T;
  });
}
