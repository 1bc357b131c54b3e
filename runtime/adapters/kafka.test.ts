import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PRODUCE_REQUEST_MAX_BYTES, produceRequests } from './kafka.ts';

describe('produceRequests', () => {
  const msg = (n: number, bytes: number) => ({ key: `k${n}`, value: 'v'.repeat(bytes) });

  it('keeps every request within the byte budget and every topic in order', () => {
    const embed = Array.from({ length: 500 }, (_, i) => msg(i, 10_000));
    const extract = Array.from({ length: 500 }, (_, i) => msg(i, 10_000));
    const requests = produceRequests([
      { topic: 'embed', messages: embed },
      { topic: 'extract', messages: extract },
    ]);
    assert.ok(requests.length >= 10);
    for (const r of requests) {
      const bytes = r.flatMap((b) => b.messages).reduce((n, m) => n + m.value.length + 100, 0);
      assert.ok(bytes <= PRODUCE_REQUEST_MAX_BYTES + 10_100, `${bytes} bytes in one request`);
    }
    const flat = (topic: string) =>
      requests
        .flat()
        .filter((b) => b.topic === topic)
        .flatMap((b) => b.messages);
    assert.deepEqual(flat('embed'), embed);
    assert.deepEqual(flat('extract'), extract);
  });

  it('sends a record larger than the budget alone, and small batches in one request', () => {
    const requests = produceRequests([
      { topic: 't', messages: [msg(0, 10), msg(1, 3 * 1024 * 1024), msg(2, 10)] },
    ]);
    assert.deepEqual(
      requests.map((r) => r.flatMap((b) => b.messages.map((m) => m.key))),
      [['k0'], ['k1'], ['k2']],
    );
    assert.equal(produceRequests([{ topic: 't', messages: [msg(0, 10), msg(1, 10)] }]).length, 1);
    assert.deepEqual(produceRequests([]), []);
  });
});
