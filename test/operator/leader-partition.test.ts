// Two writers after a leader change: the old leader is cut off from the API server by a proxy that
// stops forwarding (requests hang, as across a dead link). It must stop all work before its lease
// can expire, never write to Kafka beside the new leader, and exit for a fresh start.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { Types } from '../../operator/kube/resources.ts';
import { repoRoot, requireDevEnv } from '../support/devenv.ts';
import { conditionOf, createNamespace, deleteNamespace, installCrds, kubeClient } from '../support/kube.ts';
import { type OperatorProcess, startOperator } from '../support/operator.ts';
import { kubeconfigVia, startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { deleteTopicsWithPrefix } from '../support/topics.ts';
import { eventually, uniqueName } from '../support/wait.ts';

const env = requireDevEnv();
const exec = promisify(execFile);

async function topicRetention(topic: string): Promise<string | undefined> {
  const admin = new Kafka({ brokers: env.KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const r = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: 2, name: topic, configNames: ['retention.ms'] }],
    });
    return r.resources[0]?.configEntries.find((e) => e.configName === 'retention.ms')?.configValue;
  } finally {
    await admin.disconnect();
  }
}

describe('a leader partitioned from the API server', () => {
  const client = kubeClient(env);
  const ns = uniqueName('e2e-partition');
  const prefix = `engram.${ns}`;
  const dir = mkdtempSync(join(tmpdir(), 'engram-partition-'));
  const args = [
    '--namespaces',
    ns,
    '--leader-election-namespace',
    ns,
    '--lease-duration',
    '4s',
    '--resync-period',
    '1s',
    '--poll-interval',
    '1s',
  ];
  let proxy: TcpProxy;
  let a: OperatorProcess;
  let b: OperatorProcess;

  before(async () => {
    await installCrds(env);
    await createNamespace(env, ns);
    const server = new URL(readFileSync(env.KUBECONFIG, 'utf8').match(/server: (https:\/\/\S+)/)![1]!);
    proxy = await startTcpProxy({ host: server.hostname, port: Number(server.port) });
    writeFileSync(join(dir, 'kubeconfig'), kubeconfigVia(readFileSync(env.KUBECONFIG, 'utf8'), proxy.url()));
  });
  after(async () => {
    await a?.stop('SIGKILL');
    await b?.stop('SIGKILL');
    await proxy?.close();
    rmSync(dir, { recursive: true, force: true });
    await deleteTopicsWithPrefix(env, prefix);
    await deleteNamespace(env, ns);
    client.close();
  });

  const isLeader = async (op: OperatorProcess) => (await op.counter('engram_operator_leader')) === 1;

  it('stops every write before its lease can expire, exits, and never fights the new leader', async () => {
    a = await startOperator({ ...env, KUBECONFIG: join(dir, 'kubeconfig') }, args);
    await eventually('a leads', () => isLeader(a));
    b = await startOperator(env, args);
    const raw = `${prefix}.ingest.raw`;
    await client.apply(Types.MemoryCluster, {
      apiVersion: 'engram.dev/v1alpha1',
      kind: 'MemoryCluster',
      metadata: { name: 'p', namespace: ns },
      spec: {
        kafka: {
          topicPrefix: prefix,
          replicationFactor: 1,
          topics: { 'ingest.raw': { partitions: 2, retention: '1h' } },
          external: { bootstrapServers: env.KAFKA_BROKERS.split(',') },
        },
        neo4j: { managed: {} },
        redis: { managed: {} },
      },
    });
    await eventually(
      'Ready under a',
      async () => conditionOf(await client.get(Types.MemoryCluster, ns, 'p'), 'Ready')?.status === 'True',
    );
    assert.equal(await topicRetention(raw), '3600000');

    const exitedA = new Promise<number | null>((resolve) => a.proc.once('exit', (code) => resolve(code)));
    proxy.blackhole();
    const cutAt = Date.now();
    // b takes over once a's lease expires; the new spec is b's to apply.
    await eventually('b leads', () => isLeader(b), { timeoutMs: 20_000, intervalMs: 100 });
    await client.mergePatch(Types.MemoryCluster, ns, 'p', {
      spec: { kafka: { topics: { 'ingest.raw': { retention: '2h' } } } },
    });
    await eventually('b applied the new retention', async () => (await topicRetention(raw)) === '7200000');

    // a's cache still holds the old spec (1h) and its resync runs every second: had it kept
    // working, it would put the old retention back. For 10 s nothing may change.
    const until = Date.now() + 10_000;
    while (Date.now() < until) {
      assert.equal(await topicRetention(raw), '7200000', 'only the new leader changes the topics');
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(await exitedA, 1, 'the old leader exited (code 1) after losing its lease');
    const lostAt = a.logs.findIndex((l) => l.includes('lost the leader lease'));
    assert.ok(lostAt >= 0, 'it says why it exits');
    const lostTs = Date.parse((JSON.parse(a.logs[lostAt]!) as { ts: string }).ts);
    // renew deadline (2/3 of the 4 s lease) after its last renew, plus one retry period of slack.
    assert.ok(
      lostTs - cutAt < 4_000,
      `stopped ${lostTs - cutAt} ms after the partition, before the 4 s lease ran out`,
    );
    // Healed, the old process is gone: it writes nothing late either.
    proxy.heal();
    assert.equal(a.proc.exitCode, 1);
  });

  it('refuses lease timings that would let two leaders overlap', async () => {
    const run = (...flags: string[]) =>
      exec(process.execPath, [
        join(repoRoot, 'operator/main.ts'),
        'run',
        '--kubeconfig',
        env.KUBECONFIG,
        ...flags,
      ]).then(
        () => ({ code: 0, stderr: '' }),
        (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
      );
    const inverted = await run('--lease-duration', '4s', '--renew-deadline', '5s');
    assert.equal(inverted.code, 2);
    assert.match(
      inverted.stderr,
      /--renew-deadline \(5000 ms\) must be shorter than --lease-duration \(4000 ms\)/,
    );
    const tooFast = await run('--lease-duration', '10s', '--renew-deadline', '1s', '--retry-period', '1s');
    assert.equal(tooFast.code, 2);
    assert.match(tooFast.stderr, /--retry-period/);
  });
});
