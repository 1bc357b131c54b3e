import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { WORKER_POOL_LAG_METRIC } from '../api/external-metrics.ts';
import { answerRequest, type ExternalMetricsApi } from './api.ts';
import { countedSource, EXTERNAL_METRIC_READS, workerPoolLagSource } from './lag-source.ts';

const observedAt = new Date('2026-12-03T06:00:00Z');
const api: ExternalMetricsApi = {
  metricNames: [WORKER_POOL_LAG_METRIC],
  source: workerPoolLagSource((ns, pool) =>
    ns === 'team-a' && pool === 'embed' ? { total: 1200, partitions: 6, observedAt } : undefined,
  ),
};
const base = '/apis/external.metrics.k8s.io/v1beta1';
const lag = (ns: string, selector: string) =>
  `${base}/namespaces/${ns}/${WORKER_POOL_LAG_METRIC}?labelSelector=${encodeURIComponent(selector)}`;

describe('External Metrics API answers', () => {
  it('discovery: the group, its version, and the lag metric as a namespaced resource', async () => {
    const groups = await answerRequest(api, 'GET', '/apis');
    assert.equal(groups.status, 200);
    assert.deepEqual(
      (groups.body as { groups: { name: string }[] }).groups.map((g) => g.name),
      ['external.metrics.k8s.io'],
    );
    const group = await answerRequest(api, 'GET', '/apis/external.metrics.k8s.io/');
    assert.equal(
      (group.body as { preferredVersion: { groupVersion: string } }).preferredVersion.groupVersion,
      'external.metrics.k8s.io/v1beta1',
    );
    const list = (await answerRequest(api, 'GET', base)).body as {
      kind: string;
      resources: { name: string; namespaced: boolean; kind: string }[];
    };
    assert.equal(list.kind, 'APIResourceList');
    assert.deepEqual(
      list.resources.map((r) => [r.name, r.namespaced, r.kind]),
      [[WORKER_POOL_LAG_METRIC, true, 'ExternalMetricValueList']],
    );
  });

  it('OpenAPI documents are empty but valid (the aggregator merges them)', async () => {
    const v2 = await answerRequest(api, 'GET', '/openapi/v2');
    assert.equal(v2.status, 200);
    assert.equal((v2.body as { swagger: string }).swagger, '2.0');
    assert.deepEqual((await answerRequest(api, 'GET', '/openapi/v3')).body, { paths: {} });
  });

  it("the pool's lag as an ExternalMetricValueList", async () => {
    const a = await answerRequest(api, 'GET', lag('team-a', 'engram.dev/workerpool=embed'));
    assert.equal(a.status, 200);
    assert.deepEqual(a.body, {
      kind: 'ExternalMetricValueList',
      apiVersion: 'external.metrics.k8s.io/v1beta1',
      metadata: {},
      items: [
        {
          metricName: WORKER_POOL_LAG_METRIC,
          metricLabels: { 'engram.dev/workerpool': 'embed' },
          timestamp: '2026-12-03T06:00:00.000Z',
          value: '1200',
        },
      ],
    });
  });

  it('no reading (unknown pool, other namespace, extra label not matching) is an empty list, not a zero', async () => {
    for (const url of [
      lag('team-a', 'engram.dev/workerpool=query'),
      lag('team-b', 'engram.dev/workerpool=embed'),
      lag('team-a', 'engram.dev/workerpool=embed,tier=gpu'),
    ]) {
      const a = await answerRequest(api, 'GET', url);
      assert.equal(a.status, 200, url);
      assert.deepEqual((a.body as { items: unknown[] }).items, [], url);
    }
  });

  const errors: [string, string, string, number, RegExp][] = [
    [
      'unknown metric',
      'GET',
      `${base}/namespaces/team-a/cpu?labelSelector=a%3Db`,
      404,
      /"cpu" is not served here/,
    ],
    ['bad selector', 'GET', lag('team-a', 'engram.dev/workerpool in (embed'), 400, /unbalanced parentheses/],
    ['selector without the pool', 'GET', lag('team-a', 'app=embed'), 400, /must name the pool/],
    ['no selector', 'GET', `${base}/namespaces/team-a/${WORKER_POOL_LAG_METRIC}`, 400, /must name the pool/],
    ['bad namespace', 'GET', lag('Team_A', 'engram.dev/workerpool=embed'), 400, /not a namespace name/],
    ['a write', 'POST', lag('team-a', 'engram.dev/workerpool=embed'), 405, /read-only/],
    ['other path', 'GET', '/apis/metrics.k8s.io/v1beta1', 404, /is not a path of/],
    ['bad escape', 'GET', `${base}/namespaces/team-a/%E0%A4%A`, 400, /percent-encoding/],
  ];
  for (const [what, method, url, code, message] of errors)
    it(`${what} is a ${code} Status that says why`, async () => {
      const a = await answerRequest(api, method, url);
      assert.equal(a.status, code);
      const body = a.body as { kind: string; code: number; message: string };
      assert.equal(body.kind, 'Status');
      assert.equal(body.code, code);
      assert.match(body.message, message);
    });

  it('a failing source is a 500 that names the metric and namespace', async () => {
    const failing: ExternalMetricsApi = {
      metricNames: [WORKER_POOL_LAG_METRIC],
      source: () => Promise.reject(new Error('broker unreachable')),
    };
    const a = await answerRequest(failing, 'GET', lag('team-a', 'engram.dev/workerpool=embed'));
    assert.equal(a.status, 500);
    assert.match(
      (a.body as { message: string }).message,
      /cannot read engram_workerpool_consumer_lag in team-a: broker unreachable/,
    );
  });
});

describe('countedSource', () => {
  it('counts each answered read by namespace and metric, a refused selector not', async () => {
    const registry = new Registry();
    const counted: ExternalMetricsApi = { ...api, source: countedSource(api.source, registry) };
    await answerRequest(counted, 'GET', lag('team-a', 'engram.dev/workerpool=embed'));
    await answerRequest(counted, 'GET', lag('team-a', 'engram.dev/workerpool=embed'));
    await answerRequest(counted, 'GET', lag('team-b', 'engram.dev/workerpool=embed'));
    const refused = await answerRequest(counted, 'GET', lag('team-a', 'app=embed'));
    assert.equal(refused.status, 400);
    const text = await registry.getSingleMetricAsString(EXTERNAL_METRIC_READS);
    assert.match(text, /namespace="team-a",metric="engram_workerpool_consumer_lag"\} 2/);
    assert.match(text, /namespace="team-b",metric="engram_workerpool_consumer_lag"\} 1/);
  });
});
