/** The knowledge corpus (test/fixtures/corpus) mapped onto a test's own tenant ids, and its graph.resolve messages. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Driver } from 'neo4j-driver';
import { chunkId, type ExtractionMessage, messageKey } from '../../runtime/pipeline/messages.ts';
import { entityKey } from '../../runtime/roles/resolve/entity-names.ts';
import type { Corpus } from '../fixtures/corpus/generate.ts';
import { repoRoot } from '../support/devenv.ts';

export function loadCorpus(tenantIds: Record<string, string>): Corpus {
  const corpus = JSON.parse(
    readFileSync(join(repoRoot, 'test', 'fixtures', 'corpus', 'corpus.json'), 'utf8'),
  ) as Corpus;
  const t = (tenant: string) => tenantIds[tenant] ?? tenant;
  return {
    tenants: corpus.tenants.map(t),
    documents: corpus.documents.map((d) => ({ ...d, tenant: t(d.tenant) })),
    questions: corpus.questions.map((q) => ({ ...q, tenant: t(q.tenant) })),
    entities: corpus.entities.map((e) => ({ ...e, tenant: t(e.tenant) })),
    facts: corpus.facts.map((f) => ({ ...f, tenant: t(f.tenant) })),
  };
}

/** What an extractor would send for each document (one chunk each), from the corpus's annotations. */
export function extractionMessages(corpus: Corpus): { key: string; value: string }[] {
  return corpus.documents.map((d) => {
    const message: ExtractionMessage = {
      v: 1,
      kind: 'extraction',
      tenantId: d.tenant,
      documentId: d.id,
      chunkId: chunkId(d.tenant, d.id, 0),
      entities: d.entities,
      // Relation types travel in UPPER_SNAKE_CASE, as the extract role sends them.
      relations: d.relations.map((r) => ({ ...r, type: r.type.toUpperCase() })),
      extractedAt: d.extractedAt,
    };
    return { key: messageKey(d.tenant, d.id), value: JSON.stringify(message) };
  });
}

/** The entity each spelling resolved to (its own key, or the entity it is an alias of), by key. */
export async function resolvedKeys(
  driver: Driver,
  tenant: string,
  names: string[],
): Promise<Map<string, string[]>> {
  const { records } = await driver.executeQuery(
    `UNWIND $keys AS key
     OPTIONAL MATCH (e:Entity {tenantId: $tenant, key: key})
     OPTIONAL MATCH (:EntityAlias {tenantId: $tenant, key: key})-[:ALIAS_OF]->(a:Entity)
     RETURN key, collect(DISTINCT e.key) + collect(DISTINCT a.key) AS hits`,
    { tenant, keys: names.map(entityKey) },
  );
  return new Map(records.map((r) => [r.get('key') as string, r.get('hits') as string[]]));
}

/**
 * The corpus's graph as it must be after ingest, whoever extracted it: each recurring entity once
 * per tenant (every spelling reaching it), every fact present, contradicted facts closed.
 */
export async function assertCorpusGraph(driver: Driver, corpus: Corpus): Promise<void> {
  const tenants = corpus.tenants;
  for (const tenant of tenants) {
    const expected = corpus.entities.filter((e) => e.tenant === tenant);
    const { records } = await driver.executeQuery(
      'MATCH (e:Entity {tenantId: $tenant}) RETURN e.key AS key, e.importance AS importance, labels(e) AS labels',
      { tenant },
    );
    assert.equal(
      records.length,
      expected.length,
      `${tenant}: one entity per recurring name (${records.map((r) => r.get('key')).join(', ')})`,
    );
    for (const r of records) {
      assert.ok((r.get('importance') as number) >= 1, 'every entity was mentioned');
      assert.ok((r.get('labels') as string[]).some((l) => l.startsWith('Tenant_')));
    }
    // Every spelling in the tenant's documents (suffixes, capitals, titles, near spellings) and
    // every canonical name reaches exactly one entity, and canonical names reach distinct ones.
    const spellings = new Map<string, string>();
    for (const d of corpus.documents.filter((x) => x.tenant === tenant))
      for (const e of d.entities) spellings.set(entityKey(e.name), e.name);
    const hits = await resolvedKeys(driver, tenant, [...spellings.values(), ...expected.map((e) => e.name)]);
    for (const [key, found] of hits)
      assert.equal(found.length, 1, `${tenant}: "${key}" names one entity (${found})`);
    const canonical = new Set(expected.map((e) => hits.get(entityKey(e.name))![0]));
    assert.equal(canonical.size, expected.length, `${tenant}: distinct names are distinct entities`);
  }
  const near = await resolvedKeys(driver, tenants[0]!, ['Juniper Food', 'Juniper Foods']);
  assert.deepEqual(near.get('juniper food'), near.get('juniper foods'), 'a near spelling joined its entity');

  // Every fact in one query: its two ends through keys or aliases, then its statements' validTo.
  const { records: statements } = await driver.executeQuery(
    `UNWIND $facts AS f
     CALL (f) {
       OPTIONAL MATCH (s:Entity {tenantId: f.tenant, key: f.s})
       OPTIONAL MATCH (:EntityAlias {tenantId: f.tenant, key: f.s})-[:ALIAS_OF]->(sa:Entity)
       OPTIONAL MATCH (o:Entity {tenantId: f.tenant, key: f.o})
       OPTIONAL MATCH (:EntityAlias {tenantId: f.tenant, key: f.o})-[:ALIAS_OF]->(oa:Entity)
       WITH coalesce(s, sa) AS source, coalesce(o, oa) AS target
       OPTIONAL MATCH (source)-[r:RELATES {type: f.type}]->(target)
       RETURN count(r) AS n, count(CASE WHEN r.validTo IS NULL THEN 1 END) AS open
     }
     RETURN f.i AS i, n, open`,
    {
      facts: corpus.facts.map((f, i) => ({
        i,
        tenant: f.tenant,
        s: entityKey(f.source),
        o: entityKey(f.target),
        type: f.type,
      })),
    },
  );
  assert.equal(statements.length, corpus.facts.length);
  for (const r of statements) {
    const f = corpus.facts[r.get('i') as number]!;
    const label = `${f.tenant}: ${f.source} ${f.type} ${f.target}`;
    assert.ok((r.get('n') as number) >= 1, `${label} is present`);
    if (f.current) assert.ok((r.get('open') as number) >= 1, `${label} is current`);
    else assert.equal(r.get('open'), 0, `${label} was contradicted: validTo set`);
  }
  const closed = corpus.facts.filter((f) => !f.current).length;
  assert.ok(closed >= 8, 'the corpus contradicts some facts');
}
