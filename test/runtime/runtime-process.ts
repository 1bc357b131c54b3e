/** Runs `node runtime/main.ts <role>` as a real child process, as a pod would, and reads its JSON logs. */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../support/devenv.ts';
import { eventually } from '../support/wait.ts';

export interface RuntimeProcess {
  child: ChildProcess;
  logs: Record<string, unknown>[];
  stderr: string[];
  exited: Promise<number | null>;
  waitForLog(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Signals the process and waits for it to exit; returns the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

export function spawnRuntime(role: string, env: Record<string, string>): RuntimeProcess {
  const child = spawn(process.execPath, [join(repoRoot, 'runtime', 'main.ts'), role], {
    cwd: repoRoot,
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  let buffered = '';
  child.stdout!.on('data', (data: Buffer) => {
    buffered += data.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line));
      } catch {
        stderr.push(`(stdout) ${line}`);
      }
    }
  });
  child.stderr!.on('data', (data: Buffer) => stderr.push(data.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    logs,
    stderr,
    exited,
    waitForLog: (msg, timeoutMs = 30_000) =>
      eventually(
        `log "${msg}" from ${role} (stderr: ${stderr.join('').slice(-500)})`,
        async () => logs.find((l) => l['msg'] === msg),
        {
          timeoutMs,
          intervalMs: 50,
        },
      ),
    async stop(signal = 'SIGTERM', timeoutMs = 30_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** The env a runtime pod would get, pointed at the local environment. */
export function runtimeEnvFor(
  dev: {
    KAFKA_BROKERS: string;
    NEO4J_URI: string;
    NEO4J_USER: string;
    NEO4J_PASSWORD: string;
    REDIS_URL: string;
  },
  extra: Record<string, string>,
): Record<string, string> {
  return {
    ENGRAM_KAFKA_BROKERS: dev.KAFKA_BROKERS,
    ENGRAM_NEO4J_URI: dev.NEO4J_URI,
    ENGRAM_NEO4J_USER: dev.NEO4J_USER,
    ENGRAM_NEO4J_PASSWORD: dev.NEO4J_PASSWORD,
    ENGRAM_REDIS_URL: dev.REDIS_URL,
    ENGRAM_METRICS_PORT: '0',
    ENGRAM_KAFKA_SESSION_TIMEOUT_MS: '10000',
    ENGRAM_KAFKA_HEARTBEAT_INTERVAL_MS: '1000',
    ...extra,
  };
}
