// End to end: the operator's External Metrics API behind the real kube-apiserver's aggregator,
// read by the real controller-manager's HPA controller, which scales a Deployment on kwok nodes
// on real Kafka consumer-group lag (produced with no consumer running, drained by committing).
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WORKER_POOL_LABEL, WORKER_POOL_LAG_METRIC } from '../../operator/api/external-metrics.ts';
import type { KubeObject } from '../../operator/kube/client.ts';
import { Types } from '../../operator/kube/resources.ts';
import { createServingCert } from '../../operator/metrics-api/serving-cert.ts';
import { ensureServingSecret } from '../../operator/metrics-api/serving-secret.ts';
import { type DevEnv, repoRoot, requireDevEnv } from '../support/devenv.ts';
import {
  addLocalAddress,
  apiServiceAvailable,
  applyShippedApiService,
  ensureMetricsNamespace,
  type LagScenario,
  METRICS_SERVICE,
  metricsAddress,
  produceMessages,
  type RoutedMetricsApi,
  removeLocalAddress,
  removeRoute,
  routeServiceTo,
  startLagScenario,
} from '../support/external-metrics.ts';
import {
  createNamespace,
  deleteNamespace,
  installCrds,
  kubeClient,
  kubectl,
  serviceAccountKubeconfig,
} from '../support/kube.ts';
import { freePort, type OperatorProcess, startOperator } from '../support/operator.ts';
import { eventually, uniqueName } from '../support/wait.ts';

const METRICS_RBAC = join(repoRoot, 'config/rbac/external-metrics.yaml');
/** The cluster-wide bindings of config/rbac/external-metrics.yaml go with the test. */
const removeMetricsRbac = (env: DevEnv) => kubectl(env, 'delete', '--ignore-not-found', '-f', METRICS_RBAC);
const PARTITIONS = 3;
const TARGET_PER_REPLICA = 10;
const SCALE_DOWN_PERIOD_S = 5;

