/**
 * A Kafka broker of this test's own (same distribution as the local environment, KRaft, one
 * node, its own ports and data directory), so a test can stop and restart it without disturbing
 * the shared broker other suites use.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../support/devenv.ts';
import { eventually } from '../support/wait.ts';

function kafkaHome(): string {
  const version = /^KAFKA_VERSION=(\S+)/m.exec(
    readFileSync(join(repoRoot, 'hack/devenv/lib.sh'), 'utf8'),
  )?.[1];
  const cache =
    process.env['ENGRAM_CACHE'] ?? join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'engram');
  return join(cache, `kafka-${version}`);
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface PrivateBroker {
  brokers: string;
  start(): Promise<void>;
  /** SIGTERM and wait for the JVM to exit (a clean broker shutdown). */
  stop(): Promise<void>;
  destroy(): Promise<void>;
}

export async function createPrivateBroker(): Promise<PrivateBroker> {
  const dir = mkdtempSync(join(tmpdir(), 'engram-broker-'));
  const [port, controller] = [await freePort(), await freePort()];
  const props = join(dir, 'server.properties');
  writeFileSync(
    props,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${controller}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controller}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
      'controller.listener.names=CONTROLLER',
      'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
      `log.dirs=${join(dir, 'logs')}`,
      'auto.create.topics.enable=false',
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=2',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'log4j.properties'),
    'log4j.rootLogger=WARN, stdout\nlog4j.appender.stdout=org.apache.log4j.ConsoleAppender\nlog4j.appender.stdout.layout=org.apache.log4j.PatternLayout\nlog4j.logger.kafka.server.KafkaRaftServer=INFO\n',
  );
  const classpath = `${kafkaHome()}/lib/*`;
  execFileSync(
    'java',
    ['-cp', classpath, 'kafka.tools.StorageTool', 'format', '-t', 'engramPrivateBroker001', '-c', props],
    {
      stdio: 'ignore',
    },
  );

  let proc: ChildProcess | undefined;
  let output = '';
  const broker: PrivateBroker = {
    brokers: `127.0.0.1:${port}`,
    async start() {
      output = '';
      proc = spawn(
        'java',
        [
          '-Xms128m',
          '-Xmx384m',
          `-Dlog4j.configuration=file:${join(dir, 'log4j.properties')}`,
          '-cp',
          classpath,
          'kafka.Kafka',
          props,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      proc.stdout!.on('data', (d: Buffer) => {
        output += d.toString();
      });
      proc.stderr!.on('data', (d: Buffer) => {
        output += d.toString();
      });
      await eventually(
        `private broker started (${output.slice(-300)})`,
        async () => output.includes('Kafka Server started'),
        {
          timeoutMs: 60_000,
          intervalMs: 100,
        },
      );
    },
    async stop() {
      const p = proc;
      if (!p || p.exitCode !== null) return;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await exited;
    },
    async destroy() {
      if (proc && proc.exitCode === null) {
        const exited = new Promise((r) => proc!.once('exit', r));
        proc.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return broker;
}
