/**
 * The operator at scale: one MemoryCluster on the local environment's Kafka, Neo4j and Redis
 * (external mode), N TenantMemories and M WorkerPools. Reports the time until every object is
 * reconciled for its generation, the API writes of an idle resync (the target is zero), and the
 * operator's resident memory (the target is under 150 MB), next to a floor measured in the same
 * run: the resident memory of the same operator binary watching an empty namespace.
 *
 *   node bench/operator-scale.ts [--tenants 1000] [--pools 100] [--resync 20s] [--compiled]
 *
 * --compiled runs the operator compiled to JavaScript by tsc instead of through Node's type
 * stripping (whose TypeScript parser stays resident: ~30 MB of the floor).
 *
 * Needs the local environment (`make devenv`).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeClient, type KubeObject } from '../operator/kube/client.ts';
import { Types } from '../operator/kube/resources.ts';
import { repoRoot, requireDevEnv } from '../test/support/devenv.ts';
import { installCrds } from '../test/support/kube.ts';
import { type OperatorProcess, startOperator } from '../test/support/operator.ts';

const { values } = parseArgs({
  options: {
    tenants: { type: 'string', default: '1000' },
    pools: { type: 'string', default: '100' },
    resync: { type: 'string', default: '20s' },
    compiled: { type: 'boolean', default: false },
  },
});
const TENANTS = Number(values.tenants);
const POOLS = Number(values.pools);
const env = requireDevEnv();
const client = new KubeClient({ kubeconfig: env.KUBECONFIG });
const RUN = Date.now().toString(36);
const ns = `bench-scale-${RUN}`;
const CLUSTER = 'scale';
const POOL_ROLES = ['ingest', 'embed', 'query', 'resolve', 'extract'] as const;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resident and peak resident memory of a process, in MB (from /proc). */
function memoryMb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/** Calls so far: API writes and reads by verb and resource, store calls by store and operation. */
async function calls(op: OperatorProcess): Promise<{ writes: Counts; reads: Counts; stores: Counts }> {
  const out = { writes: new Map(), reads: new Map(), stores: new Map() } as Record<string, Counts>;
  const add = (m: Counts, key: string, v: number) => m.set(key, (m.get(key) ?? 0) + v);
  const label = (series: string, name: string) => new RegExp(`${name}="([^"]*)"`).exec(series)?.[1] ?? '';
  for (const [series, value] of await op.metrics()) {
    if (series.startsWith('engram_operator_kube_api_calls_total{')) {
      const verb = label(series, 'verb');
      const key = `${verb} ${label(series, 'resource')}`;
      add(/^(apply|patch|create|update|delete)/.test(verb) ? out.writes! : out.reads!, key, value);
    } else if (series.startsWith('engram_operator_store_calls_total{')) {
      add(out.stores!, `${label(series, 'store')} ${label(series, 'operation')}`, value);
    }
  }
  return out as { writes: Counts; reads: Counts; stores: Counts };
}
type Counts = Map<string, number>;

/** What grew between two counts, as "N verb resource, ..." and the total. */
function grown(before: Counts, after: Counts): { total: number; text: string } {
  const delta = [...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)] as const).filter(([, v]) => v > 0);
  return {
    total: delta.reduce((a, [, v]) => a + v, 0),
    text: delta.map(([k, v]) => `${v} ${k}`).join(', '),
  };
}

/** The operator's own view of its memory (prom-client's process metrics), in MB. */
async function heapMb(op: OperatorProcess): Promise<string> {
  const m = await op.metrics();
  const mb = (name: string) => ((m.get(`engram_operator_${name}`) ?? 0) / 2 ** 20).toFixed(0);
  const spaces = [...m]
    .filter(([k]) => k.startsWith('engram_operator_nodejs_heap_space_size_used_bytes{'))
    .map(([k, v]) => `${/space="([^"]*)"/.exec(k)?.[1]} ${(v / 2 ** 20).toFixed(0)}`)
    .join(', ');
  return `heap ${mb('nodejs_heap_size_used_bytes')} used of ${mb('nodejs_heap_size_total_bytes')} (${spaces}), external ${mb('nodejs_external_memory_bytes')}`;
}

