// Issue 8, defect 8: readiness means ready. A freshly started embed worker (real process: it loads
// the model, connects to Neo4j and Redis, joins its group) answers /readyz 503 from the moment its
// metrics port is up until its consumer is in the group; only then 200. /healthz is 200 all along.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { requireModelDir } from '../../runtime/model/model-location.ts';
import { requireDevEnv } from '../support/devenv.ts';
import { eventually, uniqueName } from '../support/wait.ts';
import { createPipelineTopics, type PipelineTopics } from './kafka-fixtures.ts';
import { type RuntimeProcess, runtimeEnvFor, spawnRuntime } from './runtime-process.ts';

const dev = requireDevEnv();

describe('readiness of a starting worker (embed, child process)', () => {
  let t: PipelineTopics;
  let proc: RuntimeProcess;
  before(async () => {
    t = await createPipelineTopics(dev.KAFKA_BROKERS, uniqueName('rdy'));
  });
  after(async () => {
    await proc?.stop('SIGKILL');
    await t?.cleanup();
  });

  it('answers /readyz 503 until the role runs and its consumer joined the group', async () => {
    proc = spawnRuntime(
      'embed',
      runtimeEnvFor(dev, {
        ENGRAM_CLUSTER: uniqueName('rdy'),
        ENGRAM_TOPIC_PREFIX: t.prefix,
        ENGRAM_MODEL_DIR: requireModelDir(),
      }),
    );
    const port = (await proc.waitForLog('starting', 60_000))['metricsPort'] as number;
    const early: string[] = [];
    const readyAt = await eventually(
      '/readyz 200',
      async () => {
        const res = await fetch(`http://127.0.0.1:${port}/readyz`);
        const body = await res.text();
        assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200, 'alive while starting');
        if (res.status === 200) return Date.now();
        assert.equal(res.status, 503);
        early.push(body);
        return undefined;
      },
      { timeoutMs: 60_000, intervalMs: 20 },
    );
    assert.ok(early.length >= 3, `503 for the whole start (${early.length} answers)`);
    assert.match(early[0]!, /role: starting/, 'the body says why');
    // Every line the worker logged before its first 200: the role ran and the consumer joined.
    const at = async (msg: string) => Date.parse(String((await proc.waitForLog(msg))['ts']));
    assert.ok((await at('running')) <= readyAt, 'ready only once the role runs');
    assert.ok((await at('partitions assigned')) <= readyAt, 'ready only once the consumer joined its group');
    assert.ok((await at('model loaded')) < readyAt);
  });
});
