/**
 * The demo (`make demo`): the local environment, the CRDs, the operator, the demo samples
 * (config/samples/demo.yaml), the runtime roles launched from the pod templates the operator
 * rendered, a bundled corpus ingested through the gateway with the tenant's key, a few questions
 * answered, and `kubectl get mc,tm,wp`. `node hack/demo.ts down` (`make demo-down`) removes the
 * demo's resources, workers and operator and leaves the environment running.
 *
 * Settings (all optional, so a test runs its own demo beside others): ENGRAM_DEMO_NAMESPACE
 * (engram-demo), ENGRAM_DEMO_TENANT (northwind), ENGRAM_DEMO_PORT_BASE (18080 + the port offset).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import neo4j from 'neo4j-driver';
import { parseAllDocuments } from 'yaml';
import { KubeClient, type KubeObject } from '../operator/kube/client.ts';
import { type ResourceType, Types } from '../operator/kube/resources.ts';
import { graphNames } from '../runtime/contract/stores.ts';
import { localPod } from './pod-process.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const state = process.env['ENGRAM_DEVENV_STATE'] ?? process.env['DEVENV_STATE'] ?? join(root, '.devenv');
const ns = process.env['ENGRAM_DEMO_NAMESPACE'] ?? 'engram-demo';
const tenant = process.env['ENGRAM_DEMO_TENANT'] ?? 'northwind';
const offsetFile = join(state, 'port-offset');
const offset = Number(
  process.env['ENGRAM_PORT_OFFSET'] ?? (existsSync(offsetFile) ? readFileSync(offsetFile, 'utf8').trim() : 0),
);
const portBase = Number(process.env['ENGRAM_DEMO_PORT_BASE'] ?? 18080 + offset);
const logs = join(state, 'logs', ns);
const pids = join(state, 'pids', 'demo', ns);
const work = join(state, 'demo', ns);
const CLUSTER = 'local';
const STEPS = 9;
const started = Date.now();

const corpus = JSON.parse(readFileSync(join(root, 'hack/demo/corpus.json'), 'utf8')) as {
  documents: Array<{ id: string; content: string }>;
  questions: string[];
};

const rel = (p: string) => relative(process.cwd(), p) || p;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class StepError extends Error {
  log: string | undefined;
  constructor(message: string, log?: string) {
    super(message);
    this.log = log;
  }
}

let stepNo = 0;
/** One numbered step: its title first, and on failure which step failed and where its log is. */
async function step<T>(title: string, log: string | undefined, fn: () => Promise<T>): Promise<T> {
  stepNo += 1;
  console.log(`[demo ${stepNo}/${STEPS}] ${title}`);
  const t0 = Date.now();
  try {
    const v = await fn();
    console.log(`  done in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    return v;
  } catch (err) {
    const where = (err instanceof StepError && err.log) || log;
    console.error(`[demo ${stepNo}/${STEPS}] FAILED: ${title}: ${(err as Error).message}`);
    if (where) {
      console.error(`  log: ${rel(where)}; its last lines:`);
      if (existsSync(where))
        for (const line of readFileSync(where, 'utf8').trimEnd().split('\n').slice(-15))
          console.error(`    ${line}`);
    }
    process.exit(1);
  }
}

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `${what} not within ${timeoutMs / 1000}s${last ? ` (${(last as Error).message})` : ''}`,
      );
    await sleep(500);
  }
}

function readEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(join(state, 'env'), 'utf8').split('\n')) {
    const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

// Processes the demo leaves running: one pid file each, in their own process group.
const pidFile = (name: string) => join(pids, `${name}.pid`);
function alive(name: string): number | undefined {
  if (!existsSync(pidFile(name))) return undefined;
  const pid = Number(readFileSync(pidFile(name), 'utf8'));
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}
async function stop(name: string): Promise<void> {
  const pid = alive(name);
  if (pid) {
    process.kill(-pid, 'SIGTERM');
    for (let i = 0; i < 60 && alive(name); i++) await sleep(250);
    if (alive(name)) process.kill(-pid, 'SIGKILL');
  }
  rmSync(pidFile(name), { force: true });
}
function launch(name: string, argv: string[], env: Record<string, string>): ChildProcess {
  mkdirSync(pids, { recursive: true });
  const log = join(logs, `${name}.log`);
  const fd = openSync(log, 'w');
  const child = spawn(process.execPath, argv, { cwd: root, env, detached: true, stdio: ['ignore', fd, fd] });
  child.unref();
  writeFileSync(pidFile(name), String(child.pid));
  return child;
}

async function ready(url: string): Promise<boolean> {
  try {
    return (await fetch(url)).ok;
  } catch {
    return false;
  }
}

const TYPES: Record<string, ResourceType> = {
  MemoryCluster: Types.MemoryCluster,
  TenantMemory: Types.TenantMemory,
  WorkerPool: Types.WorkerPool,
};

const condition = (o: KubeObject | undefined, type: string) =>
  (
    (o?.status as { conditions?: Array<{ type: string; status: string; message?: string }> } | undefined)
      ?.conditions ?? []
  ).find((c) => c.type === type);

/** The sample on this machine's local servers (and under the tenant id asked for). */
function demoSample(env: Record<string, string>): KubeObject[] {
  const text = readFileSync(join(root, 'config/samples/demo.yaml'), 'utf8');
  return parseAllDocuments(text)
    .map((d) => d.toJS() as KubeObject | null)
    .filter((d): d is KubeObject => d !== null)
    .map((o) => {
      const spec = o.spec as DemoSpec;
      if (o.kind === 'MemoryCluster') {
        spec.kafka.external.bootstrapServers = env['KAFKA_BROKERS']!.split(',');
        spec.neo4j.external.uri = env['NEO4J_URI']!;
        spec.redis.external.uri = env['REDIS_URL']!;
      }
      if (o.kind === 'TenantMemory') {
        o.metadata.name = tenant;
        spec.tenantId = tenant;
      }
      return { ...o, metadata: { ...o.metadata, namespace: ns } };
    });
}

interface DemoSpec {
  kafka: { external: { bootstrapServers: string[] } };
  neo4j: { external: { uri: string } };
  redis: { external: { uri: string } };
  tenantId: string;
}

async function up(): Promise<void> {
  mkdirSync(logs, { recursive: true });
  const upLog = join(logs, 'devenv-up.log');
  await step('local environment (Kubernetes + kwok, Kafka, Neo4j, Redis): make devenv', upLog, async () => {
    const fd = openSync(upLog, 'w');
    const code = await new Promise<number | null>((resolve) =>
      spawn('bash', [join(root, 'hack/devenv/up.sh')], { cwd: root, stdio: ['ignore', fd, fd] }).once(
        'exit',
        resolve,
      ),
    );
    if (code !== 0) throw new Error(`hack/devenv/up.sh exited with ${code}`);
  });
  const env = readEnv();
  const kubectl = (...args: string[]) =>
    execFileSync(env['KUBECTL']!, args, {
      env: { ...process.env, KUBECONFIG: env['KUBECONFIG']! },
    }).toString();
  const client = new KubeClient({ kubeconfig: env['KUBECONFIG']! });

  await step('CRDs installed: kubectl apply --server-side -f crds/', undefined, async () => {
    kubectl('apply', '--server-side', '--force-conflicts', '-f', join(root, 'crds'));
    kubectl('wait', '--for=condition=Established', '--timeout=60s', '-f', join(root, 'crds'));
    await client.apply(Types.Namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  });

  const operatorLog = join(logs, 'operator.log');
  const health = `http://127.0.0.1:${portBase + 1}/readyz`;
  await step(`operator running (namespace ${ns}, metrics :${portBase})`, operatorLog, async () => {
    if (alive('operator') && (await ready(health))) return;
    await stop('operator');
    const child = launch(
      'operator',
      [
        '--max-semi-space-size=2',
        '--optimize-for-size',
        'operator/main.ts',
        'run',
        '--kubeconfig',
        env['KUBECONFIG']!,
        '--namespaces',
        ns,
        '--leader-election-namespace',
        ns,
        '--metrics-bind-address',
        `127.0.0.1:${portBase}`,
        '--health-probe-bind-address',
        `127.0.0.1:${portBase + 1}`,
        '--lag-poll-interval',
        '2s',
      ],
      { ...process.env, KUBECONFIG: env['KUBECONFIG']! } as Record<string, string>,
    );
    await until('the operator ready', async () => child.exitCode === null && ready(health), 60_000);
  });

  const objects = demoSample(env);
  const pools = objects.filter((o) => o.kind === 'WorkerPool').map((o) => o.metadata.name);
  await step(
    'samples applied: config/samples/demo.yaml (MemoryCluster on the local stores, TenantMemory, 6 WorkerPools)',
    operatorLog,
    async () => {
      await client.apply(Types.Secret, {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'local-stores', namespace: ns },
        type: 'Opaque',
        stringData: { username: env['NEO4J_USER']!, password: env['NEO4J_PASSWORD']! },
      } as KubeObject);
      for (const o of objects) await client.apply(TYPES[o.kind ?? '']!, o);
    },
  );

  const apiKey = await step(
    'waiting: MemoryCluster and TenantMemory Ready, pool Deployments rendered',
    operatorLog,
    async () => {
      const readyOf = async (type: ResourceType, name: string) => {
        const o = await client.getOrUndefined(type, ns, name);
        const c = condition(o, 'Ready');
        if (c?.status === 'True') return true;
        throw new Error(
          `${type.kind} ${name}: Ready is ${c?.status ?? 'not reported'}${c?.message ? ` (${c.message})` : ''}`,
        );
      };
      await until('MemoryCluster demo Ready', () => readyOf(Types.MemoryCluster, CLUSTER), 120_000);
      await until(`TenantMemory ${tenant} Ready`, () => readyOf(Types.TenantMemory, tenant), 60_000);
      for (const p of pools)
        await until(`Deployment ${p}`, () => client.getOrUndefined(Types.Deployment, ns, p), 30_000);
      const secret = await until(
        `Secret ${tenant}-credentials`,
        () => client.getOrUndefined(Types.Secret, ns, `${tenant}-credentials`),
        30_000,
      );
      const key = (secret.data as Record<string, string> | undefined)?.['api-key'];
      if (!key) throw new Error(`Secret ${tenant}-credentials has no key api-key`);
      return Buffer.from(key, 'base64').toString('utf8');
    },
  );

  const modelDir = execFileSync('bash', [join(root, 'hack/model/build-model.sh')])
    .toString()
    .trim()
    .split('\n')
    .pop()!;
  const gatewayPort = portBase + 9;
  const gateway = `http://127.0.0.1:${gatewayPort}`;
  await step(`workers started from the rendered pod templates: ${pools.join(', ')}`, undefined, async () => {
    const waiting: Array<{ name: string; url: string; child: ChildProcess }> = [];
    for (const [i, name] of pools.entries()) {
      const d = await client.get(Types.Deployment, ns, name);
      const metricsPort = portBase + 10 + i;
      // The pod's ports cannot be shared on one machine; the model PVC is the local model cache.
      const override: Record<string, string> = { ENGRAM_METRICS_PORT: String(metricsPort) };
      const pod = await localPod(client, ns, d, {
        dir: join(work, name),
        mountDirs: { '/models': modelDir },
      });
      if (pod.env['ENGRAM_HTTP_PORT']) override['ENGRAM_HTTP_PORT'] = String(gatewayPort);
      if (pod.env['ENGRAM_MODEL_DIR'] === '/models') override['ENGRAM_MODEL_DIR'] = modelDir;
      await stop(name);
      const child = launch(name, pod.argv, { PATH: process.env['PATH'] ?? '', ...pod.env, ...override });
      waiting.push({ name, url: `http://127.0.0.1:${metricsPort}${pod.readinessPath ?? '/readyz'}`, child });
    }
    for (const w of waiting)
      await until(
        `${w.name} ready`,
        async () => {
          if (w.child.exitCode !== null)
            throw new StepError(`${w.name} exited with ${w.child.exitCode}`, join(logs, `${w.name}.log`));
          return ready(w.url);
        },
        120_000,
      ).catch((err: Error) => {
        throw err instanceof StepError ? err : new StepError(err.message, join(logs, `${w.name}.log`));
      });
  });

  const driver = neo4j.driver(
    env['NEO4J_URI']!,
    neo4j.auth.basic(env['NEO4J_USER']!, env['NEO4J_PASSWORD']!),
  );
  try {
    await step(
      `corpus ingested through the gateway: ${corpus.documents.length} documents (hack/demo/corpus.json), tenant ${tenant}`,
      join(logs, 'local-gateway.log'),
      async () => {
        const res = await fetch(`${gateway}/v1/tenants/${tenant}/documents/batch`, {
          method: 'POST',
          headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ documents: corpus.documents }),
        });
        if (res.status >= 300) throw new Error(`POST documents/batch -> ${res.status}: ${await res.text()}`);
        console.log(`  POST /v1/tenants/${tenant}/documents/batch -> ${res.status}`);
        const counts = await until(
          'every document embedded in Neo4j',
          async () => {
            const { records } = await driver.executeQuery(
              `MATCH (d:Document:${graphNames.tenantLabel(tenant)})-[:HAS_CHUNK]->(c) WHERE d.documentId IN $ids
               RETURN count(DISTINCT d) AS docs, count(c) AS chunks`,
              { ids: corpus.documents.map((d) => d.id) },
            );
            const r = records[0]!;
            return Number(r.get('docs')) === corpus.documents.length && { chunks: Number(r.get('chunks')) };
          },
          120_000,
        );
        // The graph is complete once every consuming pool has caught up with its topic.
        await until(
          'every pool caught up (lag 0)',
          async () => {
            for (const p of pools) {
              const s = (await client.get(Types.WorkerPool, ns, p)).status as {
                lag?: number;
                topics?: string[];
              };
              if (s.topics?.length && s.lag !== 0) return false;
            }
            return true;
          },
          90_000,
        );
        console.log(
          `  ${corpus.documents.length} documents -> ${counts.chunks} chunks with vectors in Neo4j; every pool caught up`,
        );
      },
    );
  } finally {
    await driver.close();
  }

  await step(
    'questions asked: POST /v1/tenants/{tenant}/query (answered in the request by the gateway pool)',
    join(logs, 'local-gateway.log'),
    async () => {
      const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
      let first: Answer | undefined;
      for (const text of corpus.questions) {
        const res = await fetch(`${gateway}/v1/tenants/${tenant}/query`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ text, topK: 3 }),
        });
        if (res.status !== 200) throw new Error(`POST query -> ${res.status}: ${await res.text()}`);
        const answer = (await res.json()) as Answer;
        first ??= answer;
        const top = answer.chunks?.[0];
        console.log(`\n  Q: ${text}`);
        console.log(
          `  A: ${top ? `${top.text} (score ${top.score.toFixed(3)}, ${top.documentId})` : '(no chunk found)'}`,
        );
        console.log(
          `     entities: ${(answer.entities ?? []).map((e) => `${e.name} (${e.type})`).join(', ') || '(none)'}`,
        );
      }
      // The asynchronous route (POST /queries, then GET its result) goes through the query pool.
      const res = await fetch(`${gateway}/v1/tenants/${tenant}/queries`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ text: corpus.questions[0], topK: 3 }),
      });
      if (res.status !== 202) throw new Error(`POST queries -> ${res.status}: ${await res.text()}`);
      const { result: path } = (await res.json()) as { result: string };
      const queued = await until(
        'the query pool to answer the first question',
        async () => {
          const r = await fetch(`${gateway}${path}`, { headers: { authorization: `Bearer ${apiKey}` } });
          return r.status === 200 && ((await r.json()) as { result: Answer }).result;
        },
        30_000,
      );
      if (queued.chunks?.[0]?.documentId !== first?.chunks?.[0]?.documentId)
        throw new Error('the query pool and the gateway answered the first question differently');
      console.log(
        '\n  (the first question again through POST /queries: the query pool gives the same answer)\n',
      );
    },
  );

  await step(`kubectl get mc,tm,wp -n ${ns}`, operatorLog, async () => {
    const kinds = [
      [Types.MemoryCluster, [CLUSTER]],
      [Types.TenantMemory, [tenant]],
      [Types.WorkerPool, pools],
    ] as const;
    await until(
      'every resource READY True',
      async () => {
        for (const [type, names] of kinds)
          for (const name of names) {
            const c = condition(await client.getOrUndefined(type, ns, name), 'Ready');
            if (c?.status !== 'True')
              throw new Error(
                `${type.kind} ${name}: Ready ${c?.status ?? 'not reported'} ${c?.message ?? ''}`,
              );
          }
        return true;
      },
      90_000,
    );
    console.log(kubectl('get', '-n', ns, 'mc,tm,wp').trimEnd());
  });
  client.close();
  console.log(
    `\n[demo] up in ${Math.round((Date.now() - started) / 1000)}s: gateway ${gateway} (tenant ${tenant}, key in Secret ${ns}/${tenant}-credentials), logs in ${rel(logs)}/`,
  );
  console.log('[demo] make demo-down removes the demo; make devenv-down stops the environment too');
}

