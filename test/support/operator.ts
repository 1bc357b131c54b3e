/**
 * Runs the operator as a real process (`node operator/main.ts run`) for end-to-end tests, with
 * its own metrics port, and reads its Prometheus metrics.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { type DevEnv, repoRoot } from './devenv.ts';
import { eventually } from './wait.ts';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export interface OperatorProcess {
  proc: ChildProcess;
  metricsPort: number;
  healthPort: number;
  logs: string[];
  metrics(): Promise<Map<string, number>>;
  /** Sum of a counter's samples whose labels match all of `labels`. */
  counter(name: string, labels?: Record<string, string | RegExp>): Promise<number>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function startOperator(
  env: DevEnv,
  args: string[] = [],
  opts: {
    waitReady?: boolean;
    managedKafkaAddress?: boolean;
    /** The operator's entry point: operator/main.ts, or the same compiled to JavaScript (bench). */
    entry?: string;
  } = {},
): Promise<OperatorProcess> {
  const metricsPort = await freePort();
  const healthPort = await freePort();
  const proc = spawn(
    process.execPath,
    [
      // As the image starts it (Dockerfile.operator, the main.ts shebang): a 2 MB young generation
      // keeps ~25 MB out of the resident set, --optimize-for-size the heap's growth under bursts
      // (bench/operator-scale.ts).
      '--max-semi-space-size=2',
      '--optimize-for-size',
      opts.entry ?? join(repoRoot, 'operator/main.ts'),
      'run',
      '--kubeconfig',
      env.KUBECONFIG,
      '--metrics-bind-address',
      `127.0.0.1:${metricsPort}`,
      '--health-probe-bind-address',
      `127.0.0.1:${healthPort}`,
      ...(opts.managedKafkaAddress === false ? [] : ['--managed-kafka-address', env.KAFKA_BROKERS]),
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KUBECONFIG: env.KUBECONFIG } },
  );
  const logs: string[] = [];
  const collect = (chunk: Buffer) => {
    logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    if (logs.length > 5000) logs.splice(0, logs.length - 5000);
  };
  proc.stdout?.on('data', collect);
  proc.stderr?.on('data', collect);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));

  const metrics = async () => {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    const samples = new Map<string, number>();
    for (const line of (await res.text()).split('\n')) {
      if (!line || line.startsWith('#')) continue;
      const i = line.lastIndexOf(' ');
      samples.set(line.slice(0, i), Number(line.slice(i + 1)));
    }
    return samples;
  };
  const op: OperatorProcess = {
    proc,
    metricsPort,
    healthPort,
    logs,
    metrics,
    async counter(name, labels = {}) {
      let total = 0;
      for (const [series, value] of await metrics()) {
        if (!series.startsWith(`${name}{`) && series !== name) continue;
        const ok = Object.entries(labels).every(([k, want]) => {
          const m = new RegExp(`${k}="([^"]*)"`).exec(series);
          return m && (typeof want === 'string' ? m[1] === want : want.test(m[1]!));
        });
        if (ok) total += value;
      }
      return total;
    },
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
  if (opts.waitReady !== false) {
    try {
      await eventually(
        'operator ready',
        async () => {
          if (proc.exitCode !== null) throw new Error(`operator exited: ${logs.slice(-20).join('\n')}`);
          const res = await fetch(`http://127.0.0.1:${healthPort}/readyz`);
          return res.ok;
        },
        { timeoutMs: 30_000 },
      );
    } catch (err) {
      // Never leave a stray operator behind (it would keep the test run alive and keep writing).
      await op.stop('SIGKILL');
      throw new Error(`${(err as Error).message}\n${logs.slice(-20).join('\n')}`);
    }
  }
  return op;
}
