import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChunkMessage } from '../../pipeline/messages.ts';
import { extractionMessage } from './role.ts';

const chunk: ChunkMessage = {
  v: 2,
  kind: 'chunk',
  tenantId: 'acme',
  documentId: 'd1',
  documentVersion: { partition: 0, offset: 7, timestamp: 1_700_000_000_000 },
  documentHash: 'a'.repeat(64),
  chunkId: 'b'.repeat(32),
  index: 0,
  count: 1,
  text: 'Ann Lee works at Initech Inc.',
  tokens: 8,
  start: 0,
  end: 29,
};
const extraction = { entities: [], relations: [] };

describe('extraction message', () => {
  it("dates its facts by the document (observedAt, else its version's log time), never by the extraction", () => {
    const later = 1_800_000_000_000;
    assert.equal(extractionMessage(chunk, extraction, later).validFrom, 1_700_000_000_000);
    assert.equal(
      extractionMessage({ ...chunk, observedAt: 1_600_000_000_000 }, extraction, later).validFrom,
      1_600_000_000_000,
    );
    assert.equal(extractionMessage(chunk, extraction, later).extractedAt, later);
  });
});