/** Runs `fn` over `items` with `width` in flight. */
async function inParallel<T>(items: readonly T[], width: number, fn: (item: T) => Promise<unknown>) {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item);
    }),
  );
}

/** operator/main.ts compiled to JavaScript (imports rewritten to .js) in a temporary directory. */
function compiledOperator(): string {
  const out = mkdtempSync(join(tmpdir(), 'engram-operator-js-'));
  const config = {
    extends: join(repoRoot, 'tsconfig.json'),
    compilerOptions: {
      noEmit: false,
      outDir: out,
      rootDir: repoRoot,
      typeRoots: [join(repoRoot, 'node_modules/@types')],
    },
    include: [],
    files: [join(repoRoot, 'operator/main.ts')],
  };
  writeFileSync(join(out, 'tsconfig.json'), JSON.stringify(config));
  execFileSync(join(repoRoot, 'node_modules/.bin/tsc'), ['-p', join(out, 'tsconfig.json')], {
    stdio: 'inherit',
  });
  symlinkSync(join(repoRoot, 'node_modules'), join(out, 'node_modules'));
  copyFileSync(join(repoRoot, 'package.json'), join(out, 'package.json'));
  return join(out, 'operator/main.js');
}
const entry = values.compiled ? { entry: compiledOperator() } : {};

function reconciled(o: KubeObject): boolean {
  const status = o.status as { observedGeneration?: number } | undefined;
  return status?.observedGeneration === o.metadata.generation;
}