describe('External Metrics API and lag autoscaling through the real API server and HPA controller', () => {
  const env = requireDevEnv();
  const client = kubeClient(env);
  let world: LagScenario;
  let ns: string;
  let pool: string;
  let api: RoutedMetricsApi;
  const lagPath = (selector: string, metric = WORKER_POOL_LAG_METRIC) =>
    `/apis/external.metrics.k8s.io/v1beta1/namespaces/${ns}/${metric}?labelSelector=${encodeURIComponent(selector)}`;
  /** Every spec.replicas the Deployment had, with when it was first seen. */
  const replicaHistory: { replicas: number; at: number }[] = [];
  let watching: NodeJS.Timeout | undefined;

  before(async () => {
    const auth = await client.get(Types.ConfigMap, 'kube-system', 'extension-apiserver-authentication');
    if (!(auth as { data?: Record<string, string> }).data?.['requestheader-client-ca-file'])
      throw new Error(
        'kube-apiserver runs without the aggregation flags (requestheader CA, proxy client cert): restart the local environment (make devenv-down && make devenv)',
      );
    world = await startLagScenario(env, client, { prefix: 'e2e-xm', partitions: PARTITIONS, pollMs: 250 });
    ({ namespace: ns, pool, api } = world);
    await kubectl(env, 'apply', '--server-side', '-f', METRICS_RBAC);
  });

  after(async () => {
    if (watching) clearInterval(watching);
    await world?.close();
    await removeMetricsRbac(env);
    client.close();
  });

  it('discovery lists the lag metric; an unknown metric is a 404 and a bad selector a 400 that says what to write', async () => {
    const resources = JSON.parse(await kubectl(env, 'get', '--raw', '/apis/external.metrics.k8s.io/v1beta1'));
    assert.deepEqual(
      resources.resources.map((r: { name: string }) => r.name),
      [WORKER_POOL_LAG_METRIC],
    );
    await assert.rejects(
      kubectl(env, 'get', '--raw', lagPath(`${WORKER_POOL_LABEL}=${pool}`, 'cpu_seconds')),
      (err: Error) => {
        assert.match(err.message, /NotFound.*"cpu_seconds" is not served here/);
        return true;
      },
    );
    await assert.rejects(
      kubectl(env, 'get', '--raw', lagPath('engram.dev/workerpool in (embed')),
      (err: Error) => {
        assert.match(err.message, /BadRequest.*unbalanced parentheses/);
        return true;
      },
    );
    await assert.rejects(kubectl(env, 'get', '--raw', lagPath('app=embed')), (err: Error) => {
      assert.match(err.message, /BadRequest.*the selector must name the pool/);
      return true;
    });
  });

  it('nothing but the front proxy reaches the server: no client certificate, or one the cluster CA signed, is a 401', async () => {
    const pki = join(env.ENGRAM_DEVENV_STATE!, 'pki');
    const call = (extra: https.RequestOptions) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = https.request(
          {
            host: api.address,
            port: api.port,
            path: lagPath(`${WORKER_POOL_LABEL}=${pool}`),
            servername: 'engram-operator-external-metrics.engram-system.svc',
            rejectUnauthorized: false,
            headers: { 'X-Remote-User': 'system:masters-impostor' },
            ...extra,
          },
          (res) => {
            let body = '';
            res.on('data', (c) => {
              body += c;
            });
            res.on('end', () => resolve({ status: res.statusCode!, body }));
          },
        );
        req.on('error', reject);
        req.end();
      });
    const anonymous = await call({});
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.body, /no client certificate/);
    const wrongCa = await call({
      cert: readFileSync(join(pki, 'admin.crt')),
      key: readFileSync(join(pki, 'admin.key')),
    });
    assert.equal(wrongCa.status, 401);
    assert.match(wrongCa.body, /not signed by the requestheader CA/);
    const health = await call({ path: '/healthz' });
    assert.equal(health.status, 200);
  });

  it("the HPA controller's ServiceAccount may read the metric (config/rbac), another ServiceAccount may not", async () => {
    const asHpa = JSON.parse(
      await kubectl(
        env,
        'get',
        '--raw',
        lagPath(`${WORKER_POOL_LABEL}=${pool}`),
        '--as=system:serviceaccount:kube-system:horizontal-pod-autoscaler',
      ),
    );
    assert.equal(asHpa.kind, 'ExternalMetricValueList');
    await assert.rejects(
      kubectl(
        env,
        'get',
        '--raw',
        lagPath(`${WORKER_POOL_LABEL}=${pool}`),
        `--as=system:serviceaccount:${ns}:default`,
      ),
      /Forbidden/,
    );
  });

  it('the HPA scales the Deployment up within 30 s of the lag crossing its target, never beyond the partitions', async () => {
    await world.scalePool({
      target: TARGET_PER_REPLICA,
      scaleDownPodsPerPeriod: 1,
      scaleDownPeriodSeconds: SCALE_DOWN_PERIOD_S,
    });
    watching = setInterval(() => {
      world
        .replicas()
        .then((replicas) => {
          if (replicaHistory.at(-1)?.replicas !== replicas) replicaHistory.push({ replicas, at: Date.now() });
        })
        .catch(() => undefined);
    }, 200);
    // The HPA read the metric at 0 lag (the pipeline works before anything is asked of it).
    await eventually(
      'the HPA reading a lag of 0',
      async () => {
        const hpa = await client.get(Types.HorizontalPodAutoscaler, ns, pool);
        const m = (
          hpa.status as { currentMetrics?: { external?: { current?: { averageValue?: string } } }[] }
        )?.currentMetrics?.[0]?.external?.current?.averageValue;
        return m === '0';
      },
      { timeoutMs: 30_000 },
    );
    const messages = 4 * TARGET_PER_REPLICA + 5;
    await produceMessages(env, world.topic, messages);
    const crossed = await eventually('the lag reading crossing the target', async () => {
      const r = await world.lag.poll();
      return r.total > TARGET_PER_REPLICA ? Date.now() : undefined;
    });
    const raw = JSON.parse(await kubectl(env, 'get', '--raw', lagPath(`${WORKER_POOL_LABEL}=${pool}`)));
    assert.equal(raw.items[0].value, String(messages));
    assert.deepEqual(raw.items[0].metricLabels, { [WORKER_POOL_LABEL]: pool });
    const scaled = await eventually(
      'the Deployment scaled above 1',
      async () => replicaHistory.find((h) => h.replicas > 1 && h.at >= crossed - 1000)?.at,
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    await eventually(
      'the Deployment at the partition count',
      async () => replicaHistory.at(-1)?.replicas === PARTITIONS,
      {
        timeoutMs: 20_000,
      },
    );
    console.log(
      `# lag crossed the target -> scaled up: ${((scaled - crossed) / 1000).toFixed(1)} s (HPA sync period 5 s)`,
    );
    assert.ok(scaled - crossed <= 30_000);
    // ceil(45 / 10) = 5 replicas wanted; a few more syncs must not go past the partitions.
    await new Promise((r) => setTimeout(r, 6_000));
    assert.ok(
      Math.max(...replicaHistory.map((h) => h.replicas)) <= PARTITIONS,
      JSON.stringify(replicaHistory),
    );
  });

  it('after the group commits, the HPA scales back down one replica per period (its behaviour) to 1', async () => {
    const from = replicaHistory.length;
    await world.lag.drain();
    await eventually('the Deployment back at 1 replica', async () => replicaHistory.at(-1)?.replicas === 1, {
      timeoutMs: 45_000,
    });
    const down = replicaHistory.slice(from);
    assert.deepEqual(
      down.map((h) => h.replicas),
      [2, 1],
      `one replica at a time per the scaleDown policy: ${JSON.stringify(replicaHistory)}`,
    );
    // 1 Pod per 5 s: the second step waits out the period (HPA syncs every 5 s, so >= ~4 s).
    assert.ok(down[1]!.at - down[0]!.at >= (SCALE_DOWN_PERIOD_S - 1) * 1000, JSON.stringify(down));
  });
});

