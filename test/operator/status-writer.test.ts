// The one status writer against the real API server: a reconcile that runs right after a status
// write, from an informer cache that has not seen the write yet, computes from the written status
// (no 409, no repeated write), and the cache is the truth again as soon as it moves on.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type StatusWithConditions, StatusWriter } from '../../operator/controller/status-writer.ts';
import { isConflict, type KubeObject } from '../../operator/kube/client.ts';
import { EventRecorder } from '../../operator/kube/events.ts';
import { Types } from '../../operator/kube/resources.ts';
import { requireDevEnv } from '../support/devenv.ts';
import { createNamespace, deleteNamespace, installCrds, kubeClient } from '../support/kube.ts';
import { uniqueName } from '../support/wait.ts';

const env = requireDevEnv();
/** A MemoryCluster status in the writer's terms (it writes any status with conditions). */
const status = (topicPrefix: string) => ({ observedGeneration: 1, topicPrefix }) as StatusWithConditions;

describe('StatusWriter: a reconcile after its own write sees that write', () => {
  const ns = uniqueName('e2e-status');
  const client = kubeClient(env);
  const events = new EventRecorder(client, 'status-writer-test', () => undefined);
  let created: KubeObject;
  before(async () => {
    await installCrds(env);
    await createNamespace(env, ns);
    created = await client.create(Types.MemoryCluster, {
      apiVersion: 'engram.dev/v1alpha1',
      kind: 'MemoryCluster',
      metadata: { name: 'c', namespace: ns },
      spec: {
        kafka: { external: { bootstrapServers: ['127.0.0.1:1'] } },
        neo4j: { managed: {} },
        redis: { managed: {} },
      },
    });
  });
  after(async () => {
    await deleteNamespace(env, ns);
    client.close();
  });

  it('carries its writes over a stale cache, and lets go once the cache moves on', async () => {
    const writer = new StatusWriter(client, events, Types.MemoryCluster);
    // What an informer still holds after our writes: the object as created.
    const stale = structuredClone(created);

    const first = writer.view(stale);
    assert.equal(first.metadata.resourceVersion, created.metadata.resourceVersion, 'nothing written yet');
    await writer.write(first, status('one'));

    // The next reconcile starts from the stale cache: it must see 'one' at the new version.
    const second = writer.view(stale);
    assert.equal((second.status as { topicPrefix?: string }).topicPrefix, 'one');
    assert.notEqual(second.metadata.resourceVersion, created.metadata.resourceVersion);
    assert.equal(second.metadata.name, 'c');
    assert.deepEqual(second.spec, created.spec, 'spec and metadata come from the cache');
    // So an unchanged status costs no write, and a changed one is not refused with 409.
    const before = second.metadata.resourceVersion;
    assert.equal(await writer.write(second, status('one')), true);
    assert.equal(second.metadata.resourceVersion, before, 'no write for an unchanged status');
    await writer.write(second, status('two'));

    // Two writes on, a cache at either older version still reads the latest write.
    const third = writer.view(stale);
    assert.equal((third.status as { topicPrefix?: string }).topicPrefix, 'two');
    const live = await client.get(Types.MemoryCluster, ns, 'c');
    assert.equal(third.metadata.resourceVersion, live.metadata.resourceVersion);

    // Without the writer's view, the stale copy is refused: the case the view exists for.
    await assert.rejects(
      client.replaceStatus(Types.MemoryCluster, { ...structuredClone(stale), status: { topicPrefix: 'x' } }),
      (err: unknown) => isConflict(err),
    );

    // Someone else writes: the cache's newer object is the truth, not our remembered write.
    const patched = await client.mergePatch(Types.MemoryCluster, ns, 'c', {
      metadata: { labels: { edited: 'yes' } },
    });
    const fourth = writer.view(patched);
    assert.equal(fourth.metadata.resourceVersion, patched.metadata.resourceVersion);
    assert.equal(fourth.metadata.labels?.edited, 'yes');
    // And the memory of our write is gone: even the old stale copy now reads as it is.
    assert.equal(writer.view(stale).metadata.resourceVersion, created.metadata.resourceVersion);
  });

  it('a view is a private copy: changing it leaves the cached object alone', () => {
    const writer = new StatusWriter(client, events, Types.MemoryCluster);
    const cached = structuredClone(created);
    const view = writer.view(cached);
    view.metadata.labels = { changed: 'yes' };
    (view as { status?: unknown }).status = { topicPrefix: 'changed' };
    assert.equal(cached.metadata.labels?.changed, undefined);
    assert.equal(cached.status, undefined);
  });
});
