import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createLogger } from './log.ts';

it('writes JSON lines without secrets', () => {
  const lines: string[] = [];
  const log = createLogger('info', { role: 'embed' }, (l) => lines.push(l));
  log.debug('hidden');
  log.info('connected', {
    neo4j: { uri: 'bolt://neo4j:7687', password: 'hunter2' },
    redis: 'redis://default:hunter2@redis:6379',
    authorization: 'Bearer abc',
    error: new Error('login failed for redis://u:hunter2@host'),
  });
  assert.equal(lines.length, 1);
  const entry = JSON.parse(lines[0]!);
  assert.equal(entry.level, 'info');
  assert.equal(entry.role, 'embed');
  assert.equal(entry.neo4j.password, '[redacted]');
  assert.equal(entry.neo4j.uri, 'bolt://neo4j:7687');
  assert.equal(entry.authorization, '[redacted]');
  assert.ok(!lines[0]!.includes('hunter2'), lines[0]);
});