describe('the operator process serves it (--external-metrics-bind-address): two replicas, one serving certificate', () => {
  const env = requireDevEnv();
  const client = kubeClient(env);
  const ns = uniqueName('e2e-xmop');
  const address = metricsAddress(env);
  const ops: OperatorProcess[] = [];

  const dir = mkdtempSync(join(tmpdir(), 'engram-xm-'));
  let kubeconfig: string;

  before(async () => {
    await installCrds(env);
    await createNamespace(env, ns);
    // The replicas run as the operator's ServiceAccount with exactly the shipped RBAC.
    await kubectl(env, 'apply', '--server-side', '-f', join(repoRoot, 'config/rbac'));
    kubeconfig = await serviceAccountKubeconfig(env, 'engram-system', 'engram-operator', dir);
    await addLocalAddress(address);
    await ensureMetricsNamespace(client);
    await applyShippedApiService(env);
  });

  after(async () => {
    await Promise.all(ops.map((op) => op.stop()));
    await removeRoute(client);
    await removeLocalAddress(address);
    await deleteNamespace(env, ns);
    await removeMetricsRbac(env);
    rmSync(dir, { recursive: true, force: true });
    client.close();
  });

  it('the shipped APIService and Service are valid (server-side dry run)', async () => {
    const out = await kubectl(
      env,
      'apply',
      '--server-side',
      '--dry-run=server',
      '-f',
      join(repoRoot, 'config/external-metrics'),
    );
    assert.match(out, /apiservice.*v1beta1\.external\.metrics\.k8s\.io serverside-applied/);
    assert.match(out, /service\/engram-operator-external-metrics serverside-applied/);
  });

  it('the serving Secret: a certificate for other names is replaced, a current one kept', async () => {
    const hosts = ['svc-a.team.svc'];
    const stale = createServingCert(['someone-else.svc']);
    await client.create(Types.Secret, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'xm-tls', namespace: ns },
      type: 'kubernetes.io/tls',
      data: {
        'tls.crt': Buffer.from(stale.cert).toString('base64'),
        'tls.key': Buffer.from(stale.key).toString('base64'),
      },
    } as KubeObject);
    const renewed = await ensureServingSecret(client, ns, 'xm-tls', hosts);
    assert.notEqual(renewed.cert, stale.cert);
    assert.ok(new X509Certificate(renewed.cert).checkHost('svc-a.team.svc'));
    const kept = await ensureServingSecret(client, ns, 'xm-tls', hosts);
    assert.equal(kept.cert, renewed.cert);
  });

  it('both replicas start at once, agree on one Secret, put its CA in the APIService, and answer through the API server', async () => {
    const ports = [await freePort()];
    while (ports.length < 2) {
      const p = await freePort();
      if (p !== ports[0]) ports.push(p);
    }
    ops.push(
      ...(await Promise.all(
        ports.map((port) =>
          startOperator(
            { ...env, KUBECONFIG: kubeconfig },
            ['--no-leader-elect', '--namespaces', ns, `--external-metrics-bind-address=${address}:${port}`],
            { waitReady: false },
          ),
        ),
      )),
    );
    // Two processes booting at once on a loaded machine: more time than startOperator's default.
    for (const op of ops)
      await eventually(
        'operator ready',
        async () => {
          if (op.proc.exitCode !== null) throw new Error(`operator exited: ${op.logs.slice(-20).join('\n')}`);
          return (await fetch(`http://127.0.0.1:${op.healthPort}/readyz`)).ok;
        },
        { timeoutMs: 90_000 },
      );
    await routeServiceTo(client, address, ...ports);
    await apiServiceAvailable(client);
    const secret = await client.get(Types.Secret, METRICS_SERVICE.namespace, `${METRICS_SERVICE.name}-tls`);
    const apiService = await client.get(Types.APIService, undefined, 'v1beta1.external.metrics.k8s.io');
    const caBundle = (apiService.spec as { caBundle: string }).caBundle;
    assert.equal(
      Buffer.from(caBundle, 'base64').toString(),
      Buffer.from(
        (secret as unknown as { data: Record<string, string> }).data['tls.crt']!,
        'base64',
      ).toString(),
    );
    // The aggregator picks an endpoint per request: every answer verifying means both serve the one certificate.
    for (let i = 0; i < 8; i++) {
      const list = JSON.parse(
        await kubectl(
          env,
          'get',
          '--raw',
          `/apis/external.metrics.k8s.io/v1beta1/namespaces/${ns}/${WORKER_POOL_LAG_METRIC}?labelSelector=${encodeURIComponent(`${WORKER_POOL_LABEL}=nothing-measured`)}`,
        ),
      );
      assert.deepEqual(list.items, [], 'no reading of a pool is no item (the HPA holds its replicas)');
    }
    for (const op of ops)
      assert.equal(
        await op.counter('engram_operator_kube_api_calls_total', { code: '403' }),
        0,
        'never forbidden',
      );
    for (const op of ops)
      assert.ok(
        op.logs.some((l) => l.includes('serving the External Metrics API')),
        op.logs.join('\n'),
      );
    assert.ok(!ops.some((op) => op.logs.join('\n').includes('BEGIN')), 'no key or certificate in a log line');
  });
});

describe('the operator with --external-metrics-bind-address but no APIService installed', () => {
  const env = requireDevEnv();

  it('exits at start with what to apply, instead of serving a group nobody routes to', async () => {
    const client = kubeClient(env);
    await client.delete(Types.APIService, undefined, 'v1beta1.external.metrics.k8s.io');
    client.close();
    const op = await startOperator(
      env,
      ['--no-leader-elect', '--namespaces', 'default', '--external-metrics-bind-address=127.0.0.1:0'],
      {
        waitReady: false,
      },
    );
    const code = await eventually('the operator exiting', async () => op.proc.exitCode ?? undefined, {
      timeoutMs: 60_000,
    });
    assert.equal(code, 1);
    assert.match(
      op.logs.join('\n'),
      /APIService v1beta1\.external\.metrics\.k8s\.io is not installed: kubectl apply --server-side -f config\/external-metrics\//,
    );
  });
});
