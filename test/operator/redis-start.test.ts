// The managed Redis container's start command, run for real with Debian's redis-server: the
// password comes from the environment, works (quotes, backslashes and spaces included), and never
// shows in any process's arguments.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { memoryClusterSchema } from '../../operator/api/memorycluster.ts';
import { buildRedisChildren } from '../../operator/memorycluster/desired/redis.ts';
import { freePort } from '../support/operator.ts';
import { eventually } from '../support/wait.ts';

describe('managed Redis start command', () => {
  it('sets the password from the environment, never from an argument', async () => {
    const cluster = memoryClusterSchema.parse({
      apiVersion: 'engram.dev/v1alpha1',
      kind: 'MemoryCluster',
      metadata: { name: 'r', namespace: 'n', uid: 'u' },
      spec: { kafka: { managed: {} }, neo4j: { managed: {} }, redis: { managed: {} } },
    });
    const objects = buildRedisChildren(cluster, cluster.spec.redis.managed!, { operatorNamespace: 'ops' });
    const conf = (objects.find((o) => o.kind === 'ConfigMap')!.data as Record<string, string>)['redis.conf']!;
    const container = (
      objects.find((o) => o.kind === 'StatefulSet')!.spec as {
        template: { spec: { containers: Array<{ command: string[] }> } };
      }
    ).template.spec.containers[0]!;

    const root = mkdtempSync(join(tmpdir(), 'engram-redis-'));
    const port = await freePort();
    mkdirSync(join(root, 'config'));
    mkdirSync(join(root, 'run'));
    mkdirSync(join(root, 'data'));
    // The container's paths, moved under a temp dir; the port and bind address of this machine.
    const local = (s: string) =>
      s
        .replaceAll('/config/', `${root}/config/`)
        .replaceAll('/run/redis', `${root}/run`)
        .replaceAll('dir /data', `dir ${root}/data`);
    writeFileSync(
      join(root, 'config', 'redis.conf'),
      local(conf).replace('port 6379', `port ${port}`).replace('bind 0.0.0.0', 'bind 127.0.0.1'),
    );
    const password = 'pa"ss \\word with spaces';
    const [sh, flag, script] = container.command as [string, string, string];
    const proc = spawn(sh, [flag, local(script)], {
      env: { PATH: process.env.PATH, REDIS_PASSWORD: password },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const ok = new Redis({
        port,
        host: '127.0.0.1',
        password,
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      ok.on('error', () => undefined);
      await eventually('redis answers with the password', async () => {
        try {
          await ok.connect();
          return (await ok.ping()) === 'PONG';
        } catch {
          ok.disconnect();
          return false;
        }
      });
      ok.disconnect();
      const anon = new Redis({
        port,
        host: '127.0.0.1',
        lazyConnect: true,
        enableReadyCheck: false,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      anon.on('error', () => undefined);
      await anon.connect();
      await assert.rejects(anon.ping(), /NOAUTH/, 'no password: refused');
      await assert.rejects(anon.auth('nope'), /WRONGPASS/, 'another password: refused');
      anon.disconnect();
      // The shell exec'd into redis-server: its pid is the server's. Its arguments hold no password.
      const cmdline = readFileSync(`/proc/${proc.pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      assert.match(cmdline, /redis-server/);
      assert.ok(!cmdline.includes('pa"ss'), cmdline);
    } finally {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      rmSync(root, { recursive: true, force: true });
    }
  });
});
