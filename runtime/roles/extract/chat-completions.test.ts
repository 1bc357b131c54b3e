import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseModelOutput, parseRetryAfter } from './chat-completions.ts';

const completion = (content: string | null) =>
  JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', content } }] });

describe('parseModelOutput', () => {
  it('reads JSON content, fenced or not, normalising relation types and dropping dangling relations', () => {
    const content = JSON.stringify({
      entities: [
        { name: 'Alice Chen', type: 'Person', description: null },
        { name: 'Initech', type: 'Organization', description: 'a company' },
        { name: 'Alice Chen', type: 'Person' },
      ],
      relations: [
        { source: 'Alice Chen', target: 'Initech', type: 'works at', fact: 'Alice Chen works at Initech.' },
        { source: 'Alice Chen', target: 'Nobody', type: 'MET', fact: 'Alice met nobody.' },
        { source: 'Alice Chen', target: 'Initech', type: 'WORKS_AT', fact: 'again' },
      ],
    });
    for (const body of [completion(content), completion(`\`\`\`json\n${content}\n\`\`\``)]) {
      const out = parseModelOutput(body);
      assert.ok(typeof out !== 'string', String(out));
      assert.deepEqual(out.entities, [
        { name: 'Alice Chen', type: 'Person' },
        { name: 'Initech', type: 'Organization', description: 'a company' },
      ]);
      assert.deepEqual(out.relations, [
        { source: 'Alice Chen', target: 'Initech', type: 'WORKS_AT', fact: 'Alice Chen works at Initech.' },
      ]);
    }
  });

  const malformed: [string, string, RegExp][] = [
    ['a body that is not JSON', '<html>bad gateway</html>', /the answer is not JSON/],
    ['no choices', JSON.stringify({ choices: [] }), /not a chat completion: no choices/],
    ['prose content', completion('Here you go: Alice, Initech'), /the message content is not JSON/],
    ['null content', completion(null), /the message content is not JSON/],
    [
      'wrong shape',
      completion(JSON.stringify({ entities: [{ name: 'x' }], relations: [] })),
      /fails the schema at entities.0.type/,
    ],
  ];
  for (const [name, body, why] of malformed)
    it(`names why output is malformed: ${name}`, () => {
      const out = parseModelOutput(body);
      assert.equal(typeof out, 'string');
      assert.match(out as string, why);
    });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  it('reads seconds and HTTP dates, and ignores what it cannot read', () => {
    assert.equal(parseRetryAfter('2', now), 2000);
    assert.equal(parseRetryAfter('0.5', now), 500);
    assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:03 GMT', now), 3000);
    assert.equal(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now), 0);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter(null, now), undefined);
  });
});
