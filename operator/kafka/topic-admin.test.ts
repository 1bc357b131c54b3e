import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSettling, KafkaAdminError } from './topic-admin.ts';

describe('isSettling: errors that only mean "not yet" after a topic change', () => {
  it('recognises metadata still propagating, also when wrapped', () => {
    const raw = Object.assign(new Error('This server does not host this topic-partition'), {
      type: 'UNKNOWN_TOPIC_OR_PARTITION',
    });
    assert.equal(isSettling(raw), true);
    assert.equal(isSettling(new KafkaAdminError('Kafka admin call failed: ...', raw)), true);
  });
  it('is not fooled by real failures', () => {
    assert.equal(isSettling(Object.assign(new Error('x'), { type: 'TOPIC_AUTHORIZATION_FAILED' })), false);
    assert.equal(isSettling(new Error('connect ECONNREFUSED')), false);
    assert.equal(isSettling(undefined), false);
  });
});
