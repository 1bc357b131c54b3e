/**
 * Embeddings cached in Redis by content hash (model id + text), per tenant. The cache only saves
 * work: when Redis fails, reads count as misses and writes are skipped, and the pipeline goes on.
 */
import type { Redis } from 'ioredis';
import { redisKeys } from '../../contract/stores.ts';
import type { Logger } from '../../observability/log.ts';

export interface CacheLookup {
  tenantId: string;
  contentHash: string;
}

export class EmbeddingCache {
  readonly #redis: Redis;
  readonly #cluster: string;
  readonly #dimensions: number;
  readonly #ttlSeconds: number;
  readonly #log: Logger;

  constructor(
    redis: Redis,
    options: { cluster: string; dimensions: number; ttlSeconds: number; log: Logger },
  ) {
    this.#redis = redis;
    this.#cluster = options.cluster;
    this.#dimensions = options.dimensions;
    this.#ttlSeconds = options.ttlSeconds;
    this.#log = options.log;
  }

  get enabled(): boolean {
    return this.#ttlSeconds > 0;
  }

  #key(l: CacheLookup): string {
    return redisKeys.embedding(this.#cluster, l.tenantId, l.contentHash);
  }

  /** One entry per lookup: the vector, or undefined on a miss (or when Redis is unavailable). */
  async get(lookups: CacheLookup[]): Promise<(Float32Array | undefined)[]> {
    if (!this.enabled || lookups.length === 0) return lookups.map(() => undefined);
    try {
      const values = await this.#redis.mgetBuffer(...lookups.map((l) => this.#key(l)));
      return values.map((buf) => {
        if (!buf || buf.length !== this.#dimensions * 4) return undefined;
        // Copy: the Buffer may be a view into a shared pool with an unaligned offset.
        return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
      });
    } catch (err) {
      this.#log.warn('embedding cache read failed; computing instead', { error: err });
      return lookups.map(() => undefined);
    }
  }

  async set(entries: { lookup: CacheLookup; vector: Float32Array }[]): Promise<void> {
    if (!this.enabled || entries.length === 0) return;
    try {
      const pipeline = this.#redis.pipeline();
      for (const { lookup, vector } of entries) {
        pipeline.set(
          this.#key(lookup),
          Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength),
          'EX',
          this.#ttlSeconds,
        );
      }
      const results = await pipeline.exec();
      const failed = results?.find(([err]) => err);
      if (failed) throw failed[0];
    } catch (err) {
      this.#log.warn('embedding cache write failed; continuing without it', { error: err });
    }
  }
}
