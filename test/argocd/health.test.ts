// The Argo CD health check (config/argocd/health.lua) against its health_test.yaml cases.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { argoHealth } from '../support/argocd.ts';
import { repoRoot } from '../support/devenv.ts';

const dir = join(repoRoot, 'config/argocd');
const cases = (
  parse(readFileSync(join(dir, 'health_test.yaml'), 'utf8')) as {
    tests: Array<{ inputPath: string; healthStatus: { status: string; message: string } }>;
  }
).tests;

describe('Argo CD health check', () => {
  for (const c of cases) {
    it(`${c.inputPath} is ${c.healthStatus.status}`, () => {
      const obj = parse(readFileSync(join(dir, c.inputPath), 'utf8'));
      assert.deepEqual(argoHealth(obj), c.healthStatus);
    });
  }
});
