// The Grafana dashboard (config/grafana/engram-dashboard.json) and the chart's PrometheusRule use
// only metric names the code exports: runtime/contract/metrics.ts, the runtime's and the
// operator's real registries (default process metrics included), with _bucket/_sum/_count only
// on histograms. Names still planned (PLANNED_METRICS) are allowed and listed in the output.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { WORKER_POOL_LAG_METRIC } from '../../operator/api/external-metrics.ts';
import { OperatorMetrics } from '../../operator/controller/metrics.ts';
import { METRICS, PLANNED_METRICS } from '../../runtime/contract/metrics.ts';
import { createRuntimeMetrics } from '../../runtime/observability/metrics.ts';
import { repoRoot } from '../support/devenv.ts';
import { fullValues, renderChart } from '../support/helm.ts';

const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'];
// PromQL words that look like names: functions, aggregations, keywords, and Prometheus' own `up`.
const PROMQL_WORDS = new Set(
  'sum,min,max,avg,count,rate,irate,increase,delta,deriv,changes,histogram_quantile,label_values,by,without,on,ignoring,group_left,group_right,and,or,unless,bool,offset,vector,absent,humanize,le'.split(
    ',',
  ),
);

/** Source files under runtime/ (role modules register their own metrics). */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') && !p.endsWith('.test.ts') ? [p] : [];
  });
}

async function exportedNames(): Promise<{ names: Set<string>; planned: Set<string> }> {
  const histograms = new Set<string>();
  const plain = new Set<string>([...Object.values(METRICS), WORKER_POOL_LAG_METRIC]);
  for (const registry of [createRuntimeMetrics().registry, new OperatorMetrics().registry]) {
    for (const m of await registry.getMetricsAsJSON())
      (String(m.type) === 'histogram' ? histograms : plain).add(m.name);
  }
  // Contract names a role module registers as a Histogram (new Histogram({ name: METRICS.x ...).
  const text = sources(join(repoRoot, 'runtime'))
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n');
  for (const [key, name] of Object.entries(METRICS))
    if (new RegExp(`new Histogram\\(\\{\\s*name:\\s*METRICS\\.${key}\\b`).test(text)) histograms.add(name);
  const planned = new Set<string>(Object.values(PLANNED_METRICS));
  const names = new Set([...plain, ...histograms, ...planned]);
  for (const h of [...histograms, PLANNED_METRICS.queryDuration])
    for (const s of HISTOGRAM_SUFFIXES) names.add(h + s);
  return { names, planned };
}

/** Metric names in a PromQL expression: identifiers outside label matchers, strings and ranges. */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '{}')
    .replace(/\[[^\]]*\]/g, '[]')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '$1()');
  return [...stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)]
    .map((m) => m[0])
    .filter((w) => !PROMQL_WORDS.has(w) && !/^[0-9]/.test(w));
}

function dashboardExprs(): Array<{ where: string; expr: string }> {
  const dash = JSON.parse(readFileSync(join(repoRoot, 'config/grafana/engram-dashboard.json'), 'utf8')) as {
    panels: Array<{ title: string; targets?: Array<{ expr: string }> }>;
    templating: { list: Array<{ name: string; definition?: string }> };
  };
  return [
    ...dash.panels.flatMap((p) =>
      (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr })),
    ),
    ...dash.templating.list
      .filter((v) => v.definition)
      .map((v) => ({ where: `variable ${v.name}`, expr: v.definition!.replace(/,\s*[a-z_]+\)$/, ')') })),
  ];
}

describe('metric names of the dashboard and the alerts', () => {
  it('parses the names out of PromQL (and only the names)', () => {
    assert.deepEqual(
      metricNames(
        'histogram_quantile(0.99, sum by (le, route) (rate(engram_http_request_duration_seconds_bucket{namespace=~"$namespace"}[$__rate_interval]))) / on (pod) group_left() engram_operator_leader',
      ),
      ['engram_http_request_duration_seconds_bucket', 'engram_operator_leader'],
    );
  });

  it('the dashboard has the panels the operator needs and every expression uses exported names', async (t) => {
    const { names, planned } = await exportedNames();
    const exprs = dashboardExprs();
    const titles = exprs.map((e) => e.where).join('\n');
    for (const want of [
      'Ingest rate',
      'Query latency',
      'Lag per pool',
      'Dead-letter rate',
      'Cache hit rate',
      'Reconcile errors',
    ])
      assert.match(titles, new RegExp(want), `a panel "${want}"`);
    const unknown = exprs.flatMap((e) =>
      metricNames(e.expr)
        .filter((n) => !names.has(n))
        .map((n) => `${e.where}: ${n}`),
    );
    assert.deepEqual(unknown, [], 'names no code exports');
    const usedPlanned = [
      ...new Set(
        exprs
          .flatMap((e) => metricNames(e.expr))
          .filter((n) => planned.has(n) || [...planned].some((p) => n.startsWith(`${p}_`))),
      ),
    ];
    t.diagnostic(`planned, not exported yet: ${usedPlanned.join(', ') || 'none'}`);
  });

  it('a histogram suffix on a counter or gauge is refused (the check can fail)', async () => {
    const { names } = await exportedNames();
    assert.ok(names.has('engram_operator_reconcile_duration_seconds_bucket'));
    assert.ok(!names.has('engram_cache_hits_total_bucket'));
    assert.ok(!names.has('engram_consumer_lag_count'));
  });

  it("the chart's PrometheusRule uses exported names (and Prometheus' own up)", async () => {
    const { names } = await exportedNames();
    const docs = await renderChart(['-f', fullValues]);
    const rule = docs.find((d) => d.kind === 'PrometheusRule')!;
    const rules = (
      rule.spec as { groups: Array<{ rules: Array<{ alert?: string; record?: string; expr: string }> }> }
    ).groups.flatMap((g) => g.rules);
    assert.ok(rules.length >= 6);
    const unknown = rules.flatMap((r) =>
      metricNames(r.expr)
        .filter((n) => n !== 'up' && !names.has(n))
        .map((n) => `${r.alert ?? r.record}: ${n}`),
    );
    assert.deepEqual(unknown, [], 'alerts on names no code exports');
  });
});
