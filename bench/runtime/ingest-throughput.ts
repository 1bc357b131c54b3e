/**
 * End-to-end ingest next to the int8 embedding floor, in one run.
 *
 *   floor:    the documents' texts straight through ONNX Runtime (int8, 1 thread, groups of 64):
 *             what one core can embed, with no Kafka, Neo4j or Redis.
 *   pipeline: gateway (HTTP batches) -> ingest -> embed (int8, 1 thread, cache off) and extract
 *             (built-in extractor) -> resolve, each `node runtime/main.ts <role>` as a pod runs it;
 *             timed from the first POST until every chunk is in Neo4j and resolve has committed
 *             every extraction (entities, mentions and relations written).
 *
 * The documents are the knowledge corpus (test/fixtures/corpus: ~95-character documents about
 * recurring people and organisations, one chunk each), repeated under new ids up to --documents.
 * "per CPU-s" divides by the CPU seconds of the role processes (Neo4j and Kafka shown apart), the
 * floor's by its own process's.
 *
 * Usage: node bench/runtime/ingest-throughput.ts [--documents 2000] [--rounds 1]
 * Needs the local environment (make devenv) and the model (hack/model/build-model.sh).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { apiKeyHash, tenantKeyFileContent } from '../../runtime/contract/tenants.ts';
import { OnnxEmbedder } from '../../runtime/model/embedder.ts';
import { requireModelDir } from '../../runtime/model/model-location.ts';
import { freePort } from '../../test/runtime/gateway-fixtures.ts';
import { countEmbeddedChunks, purgeTenants, testDriver } from '../../test/runtime/graph-fixtures.ts';
import { committedTotal, createPipelineTopics } from '../../test/runtime/kafka-fixtures.ts';
import { loadCorpus } from '../../test/runtime/knowledge-fixtures.ts';
import { type RuntimeProcess, runtimeEnvFor, spawnRuntime } from '../../test/runtime/runtime-process.ts';
import { repoRoot, requireDevEnv } from '../../test/support/devenv.ts';
import { eventually, uniqueName } from '../../test/support/wait.ts';

const { values: args } = parseArgs({
  options: {
    documents: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '1' },
  },
});
const N = Number(args.documents);
const ROUNDS = Number(args.rounds);
const GROUP = 64;
const POST_BATCH = 100;

const dev = requireDevEnv();
const modelDir = requireModelDir();

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
const pidOf = (name: string) =>
  Number(readFileSync(join(repoRoot, '.devenv', 'pids', `${name}.pid`), 'utf8').trim());

interface Doc {
  tenant: string;
  id: string;
  content: string;
}

function documents(tenants: { a: string; b: string }): Doc[] {
  const corpus = loadCorpus({ atlas: tenants.a, borealis: tenants.b });
  const out: Doc[] = [];
  for (let round = 0; out.length < N; round++)
    for (const d of corpus.documents) {
      if (out.length >= N) break;
      out.push({ tenant: d.tenant, id: `${d.id}-r${round}`, content: d.content });
    }
  return out;
}

async function floor(texts: string[]): Promise<{ perSecond: number; perCpuSecond: number }> {
  const embedder = await OnnxEmbedder.create({ modelDir, variant: 'int8', intraOpNumThreads: 1 });
  try {
    await embedder.embed(texts.slice(0, GROUP));
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    for (let i = 0; i < texts.length; i += GROUP) await embedder.embed(texts.slice(i, i + GROUP));
    const cpu = process.cpuUsage(c0);
    return {
      perSecond: texts.length / ((performance.now() - t0) / 1000),
      perCpuSecond: texts.length / ((cpu.user + cpu.system) / 1e6),
    };
  } finally {
    await embedder.close();
  }
}

async function pipeline(docs: Doc[], tenants: string[]) {
  const cluster = uniqueName('bi');
  const t = await createPipelineTopics(dev.KAFKA_BROKERS, uniqueName('bit'));
  const driver = testDriver(dev);
  const keysDir = mkdtempSync(join(tmpdir(), 'engram-bench-keys-'));
  const keys = Object.fromEntries(tenants.map((tenant) => [tenant, `egk_${tenant}_bench`]));
  for (const [tenant, key] of Object.entries(keys))
    writeFileSync(join(keysDir, tenant), tenantKeyFileContent([apiKeyHash(key)]));
  const port = await freePort();
  const common = runtimeEnvFor(dev, {
    ENGRAM_CLUSTER: cluster,
    ENGRAM_TOPIC_PREFIX: t.prefix,
    ENGRAM_MODEL_DIR: modelDir,
    ENGRAM_MODEL_VARIANT: 'int8',
    ENGRAM_MODEL_THREADS: '1',
    ENGRAM_EMBEDDING_CACHE_TTL_SECONDS: '0',
  });
  const procs: Record<string, RuntimeProcess> = {
    gateway: spawnRuntime('gateway', {
      ...common,
      ENGRAM_HTTP_PORT: String(port),
      ENGRAM_TENANT_KEYS_DIR: keysDir,
      ENGRAM_RATE_LIMIT_PER_SECOND: '1000000',
      ENGRAM_RATE_LIMIT_BURST: '1000000',
    }),
    ingest: spawnRuntime('ingest', common),
    embed: spawnRuntime('embed', common),
    extract: spawnRuntime('extract', common),
    resolve: spawnRuntime('resolve', common),
  };
  try {
    await Promise.all(Object.values(procs).map((p) => p.waitForLog('running', 120_000)));
    const pids = Object.values(procs).map((p) => p.child.pid!);
    const stores = { neo4j: pidOf('neo4j'), kafka: pidOf('kafka') };
    const cpu0 = pids.map(cpuSeconds);
    const store0 = { neo4j: cpuSeconds(stores.neo4j), kafka: cpuSeconds(stores.kafka) };
    const t0 = performance.now();
    for (let i = 0; i < docs.length; i += POST_BATCH) {
      const batch = docs.slice(i, i + POST_BATCH);
      for (const tenant of tenants) {
        const mine = batch.filter((d) => d.tenant === tenant).map((d) => ({ id: d.id, content: d.content }));
        if (mine.length === 0) continue;
        const res = await fetch(`http://127.0.0.1:${port}/v1/tenants/${tenant}/documents/batch`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${keys[tenant]}` },
          body: JSON.stringify({ documents: mine }),
        });
        if (res.status !== 202) throw new Error(`gateway answered ${res.status}: ${await res.text()}`);
      }
    }
    const posted = performance.now();
    // Progress through Kafka offsets (each role commits after its Neo4j transaction), so the
    // wait itself puts no load on Neo4j; the graph is counted once at the end.
    await eventually(
      'every chunk embedded',
      async () =>
        (await committedTotal(t.admin, `${t.prefix}.embed`, t.topic('ingest.embed'))) >= docs.length,
      { timeoutMs: 900_000, intervalMs: 100 },
    );
    const embedded = performance.now();
    await eventually(
      'every extraction resolved',
      async () =>
        (await committedTotal(t.admin, `${t.prefix}.resolve`, t.topic('graph.resolve'))) >= docs.length,
      { timeoutMs: 900_000, intervalMs: 100 },
    );
    const seconds = (performance.now() - t0) / 1000;
    const stored = await countEmbeddedChunks(driver, tenants);
    if (stored < docs.length) throw new Error(`only ${stored} of ${docs.length} chunks carry a vector`);
    const roleCpu = pids.map((pid, i) => cpuSeconds(pid) - cpu0[i]!);
    return {
      seconds,
      postedSeconds: (posted - t0) / 1000,
      embeddedSeconds: (embedded - t0) / 1000,
      perSecond: docs.length / seconds,
      roleCpu: Object.fromEntries(Object.keys(procs).map((name, i) => [name, roleCpu[i]!])),
      perRoleCpuSecond: docs.length / roleCpu.reduce((a, b) => a + b, 0),
      neo4jCpu: cpuSeconds(stores.neo4j) - store0.neo4j,
      kafkaCpu: cpuSeconds(stores.kafka) - store0.kafka,
    };
  } finally {
    await Promise.all(Object.values(procs).map((p) => p.stop('SIGTERM')));
    await purgeTenants(dev, driver, cluster, tenants);
    await driver.close();
    await t.cleanup();
    rmSync(keysDir, { recursive: true, force: true });
  }
}

process.stdout.write(
  `ingest throughput: ${N} documents (knowledge corpus, one chunk each), int8, 1 inference thread, built-in extractor\n\n` +
    '| round | floor docs/s (before/after) | pipeline docs/s | ratio | floor per CPU-s | pipeline per role CPU-s | CPU ratio | embedded at s | resolved at s | role CPU s | Neo4j CPU s | Kafka CPU s |\n' +
    '|---|---|---|---|---|---|---|---|---|---|---|---|\n',
);
const ratios: number[] = [];
for (let round = 1; round <= ROUNDS; round++) {
  const tenants = { a: uniqueName('bia'), b: uniqueName('bib') };
  const docs = documents(tenants);
  const texts = docs.map((d) => d.content);
  const before = await floor(texts);
  const p = await pipeline(docs, [tenants.a, tenants.b]);
  const afterwards = await floor(texts);
  const f = (before.perSecond + afterwards.perSecond) / 2;
  const fCpu = (before.perCpuSecond + afterwards.perCpuSecond) / 2;
  ratios.push(p.perSecond / f);
  const roles = Object.entries(p.roleCpu)
    .map(([name, s]) => `${name} ${s.toFixed(1)}`)
    .join(', ');
  process.stdout.write(
    `| ${round} | ${f.toFixed(1)} (${before.perSecond.toFixed(1)}/${afterwards.perSecond.toFixed(1)}) | ` +
      `${p.perSecond.toFixed(1)} | ${(p.perSecond / f).toFixed(3)} | ${fCpu.toFixed(1)} | ` +
      `${p.perRoleCpuSecond.toFixed(1)} | ${(p.perRoleCpuSecond / fCpu).toFixed(3)} | ${p.embeddedSeconds.toFixed(1)} | ` +
      `${p.seconds.toFixed(1)} | ${roles} | ${p.neo4jCpu.toFixed(1)} | ${p.kafkaCpu.toFixed(1)} |\n`,
  );
}
ratios.sort((a, b) => a - b);
process.stdout.write(
  `\nmedian ratio (pipeline / floor, wall): ${ratios[Math.floor(ratios.length / 2)]!.toFixed(3)}\n`,
);
