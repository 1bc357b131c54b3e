/**
 * Runs the ONNX embedder on a worker thread. onnxruntime-node's `session.run` is synchronous on
 * the calling thread, so inside the role's main thread it would stall Kafka heartbeats, fetches
 * and Neo4j replies for the length of every inference call. Here the main thread keeps doing I/O
 * (decoding the next batch, committing the previous group's writes) while the model runs.
 *
 * Every call has a deadline, counted from when the thread starts it. A call past it fails with a
 * TransientError (counted against its messages: a batch may be what is too slow; the worker then
 * splits it) and its late result is dropped. The run itself cannot be cancelled, and terminating a
 * thread inside onnxruntime aborts the whole process (measured: `Napi::Error`, exit 134), so the
 * thread is left to finish; if it is still busy `wedgedAfterMs` later, the role calls it fatal and
 * the process restarts.
 */
import { Worker } from 'node:worker_threads';
import { TransientError } from '../../core/errors.ts';
import type { Embedder, OnnxEmbedderOptions } from '../../model/embedder.ts';

type Reply =
  | { type: 'ready'; modelId: string; dimensions: number }
  | { type: 'started'; id: number }
  | { type: 'result'; id: number; vectors: Float32Array[] }
  | { type: 'error'; id: number; message: string }
  | { type: 'failed'; message: string };

interface Call {
  resolve: (v: Float32Array[]) => void;
  reject: (e: Error) => void;
  started: () => void;
}

export interface ThreadedEmbedderOptions {
  /** Deadline of one embed call once the thread runs it, in ms. */
  timeoutMs: number;
  /** How long an overdue call may keep the thread busy before the thread counts as wedged. */
  wedgedAfterMs?: number;
  /** The thread crashed or is wedged: the process should exit. */
  onFatal: (error: Error) => void;
  /** A call passed its deadline. */
  onTimeout?: () => void;
}

export class ThreadedEmbedder implements Embedder {
  readonly modelId: string;
  readonly dimensions: number;
  readonly #worker: Worker;
  readonly #o: ThreadedEmbedderOptions;
  readonly #calls = new Map<number, Call>();
  #nextId = 0;
  #dead: Error | undefined;

  private constructor(worker: Worker, modelId: string, dimensions: number, options: ThreadedEmbedderOptions) {
    this.#worker = worker;
    this.#o = options;
    this.modelId = modelId;
    this.dimensions = dimensions;
    worker.on('message', (reply: Reply) => {
      if (reply.type === 'started') {
        this.#calls.get(reply.id)?.started();
        return;
      }
      if (reply.type !== 'result' && reply.type !== 'error') return;
      const call = this.#calls.get(reply.id);
      this.#calls.delete(reply.id);
      if (reply.type === 'result') call?.resolve(reply.vectors);
      else call?.reject(new Error(reply.message));
    });
    worker.on('error', (err) =>
      this.#die(new Error(`inference thread crashed: ${err.message}`, { cause: err })),
    );
    worker.on('exit', (code) => this.#die(new Error(`inference thread exited with code ${code}`)));
  }

  /** Loads the model in a new thread; resolves once it is ready. */
  static create(model: OnnxEmbedderOptions, options: ThreadedEmbedderOptions): Promise<ThreadedEmbedder> {
    const worker = new Worker(new URL('./inference-thread-main.ts', import.meta.url), { workerData: model });
    return new Promise((resolve, reject) => {
      const onMessage = (reply: Reply) => {
        if (reply.type === 'ready') {
          cleanup();
          resolve(new ThreadedEmbedder(worker, reply.modelId, reply.dimensions, options));
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

  #die(error: Error): void {
    if (this.#dead) return;
    this.#dead = error;
    for (const c of this.#calls.values()) c.reject(error);
    this.#calls.clear();
    this.#o.onFatal(error);
  }

  embed(texts: readonly string[]): Promise<Float32Array[]> {
    if (this.#dead) return Promise.reject(this.#dead);
    const id = this.#nextId++;
    const { timeoutMs } = this.#o;
    const wedgedAfterMs = this.#o.wedgedAfterMs ?? Math.max(60_000, 10 * timeoutMs);
    return new Promise((resolve, reject) => {
      let deadline: NodeJS.Timeout | undefined;
      const call: Call = {
        started: () => {
          deadline = setTimeout(() => {
            // Overdue: fail the caller now, drop the result when it comes, watch for a wedge.
            this.#calls.set(id, {
              started: () => undefined,
              resolve: () => clearTimeout(wedge),
              reject: () => clearTimeout(wedge),
            });
            const wedge = setTimeout(() => {
              if (this.#calls.has(id))
                this.#die(
                  new Error(
                    `inference thread still busy ${wedgedAfterMs} ms after a call's deadline: it is wedged`,
                  ),
                );
            }, wedgedAfterMs);
            wedge.unref();
            this.#o.onTimeout?.();
            reject(
              new TransientError(
                `inference of ${texts.length} texts did not finish within ${timeoutMs} ms ` +
                  '(ENGRAM_INFERENCE_TIMEOUT_MS); its result will be dropped',
              ),
            );
          }, timeoutMs);
        },
        resolve: (v) => {
          clearTimeout(deadline);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(deadline);
          reject(e);
        },
      };
      this.#calls.set(id, call);
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
