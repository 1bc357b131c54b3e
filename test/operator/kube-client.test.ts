// The operator's Kubernetes client against the real API server, through faults a network or a
// busy server causes: a watch that never answers, a stream cut inside a character, 429 Too Many
// Requests, and a client-side rate limit. And the liveness endpoint, which must be able to fail.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../operator/controller/logger.ts';
import { Manager } from '../../operator/controller/manager.ts';
import { OperatorMetrics } from '../../operator/controller/metrics.ts';
import { KubeApiError, KubeClient } from '../../operator/kube/client.ts';
import { Informer } from '../../operator/kube/informer.ts';
import { Types } from '../../operator/kube/resources.ts';
import { startApiFront } from '../support/api-front.ts';
import { requireDevEnv } from '../support/devenv.ts';
import { createNamespace, deleteNamespace } from '../support/kube.ts';
import { kubeconfigVia } from '../support/tcp-proxy.ts';
import { eventually, uniqueName } from '../support/wait.ts';

const env = requireDevEnv();
const kubeconfigText = readFileSync(env.KUBECONFIG, 'utf8');

describe('the Kubernetes client under faults', () => {
  const ns = uniqueName('e2e-client');
  const dir = mkdtempSync(join(tmpdir(), 'engram-client-'));
  const kubeconfigTo = (server: string) => {
    const file = join(dir, `kubeconfig-${Math.random().toString(36).slice(2)}`);
    writeFileSync(file, kubeconfigVia(kubeconfigText, server));
    return file;
  };
  before(async () => {
    await createNamespace(env, ns);
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await deleteNamespace(env, ns);
  });

  it('opening a watch that never answers times out instead of hanging', async () => {
    // Accepts the connection, never says a word (a hung proxy, a half-dead apiserver).
    const silent = net.createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const client = new KubeClient({
      kubeconfig: kubeconfigTo(`https://127.0.0.1:${(silent.address() as net.AddressInfo).port}`),
      timeoutMs: 1_500,
    });
    try {
      const started = Date.now();
      const outcome = await Promise.race([
        client
          .watch(
            Types.ConfigMap,
            ns,
            { resourceVersion: '0', timeoutSeconds: 60 },
            () => undefined,
            new AbortController().signal,
          )
          .then(
            () => 'returned',
            (err: Error) => `failed: ${err.message}`,
          ),
        new Promise<string>((r) => setTimeout(() => r('hung'), 10_000)),
      ]);
      assert.match(outcome, /^failed: .*timed out/);
      assert.ok(Date.now() - started < 5_000);
    } finally {
      client.close();
      silent.close();
    }
  });

  it('a watch stream cut inside multi-byte characters decodes them intact', async () => {
    const text = 'Grüße aus München, 東京 と 大阪, 🚀🧠 — ✓';
    const front = await startApiFront(env, { splitBodies: true });
    const client = new KubeClient({ kubeconfig: kubeconfigTo(front.url) });
    const admin = new KubeClient({ kubeconfig: env.KUBECONFIG });
    const informer = new Informer(client, Types.ConfigMap, { namespace: ns });
    informer.start();
    try {
      await informer.hasSynced;
      // Created after the list: it arrives through the watch, one byte per write.
      await admin.create(Types.ConfigMap, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'utf8', namespace: ns },
        data: { text },
      });
      const seen = await eventually('the ConfigMap through the watch', async () => informer.get(ns, 'utf8'));
      assert.equal((seen.data as { text: string }).text, text);
    } finally {
      await informer.stop();
      client.close();
      admin.close();
      await front.close();
    }
  });

  it('waits out 429 Too Many Requests as the server says (Retry-After), then succeeds', async () => {
    // Throttles the first two requests, as priority and fairness does under load.
    const front = await startApiFront(env, { throttleFirst: 2, retryAfterSeconds: 1 });
    const client = new KubeClient({ kubeconfig: kubeconfigTo(front.url) });
    try {
      const started = Date.now();
      const got = await client.get(Types.Namespace, undefined, ns);
      assert.equal(got.metadata.name, ns);
      assert.equal(front.throttled(), 2);
      assert.ok(Date.now() - started >= 1_500, 'it waited the Retry-After of each 429');
    } finally {
      client.close();
      await front.close();
    }
  });

  it('limits its own request rate (qps, burst)', async () => {
    const client = new KubeClient({ kubeconfig: env.KUBECONFIG, qps: 5, burst: 2 });
    try {
      const started = Date.now();
      await Promise.all(Array.from({ length: 7 }, () => client.get(Types.Namespace, undefined, ns)));
      // 2 at once, then 5 more at 5/s: at least ~1 s.
      assert.ok(Date.now() - started >= 900, `7 requests took ${Date.now() - started} ms`);
    } finally {
      client.close();
    }
  });

  it('/healthz fails when a watch makes no progress, instead of always answering ok', async () => {
    const client = new KubeClient({ kubeconfig: env.KUBECONFIG });
    const manager = new Manager({
      client,
      metrics: new OperatorMetrics(),
      log: createLogger('error'),
      namespaces: [ns],
      workersPerController: 1,
      resyncPeriodMs: 60_000,
    });
    const cache = manager.cache(Types.ConfigMap);
    assert.equal(manager.unhealthy(), undefined);
    (cache.informers[0] as { lastProgressAt: number }).lastProgressAt = performance.now() - 20 * 60_000;
    assert.match(manager.unhealthy() ?? '', /configmaps watch made no progress/);
    client.close();
  });

  it('errors keep the server reason', async () => {
    const client = new KubeClient({ kubeconfig: env.KUBECONFIG });
    try {
      await assert.rejects(
        client.get(Types.ConfigMap, ns, 'missing'),
        (e: unknown) => e instanceof KubeApiError && e.code === 404,
      );
    } finally {
      client.close();
    }
  });
});
