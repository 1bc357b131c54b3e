/** The inference thread's entry point (see inference-thread.ts): owns one OnnxEmbedder. */
import { parentPort, workerData } from 'node:worker_threads';
import { OnnxEmbedder, type OnnxEmbedderOptions } from '../../model/embedder.ts';

const port = parentPort!;
try {
  const embedder = await OnnxEmbedder.create(workerData as OnnxEmbedderOptions);
  port.on('message', async (msg: { type: 'embed'; id: number; texts: string[] } | { type: 'close' }) => {
    if (msg.type === 'close') {
      await embedder.close();
      port.close();
      return;
    }
    try {
      // The caller's deadline runs from here, not from when the call was queued.
      port.postMessage({ type: 'started', id: msg.id });
      const vectors = await embedder.embed(msg.texts);
      port.postMessage(
        { type: 'result', id: msg.id, vectors },
        vectors.map((v) => v.buffer as ArrayBuffer),
      );
    } catch (err) {
      port.postMessage({ type: 'error', id: msg.id, message: (err as Error).message });
    }
  });
  port.postMessage({ type: 'ready', modelId: embedder.modelId, dimensions: embedder.dimensions });
} catch (err) {
  port.postMessage({ type: 'failed', message: (err as Error).message });
}
