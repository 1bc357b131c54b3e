/**
 * Sentence embeddings for all-MiniLM-L6-v2 on onnxruntime-node: WordPiece ids -> BERT ->
 * mean over the attention mask -> L2 normalisation (what sentence-transformers does for this
 * model), 384 dimensions.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { z } from 'zod';
import { MODEL_MAX_LENGTH } from './model-location.ts';
import { WordPieceTokenizer } from './tokenizer.ts';

export interface Embedder {
  /** Names model, export and variant: part of every cache key (see contentHash). */
  readonly modelId: string;
  readonly dimensions: number;
  /** One unit-length vector per text, in the order given. */
  embed(texts: readonly string[]): Promise<Float32Array[]>;
  close(): Promise<void>;
}

export const modelVariants = ['fp32', 'int8'] as const;
export type ModelVariant = (typeof modelVariants)[number];
export const executionProviders = ['cpu', 'cuda'] as const;
export type ExecutionProvider = (typeof executionProviders)[number];

export interface OnnxEmbedderOptions {
  /** A directory written by hack/model/build-model.sh (or its copy in an image). */
  modelDir: string;
  /**
   * Threads of one inference. Set it from the pod's CPU limit (threadsForCpuLimit): ORT
   * otherwise sizes its pool to the node's cores and ignores the cgroup limit.
   */
  intraOpNumThreads: number;
  /** Threads across independent graph nodes; only used by the parallel executor. Default 1. */
  interOpNumThreads?: number;
  /** Default 'fp32'. 'int8' is ~2x faster at a cosine of >= 0.97 to fp32 (see test/embedding). */
  variant?: ModelVariant;
  /** Default 'cpu'. 'cuda' needs onnxruntime-node installed with its CUDA libraries. */
  executionProvider?: ExecutionProvider;
  /** Texts per inference call. Default 16. */
  batchSize?: number;
  /** Tokens per text, [CLS] and [SEP] included; longer texts are cut. Default 256. */
  maxLength?: number;
}

const manifestSchema = z.object({
  id: z.string().min(1),
  dimensions: z.number().int().positive(),
  variants: z.record(z.string(), z.string()),
  inputs: z.array(z.string()),
  output: z.string(),
});
export type ModelManifest = z.infer<typeof manifestSchema>;

