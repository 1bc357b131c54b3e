// The built images, run for real: `make images` (hack/images/build.sh, cached by a hash of its
// inputs), then the operator image against the local environment brings the external sample
// MemoryCluster to Ready, and the runtime image's embed role turns chunk messages on a topic into
// Chunk nodes with vectors, the model mounted read-only. Both run with a read-only root filesystem.
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Driver } from 'neo4j-driver';
import { parseAllDocuments, stringify } from 'yaml';
import { requireModelDir } from '../../runtime/model/model-location.ts';
import { type ChunkMessage, messageKey, type RawDocument, sha256 } from '../../runtime/pipeline/messages.ts';
import { chunkDocument } from '../../runtime/roles/ingest/role.ts';
import { loadTokenCounter } from '../../runtime/roles/ingest/token-counter.ts';
import { corpusDocument } from '../runtime/corpus.ts';
import { countChunks, purgeTenants, testDriver } from '../runtime/graph-fixtures.ts';
import { committedTotal, createPipelineTopics, type PipelineTopics } from '../runtime/kafka-fixtures.ts';
import { repoRoot, requireDevEnv } from '../support/devenv.ts';
import { deleteTopicsWithPrefix } from '../support/topics.ts';
import { eventually, uniqueName } from '../support/wait.ts';

const dev = requireDevEnv();
const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string })
  .version;
const OPERATOR = `localhost/engram-operator:${version}`;
const RUNTIME = `localhost/engram-runtime:${version}`;

// The builds need rootful buildah: CI has it (hack/prereqs.sh installs it as root), so there its
// absence fails; elsewhere the suite is skipped with what to run.
const hasBuildah = spawnSync('buildah', ['--version']).status === 0;
const isRoot = process.getuid?.() === 0;
const unavailable = !hasBuildah
  ? 'buildah is missing: run `sudo bash hack/images/prereqs.sh` (it installs buildah, podman and mmdebstrap)'
  : !isRoot
    ? 'the image builds need root (mmdebstrap, rootful buildah): run the tests as root'
    : undefined;
// Tests never skip: a machine that cannot build the images fails here with what to do.
if (unavailable) throw new Error(unavailable);

