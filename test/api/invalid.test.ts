// The corpus in test/api/invalid/: every file is a resource the API server must refuse, with the
// message a user would read. A file with one document is refused at creation; with two, the first is
// created and the second, applied over it (same field manager, so removed fields are removed), is
// refused: immutability, partitions that would shrink, and the like. `# expect:` lines are substrings
// the error must contain.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { apiTestEnv, installCrds, testNamespace, yamlDocuments } from './support.ts';

const corpusDir = join(import.meta.dirname, 'invalid');

interface Case {
  file: string;
  why: string;
  expect: string[];
  docs: Array<Record<string, unknown>>;
}

function loadCorpus(): Case[] {
  return readdirSync(corpusDir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((file) => {
      const text = readFileSync(join(corpusDir, file), 'utf8');
      const expect = [...text.matchAll(/^# expect: (.+)$/gm)].map((m) => m[1]!.trim());
      const why = /^# (?!expect:)(.+)$/m.exec(text)?.[1] ?? '';
      return { file, why, expect, docs: yamlDocuments(text) };
    });
}

const corpus = loadCorpus();

describe('invalid resources are refused with a message that says what to change', () => {
  const t = apiTestEnv();
  let ns: Awaited<ReturnType<typeof testNamespace>>;

  before(async () => {
    await installCrds(t);
    ns = await testNamespace(t, 'api-invalid');
  });
  after(async () => {
    await ns?.remove();
  });

  it('has a corpus of at least 30 cases, each with an expectation and one or two documents', () => {
    assert.ok(corpus.length >= 30, `corpus has ${corpus.length} cases`);
    for (const c of corpus) {
      assert.ok(c.expect.length > 0, `${c.file} has an # expect: line`);
      assert.ok(c.why.length > 0, `${c.file} says why it is invalid`);
      assert.ok(c.docs.length === 1 || c.docs.length === 2, `${c.file} has 1 or 2 documents`);
    }
    const updates = corpus.filter((c) => c.docs.length === 2).length;
    assert.ok(updates >= 10, `at least 10 update-time cases (has ${updates})`);
  });

  for (const c of corpus) {
    it(`${c.file}: ${c.why}`, async () => {
      const apply = (doc: Record<string, unknown>) =>
        t.kubectl(
          ['apply', '--server-side', '--field-manager=engram-api-tests', '-n', ns.name, '-f', '-'],
          stringify(doc),
        );
      const bad = c.docs.at(-1)!;
      try {
        if (c.docs.length === 2) {
          const base = await apply(c.docs[0]!);
          assert.equal(base.code, 0, `the valid base object of ${c.file} is accepted: ${base.stderr}`);
        }
        const r = await apply(bad);
        assert.notEqual(r.code, 0, `${c.file} was accepted:\n${r.stdout}`);
        for (const e of c.expect)
          assert.ok(r.stderr.includes(e), `${c.file}: expected «${e}» in:\n${r.stderr}`);
      } finally {
        const meta = bad['metadata'] as { name: string };
        await t.kubectl([
          'delete',
          String(bad['kind']).toLowerCase(),
          meta.name,
          '-n',
          ns.name,
          '--ignore-not-found',
          '--wait=false',
        ]);
      }
    });
  }
});
