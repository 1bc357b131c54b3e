import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Condition } from '../api/common.ts';
import { conditionEvents } from './status-writer.ts';

const c = (type: string, status: 'True' | 'False' | 'Unknown', reason: string, message = ''): Condition => ({
  type,
  status,
  reason,
  message,
  observedGeneration: 1,
  lastTransitionTime: '2026-12-01T00:00:00Z',
});

describe('conditionEvents: Warnings only for real problems', () => {
  it('a new cluster (conditions appear, Paused False, progress Unknown) makes no Warning', () => {
    const events = conditionEvents(undefined, [
      c('Ready', 'Unknown', 'Progressing'),
      c('TopicsReady', 'Unknown', 'WaitingForKafka'),
      c('Paused', 'False', 'NotPaused'),
      c('Stalled', 'False', 'NotStalled'),
      c('Reconciling', 'True', 'Progressing'),
    ]);
    assert.deepEqual(events, []);
  });
  it('unpausing is a Normal Resumed event, never a Warning NotPaused', () => {
    const events = conditionEvents([c('Paused', 'True', 'Paused')], [c('Paused', 'False', 'NotPaused')]);
    assert.deepEqual(events, [{ type: 'Normal', reason: 'Resumed', note: 'reconciliation resumed' }]);
  });
  it('pausing is Normal', () => {
    const events = conditionEvents(
      [c('Paused', 'False', 'NotPaused')],
      [c('Paused', 'True', 'Paused', 'why')],
    );
    assert.deepEqual(events, [{ type: 'Normal', reason: 'Paused', note: 'why' }]);
  });
  it('a readiness condition turning False warns with its reason; recovery is Normal', () => {
    assert.deepEqual(
      conditionEvents([c('CacheReady', 'True', 'Connected')], [c('CacheReady', 'False', 'Unreachable', 'x')]),
      [{ type: 'Warning', reason: 'Unreachable', note: 'CacheReady: x' }],
    );
    assert.deepEqual(
      conditionEvents([c('CacheReady', 'False', 'Unreachable')], [c('CacheReady', 'True', 'Connected', 'y')]),
      [{ type: 'Normal', reason: 'Connected', note: 'CacheReady: y' }],
    );
  });
  it('an unchanged condition makes no event', () => {
    assert.deepEqual(
      conditionEvents([c('Ready', 'False', 'X')], [c('Ready', 'False', 'X', 'other words')]),
      [],
    );
  });
});
