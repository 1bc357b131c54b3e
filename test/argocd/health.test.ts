// The Argo CD health checks (config/argocd/resource_customizations/engram.dev/<Kind>/health.lua)
// against each kind's health_test.yaml cases, run with Lua 5.1 like Argo CD; every state is covered.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { KINDS } from '../../operator/api/kinds.ts';
import { argoHealth, healthDir } from '../support/argocd.ts';

const STATES = ['Healthy', 'Progressing', 'Degraded', 'Suspended'];

for (const { kind } of KINDS) {
  const dir = join(healthDir, kind);
  const cases = (
    parse(readFileSync(join(dir, 'health_test.yaml'), 'utf8')) as {
      tests: Array<{ inputPath: string; healthStatus: { status: string; message: string } }>;
    }
  ).tests;

  describe(`Argo CD health check of ${kind}`, () => {
    it('has a case for every state Argo CD knows for it', () => {
      assert.deepEqual([...new Set(cases.map((c) => c.healthStatus.status))].sort(), [...STATES].sort());
    });
    for (const c of cases) {
      it(`${c.inputPath} is ${c.healthStatus.status}`, () => {
        const obj = parse(readFileSync(join(dir, c.inputPath), 'utf8'));
        assert.equal(obj.kind, kind, `${c.inputPath} is a ${kind}`);
        assert.deepEqual(argoHealth(obj), c.healthStatus);
      });
    }
  });
}
