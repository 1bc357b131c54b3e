/**
 * Runs the ONNX embedder on a worker thread. onnxruntime-node's `session.run` is synchronous on
 * the calling thread, so inside the role's main thread it would stall Kafka heartbeats, fetches
 * and Neo4j replies for the length of every inference call. Here the main thread keeps doing I/O
 * (decoding the next batch, committing the previous group's writes) while the model runs.
 */
import { Worker } from 'node:worker_threads';
import type { Embedder, OnnxEmbedderOptions } from '../../embed/embedder.ts';

type Reply =
  | { type: 'ready'; modelId: string; dimensions: number }
  | { type: 'result'; id: number; vectors: Float32Array[] }
  | { type: 'error'; id: number; message: string }
  | { type: 'failed'; message: string };

export class ThreadedEmbedder implements Embedder {
  readonly modelId: string;
  readonly dimensions: number;
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve: (v: Float32Array[]) => void; reject: (e: Error) => void }>();
  #nextId = 0;
  #dead: Error | undefined;

  private constructor(worker: Worker, modelId: string, dimensions: number, onFatal: (error: Error) => void) {
    this.#worker = worker;
    this.modelId = modelId;
    this.dimensions = dimensions;
    worker.on('message', (reply: Reply) => {
      if (reply.type !== 'result' && reply.type !== 'error') return;
      const waiter = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      if (reply.type === 'result') waiter?.resolve(reply.vectors);
      else waiter?.reject(new Error(reply.message));
    });
    const die = (error: Error) => {
      if (this.#dead) return;
      this.#dead = error;
      for (const w of this.#pending.values()) w.reject(error);
      this.#pending.clear();
      onFatal(error);
    };
    worker.on('error', (err) => die(new Error(`inference thread crashed: ${err.message}`, { cause: err })));
    worker.on('exit', (code) => die(new Error(`inference thread exited with code ${code}`)));
  }

  /** Loads the model in a new thread; resolves once it is ready. */
  static create(options: OnnxEmbedderOptions, onFatal: (error: Error) => void): Promise<ThreadedEmbedder> {
    const worker = new Worker(new URL('./inference-thread-main.ts', import.meta.url), {
      workerData: options,
    });
    return new Promise((resolve, reject) => {
      const onMessage = (reply: Reply) => {
        if (reply.type === 'ready') {
          cleanup();
          resolve(new ThreadedEmbedder(worker, reply.modelId, reply.dimensions, onFatal));
        } else if (reply.type === 'failed') {
          cleanup();
          void worker.terminate();
          reject(new Error(reply.message));
        }
      };
      const onError = (err: Error) => {
        cleanup();
        reject(err);
      };
      const cleanup = () => {
        worker.off('message', onMessage);
        worker.off('error', onError);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
    });
  }

  embed(texts: readonly string[]): Promise<Float32Array[]> {
    if (this.#dead) return Promise.reject(this.#dead);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ type: 'embed', id, texts });
    });
  }

  async close(): Promise<void> {
    this.#dead ??= new Error('embedder closed');
    this.#worker.removeAllListeners('exit');
    this.#worker.removeAllListeners('error');
    this.#worker.postMessage({ type: 'close' });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => void this.#worker.terminate().then(() => resolve()), 5000);
      this.#worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
