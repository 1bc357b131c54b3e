/** CPU accounting for benchmarks that share the machine with the local environment's servers. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DevEnv, repoRoot } from '../../test/support/devenv.ts';

/** CPU seconds (user + system) a process has used so far, from /proc (Linux clock ticks of 1/100 s). */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The pid of one of the local environment's servers (neo4j, kafka, redis, ...). */
export function devenvPid(dev: DevEnv, component: string): number {
  const state = dev.ENGRAM_DEVENV_STATE ?? join(repoRoot, '.devenv');
  return Number(readFileSync(join(state, 'pids', `${component}.pid`), 'utf8').trim());
}

/**
 * Waits until a process uses less than `belowCores` over a window (e.g. Neo4j's Lucene merges after
 * a bulk load, which would otherwise be measured as query cost); resolves with the seconds waited.
 */
export async function settled(
  pid: number,
  { belowCores = 0.3, windowMs = 5000, maxMs = 600_000 } = {},
): Promise<{ waitedSeconds: number; cores: number }> {
  const started = performance.now();
  for (;;) {
    const c0 = cpuSeconds(pid);
    await new Promise((r) => setTimeout(r, windowMs));
    const cores = (cpuSeconds(pid) - c0) / (windowMs / 1000);
    const waited = (performance.now() - started) / 1000;
    if (cores < belowCores || waited * 1000 > maxMs) return { waitedSeconds: waited, cores };
  }
}
