/** The knowledge corpus (test/fixtures/corpus) mapped onto a test's own tenant ids, and its graph.resolve messages. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chunkId, type ExtractionMessage, messageKey } from '../../runtime/pipeline/messages.ts';
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
