import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  classifyFailure,
  DependencyUnavailableError,
  failureReason,
  kafkaErrorType,
  PoisonMessageError,
  TransientError,
} from '../core/errors.ts';
import { recordBytes } from '../core/transport.ts';
import { DLQ_HEADERS, deadLetterRecord, TRUNCATED_VALUE_BYTES, truncatedRecord } from './dead-letter.ts';
import { ContiguousOffsets } from './offsets.ts';
import { ProgressWatch } from './progress.ts';
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
    ['transient', new TransientError('slow'), 'transient'],
    ['unavailable', new DependencyUnavailableError('down'), 'unavailable'],
    ['socket refused', withCode('ECONNREFUSED'), 'unavailable'],
    ['dns', withCode('ENOTFOUND'), 'unavailable'],
    ['neo4j unreachable', withCode('ServiceUnavailable'), 'unavailable'],
    ['socket reset mid-request', withCode('ECONNRESET'), 'transient'],
    ['socket timeout', withCode('ETIMEDOUT'), 'transient'],
    ['neo4j deadlock', withCode('Neo.TransientError.Transaction.DeadlockDetected'), 'transient'],
    [
      'neo4j transaction deadline',
      withCode('Neo.ClientError.Transaction.TransactionTimedOutClientConfiguration'),
      'transient',
    ],
    [
      'neo4j deadline while waiting for a lock',
      withCode('Neo.ClientError.Transaction.LockClientStopped'),
      'transient',
    ],
    ['neo4j syntax', withCode('Neo.ClientError.Statement.SyntaxError'), 'error'],
    ['kafkajs retriable', Object.assign(new Error('x'), { retriable: true }), 'transient'],
    ['kafkajs connection', Object.assign(new Error('x'), { name: 'KafkaJSConnectionError' }), 'unavailable'],
    [
      'kafkajs too large',
      Object.assign(new Error('x'), {
        name: 'KafkaJSProtocolError',
        type: 'MESSAGE_TOO_LARGE',
        retriable: false,
      }),
      'error',
    ],
    [
      'redis gave up',
      Object.assign(new Error('Reached the max retries per request limit'), {
        name: 'MaxRetriesPerRequestError',
      }),
      'unavailable',
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
      { error: 'boom', reason: 'exhausted', failure: 'transient', attempts: 5 },
      { role: 'ingest', consumerGroup: 'p.ingest' },
      new Date('2026-01-01T00:00:00Z'),
    );
    assert.equal(r.key?.toString(), 'k');
    assert.equal(r.value.toString(), 'v');
    assert.deepEqual(r.headers, {
      trace: 't1',
      [DLQ_HEADERS.error]: 'boom',
      [DLQ_HEADERS.reason]: 'exhausted',
      [DLQ_HEADERS.failure]: 'transient',
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

describe('kafkaErrorType', () => {
  it('finds the protocol type on the error or its causes', () => {
    const inner = Object.assign(new Error('x'), { type: 'UNKNOWN_MEMBER_ID' });
    assert.equal(kafkaErrorType(inner), 'UNKNOWN_MEMBER_ID');
    assert.equal(kafkaErrorType(new Error('outer', { cause: inner })), 'UNKNOWN_MEMBER_ID');
    assert.equal(kafkaErrorType(new Error('plain')), undefined);
  });
});

describe('truncatedRecord', () => {
  it('keeps a prefix and the dlq headers, drops other headers, and names the original', () => {
    const value = Buffer.alloc(3 * 1024 * 1024, 1);
    const record = {
      key: 'acme/doc',
      value,
      headers: { big: 'h'.repeat(100_000), [DLQ_HEADERS.sourceOffset]: '7', [DLQ_HEADERS.reason]: 'poison' },
    };
    const cut = truncatedRecord(record);
    assert.equal(cut.key, 'acme/doc');
    assert.equal(cut.value.length, TRUNCATED_VALUE_BYTES);
    assert.equal(cut.headers?.['big'], undefined);
    assert.equal(cut.headers?.[DLQ_HEADERS.sourceOffset], '7');
    assert.equal(cut.headers?.[DLQ_HEADERS.truncated], 'true');
    assert.equal(cut.headers?.[DLQ_HEADERS.originalBytes], String(value.length));
    assert.match(cut.headers?.[DLQ_HEADERS.originalSha256] ?? '', /^[0-9a-f]{64}$/);
    assert.ok(recordBytes(cut) < 80 * 1024);
  });
});

describe('ProgressWatch', () => {
  it('is live while caught up, and stalls only with lag and no progress for the timeout', () => {
    let now = 0;
    const watch = new ProgressWatch(1000, () => now);
    now = 5000;
    assert.equal(watch.stalled(), undefined, 'no lag: idle is fine');
    watch.setLag('t', 0, 10);
    assert.equal(watch.stalled(), undefined, 'the clock starts when work appears');
    now = 7000;
    assert.match(watch.stalled() ?? '', /no message finished for 2 s while 10 wait/);
    watch.progressed();
    assert.equal(watch.stalled(), undefined);
    now = 8500;
    assert.ok(watch.stalled());
    watch.assigned([{ topic: 't', partitions: [1] }]);
    assert.equal(watch.stalled(), undefined, 'a revoked partition no longer counts');
    assert.equal(new ProgressWatch(0, () => now).stalled(), undefined, '0 disables it');
  });
});
