import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DLQ_HEADERS, deadLetterRecord } from './dead-letter.ts';
import { classifyFailure, failureReason, PoisonMessageError, TransientError } from './errors.ts';
import { ContiguousOffsets } from './offsets.ts';
import { backoffDelay, sleep } from './retry.ts';
import { runBounded } from './worker.ts';

describe('ContiguousOffsets', () => {
  it('advances only over a gap-free prefix', () => {
    const t = new ContiguousOffsets(['10', '11', '12', '13']);
    assert.equal(t.complete('12'), undefined);
    assert.equal(t.complete('11'), undefined);
    assert.equal(t.complete('10'), '12');
    assert.equal(t.pending, 1);
    assert.equal(t.allDone, false);
    assert.equal(t.complete('13'), '13');
    assert.equal(t.allDone, true);
  });
});

describe('backoffDelay', () => {
  it('doubles per attempt, stays within [d/2, d] and under the cap', () => {
    assert.equal(
      backoffDelay(1, 100, 10_000, () => 0),
      50,
    );
    assert.equal(
      backoffDelay(1, 100, 10_000, () => 1),
      100,
    );
    assert.equal(
      backoffDelay(4, 100, 10_000, () => 1),
      800,
    );
    assert.equal(
      backoffDelay(30, 100, 10_000, () => 1),
      10_000,
    );
    for (let i = 0; i < 100; i++) {
      const d = backoffDelay(3, 100, 10_000);
      assert.ok(d >= 200 && d <= 400);
    }
  });
  it('sleep wakes early on abort', async () => {
    const ac = new AbortController();
    const p = sleep(10_000, ac.signal);
    ac.abort();
    assert.equal(await p, false);
  });
});

describe('classifyFailure', () => {
  const withCode = (code: string) => Object.assign(new Error('x'), { code });
  const table: [string, unknown, string][] = [
    ['poison', new PoisonMessageError('bad'), 'poison'],
    ['transient', new TransientError('down'), 'transient'],
    ['socket refused', withCode('ECONNREFUSED'), 'transient'],
    ['neo4j unavailable', withCode('ServiceUnavailable'), 'transient'],
    ['neo4j deadlock', withCode('Neo.TransientError.Transaction.DeadlockDetected'), 'transient'],
    ['neo4j syntax', withCode('Neo.ClientError.Statement.SyntaxError'), 'error'],
    ['kafkajs retriable', Object.assign(new Error('x'), { retriable: true }), 'transient'],
    [
      'redis gave up',
      Object.assign(new Error('Reached the max retries per request limit'), {
        name: 'MaxRetriesPerRequestError',
      }),
      'transient',
    ],
    ['wrapped', new Error('outer', { cause: withCode('ECONNRESET') }), 'transient'],
    ['plain', new Error('bug'), 'error'],
    ['not an error', 'string', 'error'],
  ];
  for (const [name, err, kind] of table) it(name, () => assert.equal(classifyFailure(err), kind));
  it('reasons are one bounded line', () => {
    assert.equal(failureReason(new Error('a\n  b')), 'Error: a b');
    assert.equal(failureReason('x'.repeat(2000)).length, 1000);
  });
});

describe('deadLetterRecord', () => {
  it('keeps key, value and headers and adds where and why', () => {
    const r = deadLetterRecord(
      {
        topic: 'p.ingest.raw',
        partition: 3,
        offset: '42',
        key: Buffer.from('k'),
        value: Buffer.from('v'),
        headers: { trace: 't1' },
        timestamp: '0',
      },
      { error: 'boom', reason: 'exhausted', attempts: 5 },
      { role: 'ingest', consumerGroup: 'p.ingest' },
      new Date('2026-01-01T00:00:00Z'),
    );
    assert.equal(r.key?.toString(), 'k');
    assert.equal(r.value.toString(), 'v');
    assert.deepEqual(r.headers, {
      trace: 't1',
      [DLQ_HEADERS.error]: 'boom',
      [DLQ_HEADERS.reason]: 'exhausted',
      [DLQ_HEADERS.attempts]: '5',
      [DLQ_HEADERS.sourceTopic]: 'p.ingest.raw',
      [DLQ_HEADERS.sourcePartition]: '3',
      [DLQ_HEADERS.sourceOffset]: '42',
      [DLQ_HEADERS.role]: 'ingest',
      [DLQ_HEADERS.consumerGroup]: 'p.ingest',
      [DLQ_HEADERS.failedAt]: '2026-01-01T00:00:00.000Z',
    });
  });
});

describe('runBounded', () => {
  it('never runs more than the limit at once and runs everything', async () => {
    let running = 0;
    let peak = 0;
    const done: number[] = [];
    await runBounded([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5 * (n % 3)));
      running--;
      done.push(n);
    });
    assert.equal(peak, 3);
    assert.deepEqual(done.sort(), [1, 2, 3, 4, 5, 6, 7]);
  });
});
