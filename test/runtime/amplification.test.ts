// Issue 8, defect 4: the work and bytes one document can cause are bounded. The ingest role as a
// real process: a document's metadata travels once (on chunk 0), not in every chunk; metadata
// above its byte bound, a document yielding more chunks than ENGRAM_MAX_CHUNKS_PER_DOCUMENT and a
// document with no text are dead-lettered with the reason, while their neighbours go through.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { chunkMessageSchema, type RawDocument, sha256 } from '../../runtime/pipeline/messages.ts';
import { DLQ_HEADERS } from '../../runtime/worker/dead-letter.ts';
import { requireDevEnv } from '../support/devenv.ts';
import { eventually, uniqueName } from '../support/wait.ts';
import {
  committedTotal,
  createPipelineTopics,
  type PipelineTopics,
  readTopic,
  topicEndOffsets,
} from './kafka-fixtures.ts';
import { type RuntimeProcess, runtimeEnvFor, spawnRuntime } from './runtime-process.ts';

const dev = requireDevEnv();
const MAX_CHUNKS = 100;

function raw(documentId: string, content: string, metadata?: RawDocument['metadata']): RawDocument {
  return {
    v: 1,
    kind: 'document',
    tenantId: 'acme',
    documentId,
    contentHash: sha256(content),
    content,
    ...(metadata && { metadata }),
    acceptedAt: 0,
  };
}

const sentences = (n: number) =>
  Array.from({ length: n }, (_, i) => `Sentence ${i} of a long document about memory and graphs.`).join(' ');

describe('bounded amplification (ingest, child process)', () => {
  let t: PipelineTopics;
  let proc: RuntimeProcess;
  before(async () => {
    t = await createPipelineTopics(dev.KAFKA_BROKERS, uniqueName('amp'), { 'ingest.raw': 1 });
    proc = spawnRuntime(
      'ingest',
      runtimeEnvFor(dev, {
        ENGRAM_CLUSTER: 'amp',
        ENGRAM_TOPIC_PREFIX: t.prefix,
        ENGRAM_CHUNK_MAX_TOKENS: '40',
        ENGRAM_CHUNK_OVERLAP_TOKENS: '8',
        ENGRAM_MAX_CHUNKS_PER_DOCUMENT: String(MAX_CHUNKS),
      }),
    );
    await proc.waitForLog('running');
  });
  after(async () => {
    await proc?.stop('SIGKILL');
    await t?.cleanup();
  });

  it('carries metadata once per document and refuses what would amplify without bound', async () => {
    // ~15 KiB of metadata: within the bound, and large enough that copying it would dominate.
    const metadata = Object.fromEntries(
      Array.from({ length: 15 }, (_, i) => [`field${i}`, 'm'.repeat(1000)]),
    );
    const docs = [
      { key: 'acme/with-metadata', value: raw('with-metadata', sentences(150), metadata) },
      {
        key: 'acme/huge-metadata',
        value: raw(
          'huge-metadata',
          'Short.',
          Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`k${i}`, 'x'.repeat(4000)])),
        ),
      },
      { key: 'acme/too-many-chunks', value: raw('too-many-chunks', sentences(600)) },
      { key: 'acme/blank', value: raw('blank', ' \n\t ') },
      { key: 'acme/after', value: raw('after', 'The document after them all. It goes through.') },
    ];
    const producer = await t.producer();
    await producer.send({
      topic: t.topic('ingest.raw'),
      messages: docs.map((d) => ({ key: d.key, value: JSON.stringify(d.value) })),
    });
    await eventually(
      'every document committed',
      async () =>
        (await committedTotal(t.admin, `${t.prefix}.ingest`, t.topic('ingest.raw'))) === docs.length,
      { timeoutMs: 60_000 },
    );

    const total = await topicEndOffsets(t.admin, t.topic('ingest.embed'));
    const out = await readTopic(t.kafka, t.topic('ingest.embed'), total);
    const chunks = out.map((m) => ({
      bytes: m.value!.length,
      c: chunkMessageSchema.parse(JSON.parse(m.value!.toString())),
    }));
    const mine = chunks.filter((x) => x.c.documentId === 'with-metadata');
    assert.ok(mine.length > 20, `a long document (${mine.length} chunks)`);
    assert.deepEqual(
      mine.filter((x) => x.c.metadata !== undefined).map((x) => x.c.index),
      [0],
      'metadata rides on chunk 0 only',
    );
    assert.deepEqual(mine.find((x) => x.c.index === 0)!.c.metadata, metadata);
    const bytes = mine.reduce((n, x) => n + x.bytes, 0);
    const content = Buffer.byteLength(docs[0]!.value.content);
    const metadataBytes = Buffer.byteLength(JSON.stringify(metadata));
    assert.ok(
      bytes < 2 * content + metadataBytes + mine.length * 700,
      `${bytes} bytes of chunk messages for ${content} bytes of content and ${metadataBytes} of metadata`,
    );
    assert.ok(
      chunks.some((x) => x.c.documentId === 'after'),
      'the document after them went through',
    );
    for (const id of ['huge-metadata', 'too-many-chunks', 'blank'])
      assert.ok(!chunks.some((x) => x.c.documentId === id), `${id} produced no chunk`);

    const dlq = await readTopic(t.kafka, t.topic('dlq'), 3);
    const why = new Map(dlq.map((m) => [m.key, m.headers]));
    assert.match(why.get('acme/huge-metadata')![DLQ_HEADERS.error]!, /metadata exceeds 16384 bytes/);
    assert.match(
      why.get('acme/too-many-chunks')![DLQ_HEADERS.error]!,
      new RegExp(`more than ENGRAM_MAX_CHUNKS_PER_DOCUMENT \\(${MAX_CHUNKS}\\)`),
    );
    assert.match(why.get('acme/blank')![DLQ_HEADERS.error]!, /no text to chunk/);
    for (const h of why.values()) assert.equal(h[DLQ_HEADERS.reason], 'poison');
  });
});