await installCrds(env);
// Floor: the same operator with nothing to watch.
const emptyNs = `${ns}-empty`;
for (const name of [ns, emptyNs])
  await client.create(Types.Namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
const idle = await startOperator(
  env,
  ['--namespaces', emptyNs, '--no-leader-elect', '--log-level', 'warn'],
  entry,
);
await sleep(3000);
const floor = memoryMb(idle.proc.pid!);
await idle.stop();

await client.create(Types.Secret, {
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'neo4j-local', namespace: ns },
  stringData: { username: env.NEO4J_USER, password: env.NEO4J_PASSWORD },
});
await client.create(Types.MemoryCluster, {
  apiVersion: 'engram.dev/v1alpha1',
  kind: 'MemoryCluster',
  metadata: { name: CLUSTER, namespace: ns },
  spec: {
    kafka: {
      topicPrefix: `bench.${ns}`,
      replicationFactor: 1,
      external: { bootstrapServers: env.KAFKA_BROKERS.split(',') },
    },
    neo4j: { external: { uri: env.NEO4J_URI, credentialsSecretRef: { name: 'neo4j-local' } } },
    redis: { external: { uri: env.REDIS_URL } },
  },
});
const started = performance.now();
const op = await startOperator(
  env,
  ['--namespaces', ns, '--no-leader-elect', '--log-level', 'warn', '--resync-period', values.resync],
  entry,
);
try {
  const tenants = Array.from({ length: TENANTS }, (_, i) => `t${String(i).padStart(4, '0')}`);
  await inParallel(tenants, 8, (t) =>
    client.create(Types.TenantMemory, {
      apiVersion: 'engram.dev/v1alpha1',
      kind: 'TenantMemory',
      metadata: { name: t, namespace: ns },
      // Ids new to the shared Neo4j: every run creates its tenants' indexes (the cleanup drops them).
      spec: { clusterRef: { name: CLUSTER }, tenantId: `${RUN}-${t}`, deletionPolicy: 'Delete' },
    }),
  );
  const pools = Array.from({ length: POOLS }, (_, i) => i);
  await inParallel(pools, 8, (i) =>
    client.create(Types.WorkerPool, {
      apiVersion: 'engram.dev/v1alpha1',
      kind: 'WorkerPool',
      metadata: { name: `p${String(i).padStart(3, '0')}`, namespace: ns },
      spec: {
        clusterRef: { name: CLUSTER },
        role: POOL_ROLES[i % POOL_ROLES.length],
        ...(i % 2 === 0
          ? { autoscaling: { minReplicas: 1, maxReplicas: 4, targetLagPerReplica: 100 } }
          : { replicas: 1 }),
      },
    }),
  );
  const created = performance.now();
  let done = 0;
  for (;;) {
    const [tms, wps] = await Promise.all([
      client.list(Types.TenantMemory, ns),
      client.list(Types.WorkerPool, ns),
    ]);
    done = tms.items.filter(reconciled).length + wps.items.filter(reconciled).length;
    if (done >= TENANTS + POOLS) break;
    if (performance.now() - started > 30 * 60_000) throw new Error(`no convergence: ${done} reconciled`);
    await sleep(1000);
  }
  const converged = performance.now();
  const convergeCalls = await calls(op);
  console.log(
    `operator at scale: ${TENANTS} TenantMemories, ${POOLS} WorkerPools, 1 MemoryCluster (external stores); operator ${values.compiled ? 'compiled to JavaScript' : 'operator/main.ts (type stripping, as the tests run it; the image runs it compiled: --compiled)'}`,
  );
  console.log(
    `converged: ${((converged - started) / 1000).toFixed(1)} s from operator start (${((converged - created) / 1000).toFixed(1)} s after the last create); load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(', ')}`,
  );
  // The client's rate limit (50 requests/s by default) bounds convergence from below.
  const written = grown(new Map(), convergeCalls.writes);
  console.log(
    `API writes to converge: ${written.total} (${written.text}); at 50 requests/s that alone takes ${(written.total / 50).toFixed(1)} s: ratio ${((converged - started) / 1000 / (written.total / 50)).toFixed(2)}`,
  );
  // Idle: let one resync settle the tail of convergence (pods turning Ready, HPAs reporting), then
  // count the writes of the next full resync.
  const resyncMs = Number(/^(\d+)s$/.exec(values.resync)?.[1] ?? 20) * 1000;
  await sleep(resyncMs + 5000);
  const before = await calls(op);
  await sleep(resyncMs + 5000);
  const after = await calls(op);
  const writes = grown(before.writes, after.writes);
  const reads = grown(before.reads, after.reads);
  const stores = grown(before.stores, after.stores);
  const mem = memoryMb(op.proc.pid!);
  console.log(
    `idle resync (${values.resync}): ${writes.total} API writes (target 0)${writes.total ? `: ${writes.text}` : ''}; ${reads.total} API reads${reads.total ? `: ${reads.text}` : ''}; ${stores.total} store calls${stores.total ? `: ${stores.text}` : ''}`,
  );
  console.log(`store calls in all: ${grown(new Map(), after.stores).text || 'none'}`);
  console.log(`operator memory (MB): ${await heapMb(op)}`);
  console.log(
    `resident memory: ${mem.rss.toFixed(0)} MB (peak ${mem.peak.toFixed(0)} MB; target < 150 MB) | floor (empty operator) ${floor.rss.toFixed(0)} MB | ratio ${(mem.rss / floor.rss).toFixed(2)}`,
  );
} finally {
  await op.stop();
  // Tenants carry a finalizer: let a fresh operator purge them, then drop the namespaces.
  const cleaner = await startOperator(env, ['--namespaces', ns, '--no-leader-elect', '--log-level', 'warn']);
  await client.delete(Types.Namespace, undefined, ns).catch(() => {});
  for (let i = 0; i < 600; i++) {
    if (!(await client.getOrUndefined(Types.Namespace, undefined, ns))) break;
    await sleep(1000);
  }
  await cleaner.stop();
  await client.delete(Types.Namespace, undefined, emptyNs).catch(() => {});
  client.close();
}
