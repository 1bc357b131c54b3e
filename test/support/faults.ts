/**
 * Fault injection on the local environment: stop a component's process group and bring it back
 * through the idempotent start script (which restarts only what is down).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type DevEnv, repoRoot } from './devenv.ts';
import { eventually } from './wait.ts';

/** Signals a component (etcd, kube-apiserver, kafka, ...) and waits until its process is gone. */
export async function stopComponent(env: DevEnv, component: string, signal: NodeJS.Signals): Promise<void> {
  const state = env.ENGRAM_DEVENV_STATE ?? join(repoRoot, '.devenv');
  const pid = Number(readFileSync(join(state, 'pids', `${component}.pid`), 'utf8'));
  process.kill(-pid, signal);
  await eventually(`${component} stopped`, async () => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  });
}

/** Starts whatever is down again (`make devenv`). */
export async function restartStopped(): Promise<void> {
  await promisify(execFile)('bash', [join(repoRoot, 'hack/devenv/up.sh')], { cwd: repoRoot });
}
