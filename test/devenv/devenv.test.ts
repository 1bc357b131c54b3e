// The local environment's start script is idempotent and refuses busy ports instead of reusing them.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { repoRoot, requireDevEnv } from '../support/devenv.ts';

const exec = promisify(execFile);
const up = join(repoRoot, 'hack/devenv/up.sh');

describe('make devenv', () => {
  const env = requireDevEnv();
  const state = env.ENGRAM_DEVENV_STATE ?? join(repoRoot, '.devenv');
  const pids = () =>
    ['etcd', 'kube-apiserver', 'kafka', 'neo4j', 'redis'].map((c) =>
      readFileSync(join(state, 'pids', `${c}.pid`), 'utf8'),
    );

  it('is idempotent: a second start leaves the running servers alone', async () => {
    const before = pids();
    const { stderr } = await exec('bash', [up], { cwd: repoRoot });
    assert.match(stderr, /kafka already running/);
    assert.deepEqual(pids(), before);
  });

  it('reports a busy port instead of reusing it', async () => {
    const other = mkdtempSync(join(tmpdir(), 'engram-devenv-'));
    try {
      await assert.rejects(
        exec('bash', [up], { cwd: repoRoot, env: { ...process.env, DEVENV_STATE: other } }),
        (err: { stderr: string }) =>
          /port \d+ for etcd is busy \(not ours\): free it or set ENGRAM_ETCD_PORT/.test(err.stderr),
      );
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
