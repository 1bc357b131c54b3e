/**
 * Runs the ONNX embedder on a worker thread. onnxruntime-node's `session.run` is synchronous on
 * the calling thread, so inside the role's main thread it would stall Kafka heartbeats, fetches
 * and Neo4j replies for the length of every inference call. Here the main thread keeps doing I/O
 * (decoding the next batch, committing the previous group's writes) while the model runs.
 *
 * Every call has a deadline. A synchronous `session.run` cannot be cancelled, so a call past it
 * fails with a TransientError (counted against the messages: a batch may be what is too slow) and
 * the thread is terminated and replaced by a fresh one loading the same model.
 */
import { Worker } from 'node:worker_threads';
import type { Embedder, OnnxEmbedderOptions } from '../../embed/embedder.ts';
import { TransientError } from '../../worker/errors.ts';

type Reply =
  | { type: 'ready'; modelId: string; dimensions: number }
  | { type: 'result'; id: number; vectors: Float32Array[] }
  | { type: 'error'; id: number; message: string }
  | { type: 'failed'; message: string };

interface Waiter {
  resolve: (v: Float32Array[]) => void;
  reject: (e: Error) => void;
}

interface InferenceThread {
  worker: Worker;
  modelId: string;
  dimensions: number;
  pending: Map<number, Waiter>;
}

export interface ThreadedEmbedderOptions {
  /** Deadline of one embed call, in ms. */
  timeoutMs: number;
  /** The thread crashed or could not be replaced: the process should exit. */
  onFatal: (error: Error) => void;
  /** A call passed its deadline (the thread is being replaced). */
  onTimeout?: () => void;
}

/** Starts a thread and resolves once its model is loaded. */
function spawnThread(options: OnnxEmbedderOptions): Promise<InferenceThread> {
  const worker = new Worker(new URL('./inference-thread-main.ts', import.meta.url), { workerData: options });
  return new Promise((resolve, reject) => {
    const onMessage = (reply: Reply) => {
      if (reply.type === 'ready') {
        cleanup();
        resolve({ worker, modelId: reply.modelId, dimensions: reply.dimensions, pending: new Map() });
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
    const onExit = (code: number) => {
      cleanup();
      reject(new Error(`inference thread exited with code ${code} while loading the model`));
    };
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}

export class ThreadedEmbedder implements Embedder {
  readonly modelId: string;
  readonly dimensions: number;
  readonly #model: OnnxEmbedderOptions;
  readonly #o: ThreadedEmbedderOptions;
  #thread: Promise<InferenceThread>;
  #nextId = 0;
  #dead: Error | undefined;

  private constructor(model: OnnxEmbedderOptions, thread: InferenceThread, options: ThreadedEmbedderOptions) {
    this.#model = model;
    this.#o = options;
    this.modelId = thread.modelId;
    this.dimensions = thread.dimensions;
    this.#thread = Promise.resolve(this.#watch(thread));
  }

  /** Loads the model in a new thread; resolves once it is ready. */
  static async create(
    model: OnnxEmbedderOptions,
    options: ThreadedEmbedderOptions,
  ): Promise<ThreadedEmbedder> {
    return new ThreadedEmbedder(model, await spawnThread(model), options);
  }

  #watch(thread: InferenceThread): InferenceThread {
    thread.worker.on('message', (reply: Reply) => {
      if (reply.type !== 'result' && reply.type !== 'error') return;
      const waiter = thread.pending.get(reply.id);
      thread.pending.delete(reply.id);
      if (reply.type === 'result') waiter?.resolve(reply.vectors);
      else waiter?.reject(new Error(reply.message));
    });
    thread.worker.on('error', (err) =>
      this.#die(new Error(`inference thread crashed: ${err.message}`, { cause: err })),
    );
    thread.worker.on('exit', (code) => this.#die(new Error(`inference thread exited with code ${code}`)));
    return thread;
  }

  #die(error: Error): void {
    if (this.#dead) return;
    this.#dead = error;
    void this.#thread.then(
      (t) => {
        for (const w of t.pending.values()) w.reject(error);
        t.pending.clear();
      },
      () => undefined,
    );
    this.#o.onFatal(error);
  }

  /** Replaces a thread stuck past a deadline; its other callers fail as transient too. */
  #replace(stuck: InferenceThread, reason: TransientError): void {
    stuck.worker.removeAllListeners();
    void stuck.worker.terminate();
    for (const w of stuck.pending.values()) w.reject(reason);
    stuck.pending.clear();
    this.#thread = spawnThread(this.#model).then(
      (fresh) => this.#watch(fresh),
      (err: Error) => {
        this.#die(new Error(`could not restart the inference thread: ${err.message}`, { cause: err }));
        throw err;
      },
    );
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    if (this.#dead) throw this.#dead;
    const thread = await this.#thread;
    const id = this.#nextId++;
    const { timeoutMs } = this.#o;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        thread.pending.delete(id);
        const reason = new TransientError(
          `inference of ${texts.length} texts did not finish within ${timeoutMs} ms ` +
            '(ENGRAM_INFERENCE_TIMEOUT_MS): the inference thread was restarted',
        );
        this.#o.onTimeout?.();
        if (!this.#dead) this.#replace(thread, reason);
        reject(reason);
      }, timeoutMs);
      thread.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      thread.worker.postMessage({ type: 'embed', id, texts });
    });
  }

  async close(): Promise<void> {
    this.#dead ??= new Error('embedder closed');
    const thread = await this.#thread.catch(() => undefined);
    if (!thread) return;
    const { worker } = thread;
    worker.removeAllListeners('exit');
    worker.removeAllListeners('error');
    worker.postMessage({ type: 'close' });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => void worker.terminate().then(() => resolve()), 5000);
      worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