interface Answer {
  chunks?: Array<{ text: string; score: number; documentId: string }>;
  entities?: Array<{ name: string; type: string }>;
}

/** Deletes the demo's resources while the operator still runs (finalizers purge the tenant and topics), then stops every demo process. */
async function down(): Promise<void> {
  if (existsSync(join(state, 'env'))) {
    const env = readEnv();
    const client = new KubeClient({ kubeconfig: env['KUBECONFIG']! });
    try {
      for (const type of [Types.TenantMemory, Types.WorkerPool, Types.MemoryCluster])
        for (const o of (await client.list(type, ns)).items) await client.delete(type, ns, o.metadata.name);
      await until(
        'the demo resources gone (finalizers done)',
        async () => {
          for (const type of [Types.TenantMemory, Types.MemoryCluster])
            if ((await client.list(type, ns)).items.length) return false;
          return true;
        },
        60_000,
      );
      await client.delete(Types.Namespace, undefined, ns);
    } catch (err) {
      console.error(`[demo-down] ${(err as Error).message}; stopping the processes anyway`);
    }
    client.close();
  }
  if (existsSync(pids))
    for (const f of readdirSync(pids).filter((n) => n.endsWith('.pid') && n !== 'operator.pid'))
      await stop(f.slice(0, -4));
  await stop('operator');
  rmSync(work, { recursive: true, force: true });
  console.log(
    `[demo-down] namespace ${ns} deleted, workers and operator stopped; the environment keeps running`,
  );
}

await (process.argv[2] === 'down' ? down() : up());