export function readModelManifest(modelDir: string): ModelManifest {
  const file = join(modelDir, 'manifest.json');
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as Error).message}; run hack/model/build-model.sh`);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(
      `${file} is not a model manifest (${parsed.error.message}); rebuild it with hack/model/build-model.sh`,
    );
  }
  return parsed.data;
}

/** Inference threads for a CPU limit in cores (e.g. 0.5, 2): at least one, never a fraction. */
export function threadsForCpuLimit(cores: number | undefined): number {
  if (cores === undefined || !Number.isFinite(cores) || cores < 1) return 1;
  return Math.floor(cores);
}

/** Cache key of a text's embedding: sha256 hex over the model id and the text. */
export function contentHash(text: string, modelId: string): string {
  // The NUL separator keeps (id "a", text "bc") and (id "ab", text "c") apart.
  return createHash('sha256').update(modelId, 'utf8').update('\0').update(text, 'utf8').digest('hex');
}

/**
 * Groups text indices into batches of similar token length: sorted by length so each batch
 * pads little, then cut into runs of at most batchSize.
 */
export function bucketByLength(lengths: readonly number[], batchSize: number): number[][] {
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new RangeError(`batchSize must be >= 1, got ${batchSize}`);
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[a]! - lengths[b]! || a - b);
  const batches: number[][] = [];
  for (let i = 0; i < order.length; i += batchSize) batches.push(order.slice(i, i + batchSize));
  return batches;
}

/**
 * Mean of each row's unmasked token vectors, scaled to unit length. `hidden` is row-major
 * [rows, sequenceLength, dimensions]; `mask` is [rows, sequenceLength] of 0/1.
 */
export function meanPoolNormalized(
  hidden: Float32Array,
  mask: BigInt64Array,
  rows: number,
  sequenceLength: number,
  dimensions: number,
): Float32Array[] {
  if (hidden.length !== rows * sequenceLength * dimensions || mask.length !== rows * sequenceLength) {
    throw new RangeError(
      `shape mismatch: hidden ${hidden.length} != ${rows}x${sequenceLength}x${dimensions} or mask ${mask.length}`,
    );
  }
  const sum = new Float64Array(dimensions);
  const out: Float32Array[] = [];
  for (let r = 0; r < rows; r++) {
    sum.fill(0);
    let count = 0;
    for (let t = 0; t < sequenceLength; t++) {
      if (mask[r * sequenceLength + t] === 0n) continue;
      count++;
      const base = (r * sequenceLength + t) * dimensions;
      for (let d = 0; d < dimensions; d++) sum[d]! += hidden[base + d]!;
    }
    let norm = 0;
    for (let d = 0; d < dimensions; d++) {
      sum[d] = sum[d]! / Math.max(count, 1);
      norm += sum[d]! * sum[d]!;
    }
    const scale = 1 / Math.max(Math.sqrt(norm), 1e-12);
    const vector = new Float32Array(dimensions);
    for (let d = 0; d < dimensions; d++) vector[d] = sum[d]! * scale;
    out.push(vector);
  }
  return out;
}

/** The CUDA provider was asked for but this onnxruntime-node cannot load it. */
export class ExecutionProviderUnavailableError extends Error {
  readonly provider: ExecutionProvider;
  constructor(provider: ExecutionProvider, cause: unknown) {
    super(
      `execution provider '${provider}' is unavailable in this onnxruntime-node ` +
        `(${(cause as Error)?.message ?? String(cause)}): install onnxruntime-node with its ` +
        `CUDA libraries (npm install --onnxruntime-node-install=cuda12) on a GPU image, or use 'cpu'`,
      { cause },
    );
    this.name = 'ExecutionProviderUnavailableError';
    this.provider = provider;
  }
}

export class OnnxEmbedder implements Embedder {
  readonly modelId: string;
  readonly dimensions: number;
  readonly variant: ModelVariant;
  readonly executionProvider: ExecutionProvider;
  readonly batchSize: number;
  readonly maxLength: number;
  readonly tokenizer: WordPieceTokenizer;
  private readonly session: ort.InferenceSession;
  private readonly outputName: string;

  private constructor(
    fields: Pick<
      OnnxEmbedder,
      'modelId' | 'dimensions' | 'variant' | 'executionProvider' | 'batchSize' | 'maxLength'
    >,
    tokenizer: WordPieceTokenizer,
    session: ort.InferenceSession,
    outputName: string,
  ) {
    this.modelId = fields.modelId;
    this.dimensions = fields.dimensions;
    this.variant = fields.variant;
    this.executionProvider = fields.executionProvider;
    this.batchSize = fields.batchSize;
    this.maxLength = fields.maxLength;
    this.tokenizer = tokenizer;
    this.session = session;
    this.outputName = outputName;
  }

  static async create(options: OnnxEmbedderOptions): Promise<OnnxEmbedder> {
    const variant = options.variant ?? 'fp32';
    const executionProvider = options.executionProvider ?? 'cpu';
    const batchSize = options.batchSize ?? 16;
    const maxLength = options.maxLength ?? MODEL_MAX_LENGTH;
    const interOpNumThreads = options.interOpNumThreads ?? 1;
    positiveInteger('intraOpNumThreads', options.intraOpNumThreads);
    positiveInteger('interOpNumThreads', interOpNumThreads);
    positiveInteger('batchSize', batchSize);
    if (!Number.isInteger(maxLength) || maxLength < 2 || maxLength > 512) {
      throw new RangeError(`maxLength must be an integer in [2, 512] (BERT positions), got ${maxLength}`);
    }
    if (!modelVariants.includes(variant)) throw new RangeError(`unknown model variant '${variant}'`);
    if (!executionProviders.includes(executionProvider)) {
      throw new RangeError(`unknown execution provider '${executionProvider}'`);
    }

    const manifest = readModelManifest(options.modelDir);
    const file = manifest.variants[variant];
    if (!file)
      throw new Error(
        `${options.modelDir} has no '${variant}' model; rebuild it with hack/model/build-model.sh`,
      );
    const tokenizer = WordPieceTokenizer.fromVocabFile(join(options.modelDir, 'vocab.txt'));

    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(join(options.modelDir, file), {
        executionProviders: [executionProvider],
        intraOpNumThreads: options.intraOpNumThreads,
        interOpNumThreads,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
      });
    } catch (err) {
      if (executionProvider !== 'cpu') throw new ExecutionProviderUnavailableError(executionProvider, err);
      throw err;
    }
    const missing = ['input_ids', 'attention_mask', 'token_type_ids'].filter(
      (n) => !session.inputNames.includes(n),
    );
    if (missing.length > 0 || !session.outputNames.includes(manifest.output)) {
      await session.release();
      throw new Error(
        `${file} does not have the BERT inputs/outputs (missing ${missing.join(', ') || manifest.output})`,
      );
    }
    return new OnnxEmbedder(
      {
        modelId: `${manifest.id}/${variant}`,
        dimensions: manifest.dimensions,
        variant,
        executionProvider,
        batchSize,
        maxLength,
      },
      tokenizer,
      session,
      manifest.output,
    );
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    const encoded = texts.map((t) => this.tokenizer.encode(t, this.maxLength));
    const result = new Array<Float32Array>(texts.length);
    for (const batch of bucketByLength(
      encoded.map((e) => e.length),
      this.batchSize,
    )) {
      const vectors = await this.runBatch(batch.map((i) => encoded[i]!));
      batch.forEach((textIndex, row) => {
        result[textIndex] = vectors[row]!;
      });
    }
    return result;
  }

  private async runBatch(rows: readonly (readonly number[])[]): Promise<Float32Array[]> {
    const batch = this.tokenizer.padBatch(rows);
    const dims = [batch.batchSize, batch.sequenceLength];
    const feeds = {
      input_ids: new ort.Tensor('int64', batch.inputIds, dims),
      attention_mask: new ort.Tensor('int64', batch.attentionMask, dims),
      token_type_ids: new ort.Tensor('int64', batch.tokenTypeIds, dims),
    };
    let output: ort.Tensor | undefined;
    try {
      const outputs = await this.session.run(feeds, [this.outputName]);
      output = outputs[this.outputName];
      if (output?.type !== 'float32' || output.dims[2] !== this.dimensions) {
        throw new Error(`unexpected ${this.outputName}: ${output?.type} ${JSON.stringify(output?.dims)}`);
      }
      return meanPoolNormalized(
        output.data as Float32Array,
        batch.attentionMask,
        batch.batchSize,
        batch.sequenceLength,
        this.dimensions,
      );
    } finally {
      for (const tensor of Object.values(feeds)) tensor.dispose();
      output?.dispose();
    }
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

function positiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1)
    throw new RangeError(`${name} must be an integer >= 1, got ${value}`);
}
