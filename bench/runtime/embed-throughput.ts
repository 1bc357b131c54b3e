/**
 * Embedding throughput through Kafka next to its floor, in one run, per model variant.
 *
 *   floor: the same texts, model, variant, group size and threads straight through ONNX Runtime
 *          (OnnxEmbedder.embed per group of ENGRAM_BATCH_SIZE), no Kafka, no Neo4j, no Redis.
 *   role:  `node runtime/main.ts embed` as a pod runs it, consuming the same texts as chunk
 *          messages from ingest.embed and writing chunk nodes to Neo4j (cache off, so every text
 *          is computed); timed from partition assignment to the last offset committed.
 *
 * Usage: node bench/runtime/embed-throughput.ts [--texts 2000] [--variants fp32,int8]
 *        [--batch 64] [--threads 1] [--concurrency 2] [--partitions 2] [--max-tokens 64]
 *        [--cpu-prof-dir DIR]   (the worker writes V8 CPU profiles of its threads there)
 * Needs the local environment (make devenv) and the model (hack/model/build-model.sh).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { OnnxEmbedder } from '../../runtime/model/embedder.ts';
import { requireModelDir } from '../../runtime/model/model-location.ts';
import { type ChunkMessage, messageKey, type RawDocument, sha256 } from '../../runtime/pipeline/messages.ts';
import { chunkDocument } from '../../runtime/roles/ingest/role.ts';
import { loadTokenCounter } from '../../runtime/roles/ingest/token-counter.ts';
import { corpusDocument } from '../../test/runtime/corpus.ts';
import { purgeTenants, testDriver } from '../../test/runtime/graph-fixtures.ts';
import { committedTotal, createPipelineTopics } from '../../test/runtime/kafka-fixtures.ts';
import { runtimeEnvFor, spawnRuntime } from '../../test/runtime/runtime-process.ts';
import { repoRoot, requireDevEnv } from '../../test/support/devenv.ts';
import { eventually, uniqueName } from '../../test/support/wait.ts';

const { values: args } = parseArgs({
  options: {
    texts: { type: 'string', default: '2000' },
    variants: { type: 'string', default: 'fp32,int8' },
    batch: { type: 'string', default: '64' },
    threads: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '2' },
    partitions: { type: 'string', default: '2' },
    'max-tokens': { type: 'string', default: '64' },
    'cpu-prof-dir': { type: 'string' },
  },
});
const N = Number(args.texts);
const BATCH = Number(args.batch);
const THREADS = Number(args.threads);
const MAX_TOKENS = Number(args['max-tokens']);
const variants = args.variants.split(',') as ('fp32' | 'int8')[];

const dev = requireDevEnv();
const modelDir = requireModelDir();

/** CPU seconds (user + system) a process has used so far, from /proc (Linux clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const neo4jPid = Number(readFileSync(join(repoRoot, '.devenv', 'pids', 'neo4j.pid'), 'utf8').trim());

async function corpusChunks(tenantId: string): Promise<ChunkMessage[]> {
  const countTokens = await loadTokenCounter(modelDir);
  const out: ChunkMessage[] = [];
  for (let i = 0; out.length < N; i++) {
    const content = corpusDocument(50_000 + i);
    const doc: RawDocument = {
      v: 1,
      kind: 'document',
      tenantId,
      documentId: `doc-${i}`,
      contentHash: sha256(content),
      content,
      acceptedAt: 1_700_000_000_000,
    };
    const version = { partition: 0, offset: i, timestamp: 1_700_000_000_000 };
    out.push(
      ...chunkDocument(doc, version, {
        maxTokens: MAX_TOKENS,
        overlapTokens: 16,
        countTokens,
        maxChunksPerDocument: 100_000,
      }),
    );
  }
  return out.slice(0, N);
}

async function floor(
  variant: 'fp32' | 'int8',
  texts: string[],
): Promise<{ perSecond: number; perCpuSecond: number }> {
  const embedder = await OnnxEmbedder.create({ modelDir, variant, intraOpNumThreads: THREADS });
  try {
    await embedder.embed(texts.slice(0, BATCH)); // warm-up, as the role's first groups are
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    for (let i = 0; i < texts.length; i += BATCH) await embedder.embed(texts.slice(i, i + BATCH));
    const cpu = process.cpuUsage(c0);
    return {
      perSecond: texts.length / ((performance.now() - t0) / 1000),
      perCpuSecond: texts.length / ((cpu.user + cpu.system) / 1e6),
    };
  } finally {
    await embedder.close();
  }
}

async function throughKafka(variant: 'fp32' | 'int8', tenantId: string, chunks: ChunkMessage[]) {
  const cluster = uniqueName('bench');
  const t = await createPipelineTopics(dev.KAFKA_BROKERS, uniqueName('bench'), { 'ingest.embed': 2 });
  const driver = testDriver(dev);
  const producer = await t.producer();
  for (let i = 0; i < chunks.length; i += 500) {
    await producer.send({
      topic: t.topic('ingest.embed'),
      messages: chunks
        .slice(i, i + 500)
        .map((c) => ({ key: messageKey(c.tenantId, c.documentId), value: JSON.stringify(c) })),
    });
  }
  const proc = spawnRuntime(
    'embed',
    runtimeEnvFor(dev, {
      ENGRAM_CLUSTER: cluster,
      ENGRAM_TOPIC_PREFIX: t.prefix,
      ENGRAM_MODEL_DIR: modelDir,
      ENGRAM_MODEL_VARIANT: variant,
      ENGRAM_MODEL_THREADS: String(THREADS),
      ENGRAM_BATCH_SIZE: String(BATCH),
      ENGRAM_CONCURRENCY: args.concurrency,
      ENGRAM_PARTITIONS_CONCURRENTLY: args.partitions,
      ENGRAM_EMBEDDING_CACHE_TTL_SECONDS: '0',
      ENGRAM_LOG_LEVEL: 'info',
      ...(args['cpu-prof-dir'] && { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${args['cpu-prof-dir']}` }),
    }),
  );
  try {
    await proc.waitForLog('partitions assigned', 60_000);
    const t0 = performance.now();
    const pid = proc.child.pid!;
    const [w0, n0] = [cpuSeconds(pid), cpuSeconds(neo4jPid)];
    await eventually(
      'all chunks committed',
      async () =>
        (await committedTotal(t.admin, `${t.prefix}.embed`, t.topic('ingest.embed'))) >= chunks.length,
      { timeoutMs: 600_000, intervalMs: 50 },
    );
    const seconds = (performance.now() - t0) / 1000;
    const [workerCpu, neo4jCpu] = [cpuSeconds(pid) - w0, cpuSeconds(neo4jPid) - n0];
    const port = (await proc.waitForLog('starting'))['metricsPort'] as number;
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const read = (name: string, suffix: 'sum' | 'count') =>
      Number(
        new RegExp(`^${name}_${suffix}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(metrics)?.[1] ?? Number.NaN,
      );
    return {
      textsPerSecond: chunks.length / seconds,
      textsPerWorkerCpuSecond: chunks.length / workerCpu,
      neo4jCpu,
      seconds,
      inferenceSeconds: read('engram_embedding_duration_seconds', 'sum'),
      graphWriteSeconds: read('engram_graph_write_duration_seconds', 'sum'),
      handlerMeanSeconds:
        read('engram_handler_duration_seconds', 'sum') / read('engram_handler_duration_seconds', 'count'),
    };
  } finally {
    await proc.stop('SIGTERM');
    await purgeTenants(dev, driver, cluster, [tenantId]);
    await driver.close();
    await t.cleanup();
  }
}

const tenantId = uniqueName('bench');
const chunks = await corpusChunks(tenantId);
const avgTokens = chunks.reduce((n, c) => n + c.tokens, 0) / chunks.length;
process.stdout.write(
  `embed throughput: ${N} texts (avg ${avgTokens.toFixed(1)} tokens, max ${MAX_TOKENS}), group ${BATCH}, ` +
    `${THREADS} thread(s), concurrency ${args.concurrency}, partitions concurrently ${args.partitions}\n\n` +
    'The floor runs before and after the Kafka run; the ratio uses their mean (load on a shared machine drifts).\n\n' +
    '"per CPU-s" counts the CPU time of the embedding process only (the floor\'s own process; the worker\n' +
    "process for the Kafka run); Neo4j's CPU for the writes is shown apart.\n\n" +
    '| variant | floor texts/s (before/after) | through Kafka texts/s | ratio | floor per CPU-s | worker per CPU-s | CPU ratio | inference s | Neo4j write s | Neo4j CPU s | mean handler s |\n' +
    '|---|---|---|---|---|---|---|---|---|---|---|\n',
);
for (const variant of variants) {
  const texts = chunks.map((c) => c.text);
  const before = await floor(variant, texts);
  const k = await throughKafka(variant, tenantId, chunks);
  const afterwards = await floor(variant, texts);
  const f = (before.perSecond + afterwards.perSecond) / 2;
  const fCpu = (before.perCpuSecond + afterwards.perCpuSecond) / 2;
  process.stdout.write(
    `| ${variant} | ${f.toFixed(1)} (${before.perSecond.toFixed(1)}/${afterwards.perSecond.toFixed(1)}) | ` +
      `${k.textsPerSecond.toFixed(1)} | ${(k.textsPerSecond / f).toFixed(3)} | ${fCpu.toFixed(1)} | ` +
      `${k.textsPerWorkerCpuSecond.toFixed(1)} | ${(k.textsPerWorkerCpuSecond / fCpu).toFixed(3)} | ` +
      `${k.inferenceSeconds.toFixed(1)} | ${k.graphWriteSeconds.toFixed(1)} | ${k.neo4jCpu.toFixed(1)} | ` +
      `${k.handlerMeanSeconds.toFixed(2)} |\n`,
  );
}
