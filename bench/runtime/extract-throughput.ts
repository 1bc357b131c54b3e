/**
 * Built-in extraction throughput next to the int8 embedding floor, in one run: extraction must
 * never be what limits ingest (issue 10's target is end-to-end ingest at 0.7x the embedding floor).
 *
 *   floor:     the same texts through ONNX Runtime (OnnxEmbedder, int8, groups of 64, 1 thread).
 *   in-process: extractBuiltIn over every text, one thread.
 *   role:      `node runtime/main.ts extract` (no endpoint: the built-in extractor) consuming the
 *              texts as chunk messages from ingest.extract and producing graph.resolve; timed
 *              from partition assignment to the last offset committed.
 *
 * Usage: node bench/runtime/extract-throughput.ts [--texts 4000]
 * Needs the local environment (make devenv) and the model (make model).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { OnnxEmbedder } from '../../runtime/model/embedder.ts';
import { requireModelDir } from '../../runtime/model/model-location.ts';
import { type ChunkMessage, chunkId, messageKey, sha256 } from '../../runtime/pipeline/messages.ts';
import { extractBuiltIn } from '../../runtime/roles/extract/built-in-extractor.ts';
import { committedTotal, createPipelineTopics } from '../../test/runtime/kafka-fixtures.ts';
import { runtimeEnvFor, spawnRuntime } from '../../test/runtime/runtime-process.ts';
import { requireDevEnv } from '../../test/support/devenv.ts';
import { eventually, uniqueName } from '../../test/support/wait.ts';

const { values: args } = parseArgs({ options: { texts: { type: 'string', default: '4000' } } });
const N = Number(args.texts);
const BATCH = 64;
const dev = requireDevEnv();
const modelDir = requireModelDir();

const FIRST = ['Alice', 'Bruno', 'Chiara', 'Dmitri', 'Elena', 'Farid', 'Grace', 'Hiro', 'Ines', 'Jonas'];
const LAST = ['Chen', 'Rossi', 'Novak', 'Okafor', 'Lindqvist', 'Haddad', 'Moreau', 'Tanaka'];
const ORGS = [
  'Initech Inc',
  'Globex Corp',
  'Umbrella Ltd',
  'Acme Robotics',
  'University of Oslo',
  'Hooli Labs',
];
const PLACES = ['Oslo', 'Lisbon', 'Nairobi', 'Osaka', 'Toronto'];

/** Deterministic chunk texts of about 50 tokens, each naming people, organisations and places. */
function text(i: number): string {
  const p = (k: number) => `${FIRST[(i + k) % FIRST.length]} ${LAST[(i * 3 + k) % LAST.length]}`;
  const o = (k: number) => ORGS[(i + k) % ORGS.length]!;
  return (
    `${p(0)} works at ${o(0)} and met ${p(1)} in ${PLACES[i % PLACES.length]} last spring. ` +
    `${o(1)} acquired ${o(2)} in ${2000 + (i % 25)}. ` +
    `${o(0)} is based in ${PLACES[(i + 2) % PLACES.length]}. Later, ${p(2)} joined ${o(1)} as an engineer.`
  );
}

function chunkOf(tenantId: string, i: number): ChunkMessage {
  const t = text(i);
  return {
    v: 2,
    kind: 'chunk',
    tenantId,
    documentId: `doc-${i}`,
    documentVersion: { partition: 0, offset: i, timestamp: 1_700_000_000_000 },
    documentHash: sha256(t),
    chunkId: chunkId(tenantId, `doc-${i}`, 0),
    index: 0,
    count: 1,
    text: t,
    tokens: 50,
    start: 0,
    end: t.length,
  };
}

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function embeddingFloor(texts: string[]): Promise<number> {
  const embedder = await OnnxEmbedder.create({ modelDir, variant: 'int8', intraOpNumThreads: 1 });
  try {
    await embedder.embed(texts.slice(0, BATCH));
    const t0 = performance.now();
    for (let i = 0; i < texts.length; i += BATCH) await embedder.embed(texts.slice(i, i + BATCH));
    return texts.length / ((performance.now() - t0) / 1000);
  } finally {
    await embedder.close();
  }
}

function inProcess(texts: string[]): { perSecond: number; relations: number } {
  extractBuiltIn(texts[0]!);
  let relations = 0;
  const t0 = performance.now();
  for (const t of texts) relations += extractBuiltIn(t).relations.length;
  return { perSecond: texts.length / ((performance.now() - t0) / 1000), relations: relations / texts.length };
}

async function throughKafka(chunks: ChunkMessage[]): Promise<{ perSecond: number; perCpuSecond: number }> {
  const t = await createPipelineTopics(dev.KAFKA_BROKERS, uniqueName('bench-ext'));
  const producer = await t.producer();
  for (let i = 0; i < chunks.length; i += 500)
    await producer.send({
      topic: t.topic('ingest.extract'),
      messages: chunks
        .slice(i, i + 500)
        .map((c) => ({ key: messageKey(c.tenantId, c.documentId), value: JSON.stringify(c) })),
    });
  const proc = spawnRuntime(
    'extract',
    runtimeEnvFor(dev, { ENGRAM_CLUSTER: 'bench', ENGRAM_TOPIC_PREFIX: t.prefix }),
  );
  try {
    await proc.waitForLog('partitions assigned', 60_000);
    const t0 = performance.now();
    const c0 = cpuSeconds(proc.child.pid!);
    await eventually(
      'all chunks committed',
      async () =>
        (await committedTotal(t.admin, `${t.prefix}.extract`, t.topic('ingest.extract'))) >= chunks.length,
      { timeoutMs: 600_000, intervalMs: 50 },
    );
    const seconds = (performance.now() - t0) / 1000;
    return {
      perSecond: chunks.length / seconds,
      perCpuSecond: chunks.length / (cpuSeconds(proc.child.pid!) - c0),
    };
  } finally {
    await proc.stop('SIGTERM');
    await t.cleanup();
  }
}

const chunks = Array.from({ length: N }, (_, i) => chunkOf('bench', i));
const texts = chunks.map((c) => c.text);
const floor = await embeddingFloor(texts);
const local = inProcess(texts);
const role = await throughKafka(chunks);
process.stdout.write(
  `built-in extraction: ${N} chunk texts (~50 tokens, ${local.relations.toFixed(1)} relations each)\n\n` +
    '| measure | texts/s | ratio to the int8 embedding floor |\n|---|---|---|\n' +
    `| int8 embedding floor (ONNX, 1 thread, groups of ${BATCH}) | ${floor.toFixed(1)} | 1.000 |\n` +
    `| built-in extractor in process (1 thread) | ${local.perSecond.toFixed(1)} | ${(local.perSecond / floor).toFixed(2)} |\n` +
    `| extract role through Kafka | ${role.perSecond.toFixed(1)} | ${(role.perSecond / floor).toFixed(2)} |\n` +
    `| extract role per worker CPU-s | ${role.perCpuSecond.toFixed(1)} | ${(role.perCpuSecond / floor).toFixed(2)} |\n`,
);
