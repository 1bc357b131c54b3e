import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { extractionMessageSchema } from '../../pipeline/messages.ts';
import { extractBuiltIn, splitSentences } from './built-in-extractor.ts';

type Rel = [source: string, type: string, target: string];

const table: { text: string; entities: Record<string, string>; relations: Rel[] }[] = [
  {
    text: 'Alice Chen works at Initech Inc.',
    entities: { 'Alice Chen': 'Person', 'Initech Inc': 'Organization' },
    relations: [['Alice Chen', 'WORKS_AT', 'Initech Inc']],
  },
  {
    text: 'Bob Stone founded Acme Robotics in 2012.',
    entities: { 'Bob Stone': 'Person', 'Acme Robotics': 'Organization' },
    relations: [['Bob Stone', 'FOUNDED', 'Acme Robotics']],
  },
  {
    text: 'Globex Corp acquired Acme Robotics last year.',
    entities: { 'Globex Corp': 'Organization', 'Acme Robotics': 'Organization' },
    relations: [['Globex Corp', 'ACQUIRED', 'Acme Robotics']],
  },
  {
    text: 'Acme Robotics was acquired by Globex Corp.',
    entities: { 'Acme Robotics': 'Organization', 'Globex Corp': 'Organization' },
    relations: [['Globex Corp', 'ACQUIRED', 'Acme Robotics']],
  },
  {
    text: 'Initech Inc is based in Oslo.',
    entities: { 'Initech Inc': 'Organization', Oslo: 'Place' },
    relations: [['Initech Inc', 'BASED_IN', 'Oslo']],
  },
  {
    text: 'Carol Diaz met David Park at the conference.',
    entities: { 'Carol Diaz': 'Person', 'David Park': 'Person' },
    relations: [['Carol Diaz', 'MET', 'David Park']],
  },
  {
    text: 'Erin Walsh leads the University of Oslo robotics lab.',
    entities: { 'Erin Walsh': 'Person', 'University of Oslo': 'Organization' },
    relations: [['Erin Walsh', 'LEADS', 'University of Oslo']],
  },
  {
    text: 'In 2020, Frank Moore joined Umbrella Ltd as an engineer.',
    entities: { 'Frank Moore': 'Person', 'Umbrella Ltd': 'Organization' },
    relations: [['Frank Moore', 'WORKS_AT', 'Umbrella Ltd']],
  },
  {
    text: 'Maria Lopez moved to Lisbon in 2019.',
    entities: { 'Maria Lopez': 'Person', Lisbon: 'Place' },
    relations: [['Maria Lopez', 'LIVES_IN', 'Lisbon']],
  },
  {
    text: 'Last spring Ann Lee left Initech Inc and moved to HOOLI TECHNOLOGIES.',
    entities: { 'Ann Lee': 'Person', 'HOOLI TECHNOLOGIES': 'Organization' },
    relations: [['Ann Lee', 'WORKS_AT', 'HOOLI TECHNOLOGIES']],
  },
  {
    text: 'Globex Corp partnered with Vandelay Shipping on port automation.',
    entities: { 'Globex Corp': 'Organization', 'Vandelay Shipping': 'Organization' },
    relations: [['Globex Corp', 'PARTNER_OF', 'Vandelay Shipping']],
  },
  {
    text: 'Omar Haddad mentors Lina Berg in data engineering.',
    entities: { 'Omar Haddad': 'Person', 'Lina Berg': 'Person' },
    relations: [['Omar Haddad', 'MENTORS', 'Lina Berg']],
  },
  {
    text: 'Priya Nair won the Kepler Prize for her work on batteries.',
    entities: { 'Priya Nair': 'Person', 'Kepler Prize': 'Award' },
    relations: [['Priya Nair', 'RECEIVED', 'Kepler Prize']],
  },
  {
    text: 'Acme Robotics was founded by Bob Stone and Grace Lee.',
    entities: { 'Acme Robotics': 'Organization', 'Bob Stone': 'Person', 'Grace Lee': 'Person' },
    relations: [
      ['Bob Stone', 'FOUNDED', 'Acme Robotics'],
      ['Grace Lee', 'FOUNDED', 'Acme Robotics'],
    ],
  },
  {
    text: "Dr. Hana Sato, a chemist, works for Initech's parent Globex Corp.",
    entities: { 'Hana Sato': 'Person' },
    relations: [],
  },
  {
    text: 'The weather in March was mild. Nothing else happened.',
    entities: {},
    relations: [],
  },
];

describe('built-in extractor', () => {
  for (const tc of table) {
    it(tc.text, () => {
      const out = extractBuiltIn(tc.text);
      const types = Object.fromEntries(out.entities.map((e) => [e.name, e.type]));
      for (const [name, type] of Object.entries(tc.entities))
        assert.equal(types[name], type, `${name} in ${JSON.stringify(types)}`);
      if (Object.keys(tc.entities).length === 0) assert.deepEqual(out.entities, []);
      const rels = out.relations.map((r) => [r.source, r.type, r.target]);
      for (const r of tc.relations)
        assert.ok(
          rels.some((x) => x.join() === r.join()),
          `${r} in ${JSON.stringify(rels)}`,
        );
      if (tc.relations.length === 0 && tc.text.includes('Nothing')) assert.deepEqual(rels, []);
      for (const r of out.relations) {
        assert.ok(types[r.source] && types[r.target], 'relations connect extracted entities');
        assert.ok(tc.text.includes(r.fact), 'the fact is the sentence');
      }
    });
  }

  it('keeps the sentence as the fact, per sentence, and is deterministic', () => {
    const text = 'Alice Chen works at Initech Inc. Later, Alice Chen met Bob Stone in Oslo.';
    assert.deepEqual(splitSentences(text), [
      'Alice Chen works at Initech Inc.',
      'Later, Alice Chen met Bob Stone in Oslo.',
    ]);
    const a = extractBuiltIn(text);
    assert.deepEqual(a, extractBuiltIn(text));
    const met = a.relations.find((r) => r.type === 'MET');
    assert.equal(met?.fact, 'Later, Alice Chen met Bob Stone in Oslo.');
    assert.equal(a.entities.filter((e) => e.name === 'Alice Chen').length, 1);
  });

  it('never splits after a title, and yields a valid graph.resolve message for long noisy text', () => {
    assert.equal(splitSentences('Dr. Ada Lovelace met Charles Babbage.').length, 1);
    const noisy = Array.from({ length: 400 }, (_, i) => `Person Number${i} works at Company${i} Inc.`).join(
      ' ',
    );
    const out = extractBuiltIn(noisy);
    const msg = {
      v: 1,
      kind: 'extraction',
      tenantId: 'acme',
      documentId: 'd',
      chunkId: 'a'.repeat(32),
      ...out,
      extractedAt: 1,
    };
    assert.equal(extractionMessageSchema.safeParse(msg).success, true);
  });
});
