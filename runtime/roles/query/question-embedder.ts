/**
 * Questions to vectors: the tenant's embedding cache first, then the model. Questions that arrive
 * while the model is busy wait and go through together in one call, so concurrent queries share
 * inference instead of queueing one by one behind each other.
 */
import { contentHash, type Embedder } from '../../model/embedder.ts';
import type { EmbeddingCache } from '../embed/embedding-cache.ts';

interface Waiting {
  tenantId: string;
  text: string;
  hash: string;
  resolve: (v: Float32Array) => void;
  reject: (e: Error) => void;
}

export class QuestionEmbedder {
  readonly #embedder: Pick<Embedder, 'embed' | 'modelId'>;
  readonly #cache: Pick<EmbeddingCache, 'get' | 'set'> | undefined;
  readonly #maxBatch: number;
  #queue: Waiting[] = [];
  #running = false;

  constructor(
    embedder: Pick<Embedder, 'embed' | 'modelId'>,
    cache?: Pick<EmbeddingCache, 'get' | 'set'>,
    maxBatch = 32,
  ) {
    this.#embedder = embedder;
    this.#cache = cache;
    this.#maxBatch = maxBatch;
  }

  async embed(tenantId: string, text: string): Promise<Float32Array> {
    const hash = contentHash(text, this.#embedder.modelId);
    const [hit] = this.#cache ? await this.#cache.get([{ tenantId, contentHash: hash }]) : [undefined];
    if (hit) return hit;
    const vector = await new Promise<Float32Array>((resolve, reject) => {
      this.#queue.push({ tenantId, text, hash, resolve, reject });
      if (!this.#running) void this.#drain();
    });
    await this.#cache?.set([{ lookup: { tenantId, contentHash: hash }, vector }]);
    return vector;
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, this.#maxBatch);
        try {
          const vectors = await this.#embedder.embed(batch.map((w) => w.text));
          for (const [i, w] of batch.entries()) w.resolve(vectors[i]!);
        } catch (err) {
          for (const w of batch) w.reject(err as Error);
        }
      }
    } finally {
      this.#running = false;
    }
  }
}