const podmanScript = join(repoRoot, 'hack/images/podman.sh');
const podman = (...args: string[]) =>
  execFileSync('bash', [podmanScript, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** A container in the foreground of `podman run`, its output collected. */
function runContainer(
  name: string,
  args: string[],
  env: Record<string, string> = {},
): { proc: ChildProcess; output: string[] } {
  const proc = spawn('bash', [podmanScript, 'run', '--rm', '--name', name, '--read-only', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const output: string[] = [];
  proc.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
  proc.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
  return { proc, output };
}

async function stopContainer(name: string, proc: ChildProcess | undefined): Promise<void> {
  if (!proc || proc.exitCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  spawnSync('bash', [podmanScript, 'stop', '--time', '20', name]);
  await exited;
}

describe('images', () => {
  before(() => {
    // Rebuilds only what changed; the output names the inputs hash of each image.
    execFileSync('bash', [join(repoRoot, 'hack/images/build.sh'), 'operator', 'runtime'], {
      cwd: repoRoot,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
  });

  it('are small, run as a numeric non-root user, carry OCI labels and production dependencies only', () => {
    for (const image of [OPERATOR, RUNTIME]) {
      const inspect = JSON.parse(podman('image', 'inspect', image))[0];
      assert.equal(inspect.Config.User, '65532:65532', `${image} user`);
      const labels = inspect.Config.Labels as Record<string, string>;
      for (const key of ['title', 'version', 'revision', 'licenses', 'base.name']) {
        assert.ok(
          labels[`org.opencontainers.image.${key}`],
          `${image} label org.opencontainers.image.${key}`,
        );
      }
      assert.equal(labels['org.opencontainers.image.version'], version);
      // A regression bound, not a target: Node alone is ~120 MB, the Debian base ~68 MB.
      assert.ok(inspect.Size < 400e6, `${image} is ${Math.round(inspect.Size / 1e6)} MB`);
    }
    const listing = (image: string, dir: string) =>
      podman('run', '--rm', '--read-only', '--entrypoint', 'ls', image, dir).split('\n').filter(Boolean);
    const opModules = listing(OPERATOR, '/app/node_modules');
    for (const absent of ['typescript', '@biomejs', 'onnxruntime-node', 'fastify', 'node']) {
      assert.ok(!opModules.includes(absent), `operator image has no ${absent}`);
    }
    assert.ok(opModules.includes('@kubernetes'));
    const rtModules = listing(RUNTIME, '/app/node_modules');
    assert.ok(rtModules.includes('onnxruntime-node') && !rtModules.includes('typescript'));
    assert.deepEqual(listing(RUNTIME, '/app/node_modules/onnxruntime-node/bin/napi-v6'), ['linux']);
    assert.ok(
      !listing(RUNTIME, '/app/runtime/worker').some((f) => f.endsWith('.test.ts')),
      'no tests in the image',
    );
  });

  it('the operator image brings the external sample MemoryCluster to Ready against the local servers', async () => {
    const ns = uniqueName('img-op');
    const prefix = `engram.${ns}`;
    const name = uniqueName('engram-op');
    const kubectl = (args: string[], input?: string) =>
      execFileSync(dev.KUBECTL, args, {
        env: { ...process.env, KUBECONFIG: dev.KUBECONFIG },
        input,
        encoding: 'utf8',
      });
    kubectl(['apply', '--server-side', '--force-conflicts', '-f', join(repoRoot, 'crds')]);
    kubectl(['create', 'namespace', ns]);
    // The sample as shipped, its stores pointed at the local environment (no TLS or SASL here).
    const docs = parseAllDocuments(
      readFileSync(join(repoRoot, 'config/samples/memorycluster-external.yaml'), 'utf8'),
    )
      // biome-ignore lint/suspicious/noExplicitAny: a sample's YAML is untyped here
      .map((d) => d.toJS() as any)
      .filter((d) => d.kind !== 'Secret' || d.metadata.name === 'shared-neo4j');
    for (const d of docs) {
      if (d.kind === 'Secret') d.stringData = { username: dev.NEO4J_USER, password: dev.NEO4J_PASSWORD };
      if (d.kind !== 'MemoryCluster') continue;
      d.spec.kafka = {
        topicPrefix: prefix,
        replicationFactor: 1,
        external: { bootstrapServers: [dev.KAFKA_BROKERS] },
      };
      d.spec.neo4j.external.uri = dev.NEO4J_URI;
      d.spec.redis = { external: { uri: dev.REDIS_URL } };
    }
    const { proc, output } = runContainer(name, [
      '-v',
      `${dev.KUBECONFIG}:/etc/engram/kubeconfig:ro`,
      OPERATOR,
      'run',
      '--kubeconfig',
      '/etc/engram/kubeconfig',
      '--namespaces',
      ns,
      '--no-leader-elect',
      '--metrics-bind-address',
      '127.0.0.1:0',
      '--health-probe-bind-address',
      '127.0.0.1:0',
    ]);
    try {
      kubectl(['apply', '-n', ns, '-f', '-'], docs.map((d) => stringify(d)).join('---\n'));
      const ready = await eventually(
        'MemoryCluster shared Ready',
        async () => {
          if (proc.exitCode !== null)
            throw new Error(`operator container exited: ${output.join('').slice(-2000)}`);
          const mc = JSON.parse(kubectl(['get', '-n', ns, 'memorycluster', 'shared', '-o', 'json']));
          // biome-ignore lint/suspicious/noExplicitAny: read from kubectl JSON
          const c = (mc.status?.conditions ?? []).find((x: any) => x.type === 'Ready');
          return c?.status === 'True' && c.observedGeneration === mc.metadata.generation ? mc : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      assert.match(JSON.stringify(ready.status.conditions), /connected to Kafka cluster/);
      assert.ok(!output.join('').includes(dev.NEO4J_PASSWORD), 'no secret in the logs');
      kubectl(['delete', '-n', ns, 'memorycluster', 'shared', '--wait=true', '--timeout=60s']);
    } finally {
      await stopContainer(name, proc);
      kubectl(['delete', 'namespace', ns, '--wait=false']);
      await deleteTopicsWithPrefix(dev, prefix);
    }
    assert.equal(proc.exitCode, 0, `operator exits 0 on SIGTERM: ${output.join('').slice(-1000)}`);
  });

  describe('the runtime image', () => {
    const modelDir = unavailable ? '' : requireModelDir();
    const cluster = uniqueName('img');
    const tenants = [uniqueName('ia')];
    let t: PipelineTopics;
    let driver: Driver;
    let chunks: ChunkMessage[];
    const name = uniqueName('engram-embed');
    let run: ReturnType<typeof runContainer> | undefined;

    before(async () => {
      driver = testDriver(dev);
      t = await createPipelineTopics(dev.KAFKA_BROKERS, uniqueName('imgt'));
      const countTokens = await loadTokenCounter(modelDir);
      chunks = Array.from({ length: 8 }, (_, i) => {
        const content = corpusDocument(20_000 + i);
        const doc: RawDocument = {
          v: 1,
          kind: 'document',
          tenantId: tenants[0]!,
          documentId: `doc-${i}`,
          contentHash: sha256(content),
          content,
          acceptedAt: 1_700_000_000_000 + i,
        };
        return chunkDocument(
          doc,
          { partition: 0, offset: i, timestamp: 1_700_000_000_000 + i },
          {
            maxTokens: 64,
            overlapTokens: 16,
            countTokens,
            maxChunksPerDocument: 2048,
          },
        );
      }).flat();
      const producer = await t.producer();
      await producer.send({
        topic: t.topic('ingest.embed'),
        messages: chunks.map((c) => ({
          key: messageKey(c.tenantId, c.documentId),
          value: JSON.stringify(c),
        })),
      });
    });

    after(async () => {
      await stopContainer(name, run?.proc);
      await purgeTenants(dev, driver, cluster, tenants);
      await driver?.close();
      await t?.cleanup();
    });

    it('embeds chunk messages from a topic into Neo4j with the model mounted read-only', async () => {
      const env: Record<string, string> = {
        ENGRAM_KAFKA_BROKERS: dev.KAFKA_BROKERS,
        ENGRAM_NEO4J_URI: dev.NEO4J_URI,
        ENGRAM_NEO4J_USER: dev.NEO4J_USER,
        ENGRAM_NEO4J_PASSWORD: dev.NEO4J_PASSWORD,
        ENGRAM_REDIS_URL: dev.REDIS_URL,
        ENGRAM_CLUSTER: cluster,
        ENGRAM_TOPIC_PREFIX: t.prefix,
        ENGRAM_MODEL_DIR: '/models',
        ENGRAM_METRICS_PORT: '0',
        ENGRAM_KAFKA_SESSION_TIMEOUT_MS: '10000',
        ENGRAM_KAFKA_HEARTBEAT_INTERVAL_MS: '1000',
      };
      // Values through the environment of podman itself (`-e NAME`), never on its command line.
      const envArgs = Object.keys(env).flatMap((k) => ['-e', k]);
      run = runContainer(name, [...envArgs, '-v', `${modelDir}:/models:ro`, RUNTIME, 'embed'], env);
      const { proc, output } = run;
      await eventually(
        'every chunk embedded and committed',
        async () => {
          if (proc.exitCode !== null)
            throw new Error(`embed container exited: ${output.join('').slice(-2000)}`);
          return (
            (await committedTotal(t.admin, `${t.prefix}.embed`, t.topic('ingest.embed'))) >= chunks.length
          );
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      assert.equal(await countChunks(driver, tenants), chunks.length);
      const { records } = await driver.executeQuery(
        'MATCH (c:Chunk) WHERE c.tenantId IN $tenants AND size(c.embedding) = 384 RETURN count(c) AS n',
        { tenants },
      );
      assert.equal(records[0]!.get('n'), chunks.length, 'every chunk has its 384-dimension vector');
      assert.ok(!output.join('').includes(dev.NEO4J_PASSWORD), 'no secret in the logs');
      await stopContainer(name, proc);
      assert.equal(proc.exitCode, 0, `embed drains and exits 0 on SIGTERM: ${output.join('').slice(-1000)}`);
    });
  });
});
