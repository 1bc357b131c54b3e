// The corpus in test/api/valid/: edge cases the API must keep accepting (fractional CPU, integer
// quantities, IPv6 hosts, the longest topic prefix, defaults written down in an update, ...). A file
// with two documents is an update: both are applied in turn with one field manager. Whatever the API
// server admits the operator must be able to run, so every document also parses with the operator's
// zod schema, and for a MemoryCluster the operator's pure builders produce topics Kafka takes and
// store objects the API server takes (server-side dry run).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { effectiveTopics } from '../../operator/api/defaults.ts';
import { type MemoryCluster, memoryClusterSchema } from '../../operator/api/memorycluster.ts';
import { tenantMemorySchema } from '../../operator/api/tenantmemory.ts';
import { workerPoolSchema } from '../../operator/api/workerpool.ts';
import { buildNeo4jChildren } from '../../operator/memorycluster/desired/neo4j.ts';
import { buildRedisChildren } from '../../operator/memorycluster/desired/redis.ts';
import { buildRedpandaChildren } from '../../operator/memorycluster/desired/redpanda.ts';
import { apiTestEnv, installCrds, testNamespace, yamlDocuments } from './support.ts';

const corpusDir = join(import.meta.dirname, 'valid');
const schemas: Record<string, { safeParse(v: unknown): { success: boolean; error?: { message: string } } }> =
  {
    MemoryCluster: memoryClusterSchema,
    TenantMemory: tenantMemorySchema,
    WorkerPool: workerPoolSchema,
  };

const corpus = readdirSync(corpusDir)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((file) => {
    const text = readFileSync(join(corpusDir, file), 'utf8');
    return { file, why: /^# (.+)$/m.exec(text)?.[1] ?? '', docs: yamlDocuments(text) };
  });

/** Kafka's own limits on a topic the operator would create. */
function assertKafkaTakes(cluster: MemoryCluster, file: string): void {
  for (const topic of effectiveTopics(
    cluster.spec,
    cluster.metadata.namespace ?? 'default',
    cluster.metadata.name,
  )) {
    assert.ok(topic.name.length <= 249, `${file}: topic ${topic.name} fits in 249 characters`);
    const retention = topic.config['retention.ms'];
    if (retention !== undefined)
      assert.match(retention, /^(-1|[1-9][0-9]*)$/, `${file}: retention.ms is a plain integer`);
  }
}

describe('valid edge cases are accepted, parsed and buildable', () => {
  const t = apiTestEnv();
  let ns: Awaited<ReturnType<typeof testNamespace>>;

  before(async () => {
    await installCrds(t);
    ns = await testNamespace(t, 'api-valid');
  });
  after(async () => {
    await ns?.remove();
  });

  it('has a corpus of at least 15 cases, some of them updates', () => {
    assert.ok(corpus.length >= 15, `corpus has ${corpus.length} cases`);
    assert.ok(corpus.filter((c) => c.docs.length === 2).length >= 4);
  });

  for (const c of corpus) {
    it(`${c.file}: ${c.why}`, async () => {
      const apply = (doc: Record<string, unknown>, dryRun = false) =>
        t.kubectl(
          [
            'apply',
            '--server-side',
            '--field-manager=engram-api-tests',
            ...(dryRun ? ['--dry-run=server'] : []),
            '-n',
            ns.name,
            '-f',
            '-',
          ],
          stringify(doc),
        );
      const last = c.docs.at(-1)!;
      try {
        for (const doc of c.docs) {
          const r = await apply(doc);
          assert.equal(r.code, 0, `${c.file}: refused:\n${r.stderr}`);
          const parsed = schemas[String(doc['kind'])]!.safeParse(doc);
          assert.ok(
            parsed.success,
            `${c.file}: the operator's zod schema refuses it: ${parsed.error?.message}`,
          );
        }
        if (last['kind'] !== 'MemoryCluster') return;
        const cluster = memoryClusterSchema.parse({
          ...last,
          metadata: {
            ...(last['metadata'] as object),
            namespace: ns.name,
            uid: '6f1c3a52-1111-4a2b-9c3d-000000000001',
          },
        });
        assertKafkaTakes(cluster, c.file);
        const { kafka, neo4j, redis } = cluster.spec;
        const ctx = { operatorNamespace: 'engram-system' };
        const children = [
          ...(kafka.managed ? buildRedpandaChildren(cluster, kafka.managed, ctx) : []),
          ...(neo4j.managed ? buildNeo4jChildren(cluster, neo4j.managed, ctx) : []),
          ...(redis.managed ? buildRedisChildren(cluster, redis.managed, ctx) : []),
        ];
        for (const child of children) {
          const data = (child as { data?: Record<string, string> }).data ?? {};
          for (const text of Object.values(data))
            assert.doesNotMatch(
              text,
              /e\+|NaN|Infinity|undefined/,
              `${c.file}: ${child.kind} ${child.metadata.name}:\n${text}`,
            );
          const r = await apply(child as unknown as Record<string, unknown>, true);
          assert.equal(
            r.code,
            0,
            `${c.file}: the API server refuses ${child.kind} ${child.metadata.name}:\n${r.stderr}`,
          );
        }
      } finally {
        const meta = last['metadata'] as { name: string };
        await t.kubectl([
          'delete',
          String(last['kind']).toLowerCase(),
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
