/**
 * Idempotency on (tenant, document id, content hash). A document is claimed (`pending:<hash>`,
 * short TTL) before it is produced, confirmed (`<hash>`, long TTL) once the broker acknowledged
 * it, and released if producing failed, so a crash between produce and confirm can only cause
 * a harmless re-send (chunk ids are deterministic), never a lost document.
 */
import type { Redis } from 'ioredis';
import { redisKeys } from '../../contract/stores.ts';

const CLAIM = `
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then return 'duplicate' end
if cur == 'pending:' .. ARGV[1] then return 'in_progress' end
redis.call('SET', KEYS[1], 'pending:' .. ARGV[1], 'PX', ARGV[2])
return 'claimed'
`;
const CONFIRM = `
if redis.call('GET', KEYS[1]) == 'pending:' .. ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
return 0
`;
const RELEASE = `
if redis.call('GET', KEYS[1]) == 'pending:' .. ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

export type ClaimResult = 'claimed' | 'duplicate' | 'in_progress';

export interface DocumentRef {
  tenantId: string;
  documentId: string;
  contentHash: string;
}

type RedisWithScripts = Redis & {
  engramClaimDoc(key: string, hash: string, pendingTtlMs: number): Promise<ClaimResult>;
  engramConfirmDoc(key: string, hash: string, ttlSeconds: number): Promise<number>;
  engramReleaseDoc(key: string, hash: string): Promise<number>;
};

export class DocumentIdempotency {
  readonly #redis: RedisWithScripts;
  readonly #cluster: string;
  readonly #ttlSeconds: number;
  readonly #pendingTtlMs: number;

  constructor(redis: Redis, options: { cluster: string; ttlSeconds: number; pendingTtlMs?: number }) {
    redis.defineCommand('engramClaimDoc', { numberOfKeys: 1, lua: CLAIM });
    redis.defineCommand('engramConfirmDoc', { numberOfKeys: 1, lua: CONFIRM });
    redis.defineCommand('engramReleaseDoc', { numberOfKeys: 1, lua: RELEASE });
    this.#redis = redis as RedisWithScripts;
    this.#cluster = options.cluster;
    this.#ttlSeconds = options.ttlSeconds;
    this.#pendingTtlMs = options.pendingTtlMs ?? 60_000;
  }

  #key(d: DocumentRef): string {
    return redisKeys.document(this.#cluster, d.tenantId, d.documentId);
  }

  async claim(docs: DocumentRef[]): Promise<ClaimResult[]> {
    const pipeline = this.#redis.pipeline();
    for (const d of docs)
      (pipeline as unknown as RedisWithScripts).engramClaimDoc(
        this.#key(d),
        d.contentHash,
        this.#pendingTtlMs,
      );
    return unwrap<ClaimResult>(await pipeline.exec());
  }

  async confirm(docs: DocumentRef[]): Promise<void> {
    if (docs.length === 0) return;
    const pipeline = this.#redis.pipeline();
    for (const d of docs)
      (pipeline as unknown as RedisWithScripts).engramConfirmDoc(
        this.#key(d),
        d.contentHash,
        this.#ttlSeconds,
      );
    unwrap(await pipeline.exec());
  }

  async release(docs: DocumentRef[]): Promise<void> {
    if (docs.length === 0) return;
    const pipeline = this.#redis.pipeline();
    for (const d of docs)
      (pipeline as unknown as RedisWithScripts).engramReleaseDoc(this.#key(d), d.contentHash);
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
