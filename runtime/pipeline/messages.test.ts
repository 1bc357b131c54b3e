import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RECORD_OVERHEAD_BYTES, TOPIC_KEYS, TOPIC_MAX_MESSAGE_BYTES } from '../contract/topics.ts';
import {
  type ChunkMessage,
  chunkMessageSchema,
  compareVersions,
  EXTRACTION_LIMITS,
  extractionMessageSchema,
  MAX_CHUNK_TEXT_CHARS,
  MAX_METADATA_BYTES,
  metadataSchema,
  versionAt,
} from './messages.ts';

describe('compareVersions', () => {
  const v = (partition: number, offset: number, timestamp: number) => ({ partition, offset, timestamp });
  const table: [string, ReturnType<typeof v>, ReturnType<typeof v>, number][] = [
    ['same partition: the later offset wins, whatever the clocks', v(3, 10, 1), v(3, 9, 999), 1],
    ['same partition, earlier offset', v(3, 9, 999), v(3, 10, 1), -1],
    ['same position', v(3, 9, 5), v(3, 9, 5), 0],
    ['other partition: append time decides', v(1, 0, 2000), v(7, 500, 1000), 1],
    ['other partition, older append time', v(7, 500, 1000), v(1, 0, 2000), -1],
    ['other partition, same millisecond: partition breaks the tie', v(7, 0, 1000), v(1, 0, 1000), 1],
  ];
  for (const [name, a, b, want] of table) it(name, () => assert.equal(compareVersions(a, b), want));

  it('reads a log position (int64 strings) into a version', () => {
    assert.deepEqual(
      versionAt({ partition: 2, offset: '41', timestamp: '1700000000000' }),
      v(2, 41, 1700000000000),
    );
  });
});

describe('message sizes fit their topics', () => {
  it('metadata is bounded in bytes as JSON', () => {
    const big = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`k${i}`, 'x'.repeat(4000)]));
    const r = metadataSchema.safeParse(big);
    assert.equal(r.success, false);
    assert.match(JSON.stringify(r.error?.issues), new RegExp(`metadata exceeds ${MAX_METADATA_BYTES} bytes`));
    assert.equal(metadataSchema.safeParse({ title: 'x'.repeat(4000) }).success, true);
  });

  it('the largest chunk message (control characters escape to 6 bytes) fits ingest.embed and ingest.extract', () => {
    const metadata = Object.fromEntries(Array.from({ length: 4 }, (_, i) => [`k${i}`, '\u0001'.repeat(600)]));
    assert.equal(metadataSchema.safeParse(metadata).success, true);
    const worst: ChunkMessage = {
      v: 2,
      kind: 'chunk',
      tenantId: 't'.repeat(48),
      documentId: '"'.repeat(256),
      documentVersion: { partition: 2 ** 31, offset: 2 ** 53 - 1, timestamp: 2 ** 53 - 1 },
      documentHash: 'a'.repeat(64),
      chunkId: 'b'.repeat(32),
      index: 0,
      count: 1_000_000,
      text: '\u0001'.repeat(MAX_CHUNK_TEXT_CHARS),
      tokens: 0,
      start: 2 ** 40,
      end: 2 ** 40,
      metadata,
    };
    assert.equal(chunkMessageSchema.safeParse(worst).success, true);
    const bytes = Buffer.byteLength(JSON.stringify(worst));
    for (const key of ['ingest.embed', 'ingest.extract'] as const)
      assert.ok(bytes + RECORD_OVERHEAD_BYTES <= TOPIC_MAX_MESSAGE_BYTES[key], `${bytes} bytes on ${key}`);
    assert.equal(
      chunkMessageSchema.safeParse({ ...worst, text: 'x'.repeat(MAX_CHUNK_TEXT_CHARS + 1) }).success,
      false,
    );
  });

  it('the largest extraction message fits graph.resolve; one over the byte bound is refused', () => {
    const entity = { name: 'N'.repeat(EXTRACTION_LIMITS.nameChars), type: 'Person' };
    const relation = { source: 'a', target: 'b', type: 'WORKS_AT', fact: '\u0001'.repeat(100) };
    const base = {
      v: 1 as const,
      kind: 'extraction' as const,
      tenantId: 'acme',
      documentId: 'doc-1',
      chunkId: 'c'.repeat(32),
      entities: [entity],
      relations: [] as (typeof relation)[],
      extractedAt: 1,
    };
    const perRelation = Buffer.byteLength(JSON.stringify(relation)) + 1;
    const fitting = Math.floor((EXTRACTION_LIMITS.bytes - 300) / perRelation);
    const relations = Array.from({ length: Math.min(fitting, EXTRACTION_LIMITS.relations) }, () => relation);
    assert.equal(extractionMessageSchema.safeParse({ ...base, relations }).success, true);
    assert.ok(EXTRACTION_LIMITS.bytes + RECORD_OVERHEAD_BYTES <= TOPIC_MAX_MESSAGE_BYTES['graph.resolve']);
    const long = { ...relation, fact: '\u0001'.repeat(EXTRACTION_LIMITS.factChars) };
    const tooBig = Array.from({ length: EXTRACTION_LIMITS.relations }, () => long);
    const refused = extractionMessageSchema.safeParse({ ...base, relations: tooBig });
    assert.equal(refused.success, false);
    assert.match(JSON.stringify(refused.error?.issues), /at most 786432 bytes/);
    assert.equal(
      extractionMessageSchema.safeParse({ ...base, relations: [{ ...relation, type: 'works at' }] }).success,
      false,
    );
  });

  it('the dlq holds the largest record of any topic plus the dead-letter headers', () => {
    for (const key of TOPIC_KEYS) {
      if (key === 'dlq') continue;
      assert.ok(TOPIC_MAX_MESSAGE_BYTES.dlq >= TOPIC_MAX_MESSAGE_BYTES[key] + 64 * 1024, key);
    }
  });
});
