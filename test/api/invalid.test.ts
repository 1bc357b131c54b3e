// The corpus in test/api/invalid/: every file is a resource the API server must refuse, with the
// message a user would read. A file with one document is refused at creation; with two, the first is
// created and the second, applied over it (same field manager, so removed fields are removed), is
// refused: immutability, partitions that would shrink, and the like. `# expect:` lines are substrings
// the error must contain; `# first:` is a substring of the first error listed (what a user reads
// first). No error may be a raw regular expression or a CEL evaluation error instead of a rule's own
// message.
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
  first: string | undefined;
  docs: Array<Record<string, unknown>>;
}

/** What the API server prints when a rule failed to run or a raw schema pattern refused a value. */
const UNHELPFUL = [
  /quantities must match the regular expression/,
  /type conversion error/,
  /no such overload/,
  /evaluating rule:/,
  /should match '/,
  /compilation failed/,
  /Internal error/,
];

/** The errors kubectl prints: one after "is invalid: ", or several as "* " lines. */
function refusals(stderr: string): string[] {
  const listed = stderr.split('\n').filter((l) => l.startsWith('* '));
  if (listed.length > 0) return listed.map((l) => l.slice(2));
  const one = /is invalid: (.+)/.exec(stderr)?.[1];
  return one ? [one] : [stderr];
}

function loadCorpus(): Case[] {
  return readdirSync(corpusDir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((file) => {
      const text = readFileSync(join(corpusDir, file), 'utf8');
      const expect = [...text.matchAll(/^# expect: (.+)$/gm)].map((m) => m[1]!.trim());
      const first = /^# first: (.+)$/m.exec(text)?.[1]?.trim();
      const why = /^# (?!expect:|first:)(.+)$/m.exec(text)?.[1] ?? '';
      return { file, why, expect, first, docs: yamlDocuments(text) };
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

  it('has a corpus of at least 120 cases, each with an expectation and one or two documents', () => {
    assert.ok(corpus.length >= 120, `corpus has ${corpus.length} cases`);
    for (const c of corpus) {
      assert.ok(c.expect.length > 0, `${c.file} has an # expect: line`);
      assert.ok(c.why.length > 0, `${c.file} says why it is invalid`);
      assert.ok(c.docs.length === 1 || c.docs.length === 2, `${c.file} has 1 or 2 documents`);
    }
    const updates = corpus.filter((c) => c.docs.length === 2).length;
    assert.ok(updates >= 25, `at least 25 update-time cases (has ${updates})`);
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
        const errors = refusals(r.stderr);
        if (c.first)
          assert.ok(errors[0]!.includes(c.first), `${c.file}: the first error is «${c.first}»:\n${r.stderr}`);
        for (const u of UNHELPFUL)
          assert.doesNotMatch(r.stderr, u, `${c.file}: an unhelpful message:\n${r.stderr}`);
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
