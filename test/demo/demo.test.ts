// `make demo` end to end, as a user runs it: hack/demo.sh on the test run's environment, in its own
// namespace, tenant and ports (so it runs beside other test files), then `make demo-down`. The
// output's key lines are the README's: every step, answers with their source document, READY True.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Types } from '../../operator/kube/resources.ts';
import { repoRoot, requireDevEnv } from '../support/devenv.ts';
import { kubeClient } from '../support/kube.ts';
import { freePort } from '../support/operator.ts';
import { eventually, uniqueName } from '../support/wait.ts';

const exec = promisify(execFile);

/** A base with the 16 ports the demo uses (operator 2, gateway 1, one health port per pool) free. */
async function freePortBase(): Promise<number> {
  for (;;) {
    const base = await freePort();
    if (base > 65_000) continue;
    const probes = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        fetch(`http://127.0.0.1:${base + i}/`).then(
          () => false,
          (err: Error & { cause?: { code?: string } }) => err.cause?.code === 'ECONNREFUSED',
        ),
      ),
    );
    if (probes.every(Boolean)) return base;
  }
}

describe('make demo', () => {
  const env = requireDevEnv();
  const client = kubeClient(env);
  const ns = uniqueName('e2e-demo');
  const tenant = uniqueName('demo');
  let demoEnv: NodeJS.ProcessEnv;
  const demo = (...args: string[]) =>
    exec('bash', [join(repoRoot, 'hack/demo.sh'), ...args], {
      cwd: repoRoot,
      env: demoEnv,
      maxBuffer: 4 << 20,
      timeout: 300_000,
    });

  after(async () => {
    await demo('down').catch(() => undefined);
    client.close();
  });

  it('runs every step, answers from the corpus, shows READY True; demo-down removes it', async () => {
    demoEnv = {
      ...process.env,
      ENGRAM_DEMO_NAMESPACE: ns,
      ENGRAM_DEMO_TENANT: tenant,
      ENGRAM_DEMO_PORT_BASE: String(await freePortBase()),
    };
    const { stdout } = await demo().catch((err: { stdout?: string; stderr?: string }) => {
      throw new Error(`hack/demo.sh failed:\n${err.stdout}\n${err.stderr}`);
    });
    for (let n = 1; n <= 9; n++) assert.match(stdout, new RegExp(`^\\[demo ${n}/9\\] `, 'm'), `step ${n}`);
    assert.match(stdout, /POST \/v1\/tenants\/\S+\/documents\/batch -> 202/);
    assert.match(stdout, /20 documents -> \d+ chunks with vectors in Neo4j/);
    // The answers are the corpus's own sentences, from the document that holds the fact.
    assert.match(
      stdout,
      /Q: Who founded Northwind Robotics\?\n {2}A: .*Maya Lindqvist.*northwind-founding\)/,
    );
    assert.match(
      stdout,
      /Q: How long does a robot's battery last\?\n {2}A: .*nine hour shift.*battery-policy\)/,
    );
    assert.match(stdout, /entities: .*Maya Lindqvist \(person\)/i);
    assert.doesNotMatch(stdout, /no chunk found/);
    assert.match(stdout, /memorycluster.engram.dev\/local\s+True\s/);
    assert.match(stdout, new RegExp(`tenantmemory.engram.dev/${tenant}\\s+local\\s+${tenant}\\s+True\\s`));
    for (const role of ['gateway', 'ingest', 'embed', 'extract', 'resolve', 'query'])
      assert.match(
        stdout,
        new RegExp(`workerpool.engram.dev/local-${role}\\s+local\\s+${role}\\s+1\\s+1\\s`),
      );

    const { stdout: downOut } = await demo('down');
    assert.match(downOut, /workers and operator stopped/);
    await eventually(
      'the demo namespace gone',
      async () => !(await client.getOrUndefined(Types.Namespace, undefined, ns)),
      {
        timeoutMs: 60_000,
      },
    );
  });
});
