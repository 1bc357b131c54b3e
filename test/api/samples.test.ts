// config/samples/ against the real API server: each file passes server-side dry-run, and once
// created, the few schema defaults are persisted (and nothing the operator defaults in code is).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { apiTestEnv, installCrds, mustKubectl, samplesDir, testNamespace, yamlDocuments } from './support.ts';

const samples = readdirSync(samplesDir)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

describe('config/samples', () => {
  const t = apiTestEnv();
  let ns: Awaited<ReturnType<typeof testNamespace>>;

  before(async () => {
    await installCrds(t);
    ns = await testNamespace(t, 'api-samples');
  });
  after(async () => {
    await ns?.remove();
  });

  it('covers the kinds and cases the issue asks for', () => {
    for (const want of [
      'memorycluster-minimal.yaml',
      'memorycluster-production.yaml',
      'memorycluster-external.yaml',
      'tenantmemory.yaml',
      'workerpool-embed-gpu.yaml',
      'workerpool-query.yaml',
    ]) {
      assert.ok(samples.includes(want), `config/samples/${want} exists`);
    }
  });

  for (const file of samples) {
    it(`${file} passes kubectl apply --dry-run=server`, async () => {
      const r = await t.kubectl(['apply', '--dry-run=server', '-n', ns.name, '-f', join(samplesDir, file)]);
      assert.equal(r.code, 0, r.stderr);
      const kinds = yamlDocuments(readFileSync(join(samplesDir, file), 'utf8')).map((d) => String(d['kind']));
      for (const kind of kinds)
        assert.match(r.stdout, new RegExp(`${kind.toLowerCase()}[^\\n]* created \\(server dry run\\)`));
    });
  }

  it('persists only the schema defaults that never change', async () => {
    await mustKubectl(t, ['apply', '--server-side', '-n', ns.name, '-f', samplesDir]);
    const mc = JSON.parse(await mustKubectl(t, ['get', 'mc', 'demo', '-n', ns.name, '-o', 'json']));
    assert.equal(mc.spec.topicDeletionPolicy, 'Retain');
    assert.deepEqual(mc.spec.kafka, { managed: {} }, 'no operator-side default is written into the object');
    const tm = JSON.parse(await mustKubectl(t, ['get', 'tm', 'acme', '-n', ns.name, '-o', 'json']));
    assert.equal(tm.spec.deletionPolicy, 'Delete');
    const gpu = JSON.parse(await mustKubectl(t, ['get', 'wp', 'prod-embed', '-n', ns.name, '-o', 'json']));
    assert.equal(gpu.spec.replicas, 1, 'replicas defaults to 1 so /scale always has a value');
    assert.equal(gpu.spec.gpu.resourceName, 'nvidia.com/gpu');
  });
});
