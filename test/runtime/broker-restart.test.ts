// Fault injection: the broker restarts under a running worker (the ingest role, a real process,
// on a broker of this test's own). The worker rides it out without exiting and every document
// produced before, during and after the outage ends up chunked (at least once).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { requireModelDir } from '../../runtime/model/model-location.ts';
import { chunkMessageSchema, messageKey, type RawDocument, sha256 } from '../../runtime/pipeline/messages.ts';
import { estimateTokens } from '../../runtime/roles/ingest/chunker.ts';
import { chunkDocument } from '../../runtime/roles/ingest/role.ts';
import { requireDevEnv } from '../support/devenv.ts';
import { eventually, uniqueName } from '../support/wait.ts';
import { corpusDocument } from './corpus.ts';
import { chunkIdCounts, countChunks, purgeTenants, testDriver } from './graph-fixtures.ts';
import { committedTotal, createPipelineTopics, type PipelineTopics, readTopic } from './kafka-fixtures.ts';
import { createPrivateBroker, type PrivateBroker } from './private-broker.ts';
import { type RuntimeProcess, runtimeEnvFor, spawnRuntime } from './runtime-process.ts';

const dev = requireDevEnv();
const CHUNKING = {
  maxTokens: 254,
  overlapTokens: 32,
  countTokens: estimateTokens,
  maxChunksPerDocument: 2048,
};
/** Chunk ids do not depend on the version: any log position will do for the expectations. */
const AT = { partition: 0, offset: 0, timestamp: 0 };

function doc(i: number, tenantId = 'acme'): RawDocument {
  const content = corpusDocument(90_000 + i);
  return {
    v: 1,
    kind: 'document',
    tenantId,
    documentId: `d-${i}`,
    contentHash: sha256(content),
    content,
    acceptedAt: i,
  };
}

describe('worker across a broker restart', () => {
  let broker: PrivateBroker;
  let t: PipelineTopics;
  let proc: RuntimeProcess;

  before(async () => {
    broker = await createPrivateBroker();
    await broker.start();
    t = await createPipelineTopics(broker.brokers, uniqueName('brk'));
    proc = spawnRuntime(
      'ingest',
      runtimeEnvFor(
        { ...dev, KAFKA_BROKERS: broker.brokers },
        { ENGRAM_CLUSTER: 'brk', ENGRAM_TOPIC_PREFIX: t.prefix },
      ),
    );
    await proc.waitForLog('running');
  });
  after(async () => {
    await proc?.stop('SIGKILL');
    await t?.cleanup().catch(() => undefined);
    await broker?.destroy();
  });

  it('keeps consuming after the broker comes back, without exiting', async () => {
    const producer = await t.producer();
    const send = (from: number, to: number) =>
      producer.send({
        topic: t.topic('ingest.raw'),
        messages: Array.from({ length: to - from }, (_, k) => {
          const d = doc(from + k);
          return { key: `acme/${d.documentId}`, value: JSON.stringify(d) };
        }),
      });
    const group = `${t.prefix}.ingest`;
    const committed = () => committedTotal(t.admin, group, t.topic('ingest.raw'));

    await send(0, 50);
    await eventually('first 50 committed', async () => (await committed()) === 50, { timeoutMs: 30_000 });

    await broker.stop();
    await new Promise((r) => setTimeout(r, 5000));
    await broker.start();

    await send(50, 100);
    await eventually('all 100 committed after the restart', async () => (await committed()) === 100, {
      timeoutMs: 90_000,
      intervalMs: 500,
    });
    assert.equal(proc.child.exitCode, null, `the worker exited: ${proc.stderr.join('').slice(-500)}`);

    const expected = new Set(
      Array.from({ length: 100 }, (_, i) => chunkDocument(doc(i), AT, CHUNKING).map((c) => c.chunkId)).flat(),
    );
    const seen = new Set<string>();
    const embed = await readTopic(t.kafka, t.topic('ingest.embed'), expected.size);
    for (const m of embed) seen.add(chunkMessageSchema.parse(JSON.parse(m.value!.toString())).chunkId);
    assert.deepEqual(
      [...expected].filter((id) => !seen.has(id)),
      [],
      'every chunk produced at least once',
    );
  });

  async function embedThroughRestart(extraEnv: Record<string, string>) {
    const tenant = uniqueName('brk');
    const cluster = uniqueName('brk');
    const driver = testDriver(dev);
    const topics = await createPipelineTopics(broker.brokers, uniqueName('brke'));
    const spawnEmbed = () =>
      spawnRuntime(
        'embed',
        runtimeEnvFor(
          { ...dev, KAFKA_BROKERS: broker.brokers },
          {
            ENGRAM_CLUSTER: cluster,
            ENGRAM_TOPIC_PREFIX: topics.prefix,
            ENGRAM_MODEL_DIR: requireModelDir(),
            ENGRAM_BATCH_SIZE: '16',
            ...extraEnv,
          },
        ),
      );
    let embed = spawnEmbed();
    let restarts = 0;
    // What the kubelet does: start the worker again when it exits.
    const supervise = setInterval(() => {
      if (embed.child.exitCode !== null) {
        restarts++;
        embed = spawnEmbed();
      }
    }, 200);
    try {
      const chunks = Array.from({ length: 300 }, (_, i) =>
        chunkDocument(doc(i, tenant), { ...AT, offset: i }, { ...CHUNKING, maxTokens: 48, overlapTokens: 8 }),
      ).flat();
      const producer = await topics.producer();
      await producer.send({
        topic: topics.topic('ingest.embed'),
        messages: chunks.map((c) => ({
          key: messageKey(c.tenantId, c.documentId),
          value: JSON.stringify(c),
        })),
      });
      await embed.waitForLog('running', 60_000);
      await eventually('embedding under way', async () => (await countChunks(driver, [tenant])) > 0, {
        timeoutMs: 60_000,
      });
      await broker.stop();
      const during = await countChunks(driver, [tenant]);
      await new Promise((r) => setTimeout(r, 5000));
      await broker.start();
      assert.ok(during < chunks.length, `the outage hit mid-stream (${during} of ${chunks.length} written)`);
      await eventually(
        'every chunk committed after the restart',
        async () =>
          (await committedTotal(topics.admin, `${topics.prefix}.embed`, topics.topic('ingest.embed'))) ===
          chunks.length,
        { timeoutMs: 120_000, intervalMs: 500 },
      );
      const counts = await chunkIdCounts(driver, [tenant]);
      assert.equal(counts.size, chunks.length);
      assert.ok([...counts.values()].every((n) => n === 1));
      return { restarts };
    } finally {
      clearInterval(supervise);
      await embed.stop('SIGKILL');
      await purgeTenants(dev, driver, cluster, [tenant]);
      await driver.close();
      await topics.cleanup().catch(() => undefined);
    }
  }

  it('embed: a broker restart mid-stream loses and duplicates no chunk node, commits everything, never exits', async () => {
    const { restarts } = await embedThroughRestart({});
    assert.equal(restarts, 0, 'the worker rode out the restart');
  });
});
