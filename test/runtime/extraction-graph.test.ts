// Extraction end to end on real Kafka, Neo4j, Redis and the real model (int8), no annotations:
// the corpus (test/fixtures/corpus) goes through gateway -> ingest -> embed and extract (the
// built-in extractor, as an offline cluster runs it) -> graph.resolve -> resolve, each role a child
// process as a pod runs it. The graph that results must be the one the corpus describes (the same
// assertions as knowledge.test.ts, which feeds the corpus's own annotations instead of extract).
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Driver } from 'neo4j-driver';
import { requireModelDir } from '../../runtime/model/model-location.ts';
import { requireDevEnv } from '../support/devenv.ts';
import { eventually, uniqueName } from '../support/wait.ts';
import { freePort, tenantKeysDir } from './gateway-fixtures.ts';
import { countEmbeddedChunks, purgeTenants, testDriver } from './graph-fixtures.ts';
import { committedTotal, createPipelineTopics, type PipelineTopics } from './kafka-fixtures.ts';
import { assertCorpusGraph, loadCorpus } from './knowledge-fixtures.ts';
import { type RuntimeProcess, runtimeEnvFor, spawnRuntime } from './runtime-process.ts';

const dev = requireDevEnv();
const modelDir = requireModelDir();

describe('extraction: corpus -> gateway -> ingest -> embed + extract (built-in) -> resolve (child processes)', () => {
  const cluster = uniqueName('xg');
  const corpus = loadCorpus({ atlas: uniqueName('xa'), borealis: uniqueName('xb') });
  const tenants = corpus.tenants;
  const keys = Object.fromEntries(tenants.map((t) => [t, `egk_${t}_secret`]));
  let t: PipelineTopics;
  let keysDir: string;
  let driver: Driver;
  const procs: RuntimeProcess[] = [];

  before(async () => {
    driver = testDriver(dev);
    t = await createPipelineTopics(dev.KAFKA_BROKERS, uniqueName('xgt'), { 'graph.resolve': 2 });
    keysDir = tenantKeysDir(keys);
    const port = await freePort();
    const common = runtimeEnvFor(dev, {
      ENGRAM_CLUSTER: cluster,
      ENGRAM_TOPIC_PREFIX: t.prefix,
      ENGRAM_MODEL_DIR: modelDir,
      ENGRAM_MODEL_VARIANT: 'int8',
    });
    procs.push(
      spawnRuntime('gateway', {
        ...common,
        ENGRAM_HTTP_PORT: String(port),
        ENGRAM_TENANT_KEYS_DIR: keysDir,
        ENGRAM_RATE_LIMIT_PER_SECOND: '100000',
        ENGRAM_RATE_LIMIT_BURST: '100000',
      }),
      spawnRuntime('ingest', common),
      spawnRuntime('embed', common),
      spawnRuntime('extract', common),
      spawnRuntime('resolve', common),
    );
    await Promise.all(procs.map((p) => p.waitForLog('running', 60_000)));
    for (const tenant of tenants) {
      const documents = corpus.documents
        .filter((d) => d.tenant === tenant)
        // The documents' own times order their statements (a later job closes an earlier one).
        .map((d) => ({ id: d.id, content: d.content, observedAt: new Date(d.extractedAt).toISOString() }));
      const res = await fetch(`http://127.0.0.1:${port}/v1/tenants/${tenant}/documents/batch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${keys[tenant]}` },
        body: JSON.stringify({ documents }),
      });
      assert.equal(res.status, 202, await res.text());
    }
    // One chunk per document, so one extraction each: resolve has committed them all.
    await eventually(
      'resolve committed an extraction of every document',
      async () =>
        (await committedTotal(t.admin, `${t.prefix}.resolve`, t.topic('graph.resolve'))) >=
        corpus.documents.length,
      { timeoutMs: 120_000, intervalMs: 250 },
    );
    await eventually(
      'every chunk embedded',
      async () => (await countEmbeddedChunks(driver, tenants)) >= corpus.documents.length,
      { timeoutMs: 60_000, intervalMs: 250 },
    );
  });

  after(async () => {
    await Promise.all(procs.map((p) => p.stop('SIGKILL')));
    await purgeTenants(dev, driver, cluster, tenants);
    await driver.close();
    await t?.cleanup();
    rmSync(keysDir, { recursive: true, force: true });
  });

  it('builds the graph the corpus describes: each recurring entity once per tenant, every fact, contradictions closed', async () => {
    await assertCorpusGraph(driver, corpus);
  });

  it('sends nothing to the dead-letter topic and keeps each tenant to its own nodes', async () => {
    const { records } = await driver.executeQuery(
      `MATCH (c:Chunk)-[:MENTIONS]->(e:Entity) WHERE c.tenantId IN $tenants AND c.tenantId <> e.tenantId
       RETURN count(*) AS crossed`,
      { tenants },
    );
    assert.equal(records[0]!.get('crossed'), 0, 'no chunk mentions another tenant’s entity');
    const offsets = await t.admin.fetchTopicOffsets(t.topic('dlq'));
    assert.equal(
      offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0),
      0,
      'no message dead-lettered',
    );
  });
});
