// The Helm chart charts/engram-operator: lints, renders the expected objects for default and full
// values, refuses bad values through values.schema.json, ships exactly the repo's CRDs and RBAC,
// and installs into the local control plane where the operator's pods become Ready on kwok nodes.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { KubeObject } from '../../operator/kube/client.ts';
import { Types } from '../../operator/kube/resources.ts';
import { repoRoot, requireDevEnv } from '../support/devenv.ts';
import { chartDir, fullValues, helm, renderChart } from '../support/helm.ts';
import { deleteNamespace, kubeClient, kubectl } from '../support/kube.ts';
import { eventually, uniqueName } from '../support/wait.ts';

const exec = promisify(execFile);
const kinds = (docs: KubeObject[]) => docs.map((d) => d.kind).sort();
const one = (docs: KubeObject[], kind: string, suffix = '') => {
  const found = docs.filter((d) => d.kind === kind && d.metadata.name.endsWith(suffix));
  assert.equal(found.length, 1, `one ${kind} named *${suffix}`);
  return found[0]!;
};
interface Container {
  args: string[];
  image: string;
  securityContext: Record<string, unknown>;
  readinessProbe: { httpGet: { path: string } };
  livenessProbe: { httpGet: { path: string } };
  resources: { requests: Record<string, string>; limits: Record<string, string> };
}
const podSpec = (d: KubeObject) =>
  (d.spec as { template: { spec: Record<string, unknown> & { containers: Container[] } } }).template.spec;

describe('the Helm chart, offline', () => {
  it('lints with default and with full values', async () => {
    for (const args of [[], ['-f', fullValues]]) {
      const r = await helm(['lint', '--strict', chartDir, ...args]);
      assert.equal(r.code, 0, `helm lint ${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    }
  });

  it('renders the operator with default values: hardened, leader-elected, probed, least objects', async () => {
    const docs = await renderChart(['--include-crds']);
    assert.deepEqual(kinds(docs), [
      'ClusterRole',
      'ClusterRoleBinding',
      'CustomResourceDefinition',
      'CustomResourceDefinition',
      'CustomResourceDefinition',
      'Deployment',
      'PodDisruptionBudget',
      'Role',
      'RoleBinding',
      'Service',
      'ServiceAccount',
    ]);
    const deployment = one(docs, 'Deployment');
    assert.equal((deployment.spec as { replicas: number }).replicas, 2);
    const spec = podSpec(deployment);
    const c = spec.containers[0]!;
    assert.equal(c.image, 'ghcr.io/engram-dev/engram-operator:0.1.0', 'image from values, tag = appVersion');
    assert.ok(c.args.includes('--leader-election-namespace=$(POD_NAMESPACE)'));
    assert.ok(!c.args.includes('--no-leader-elect'));
    assert.ok(
      !c.args.some((a) => a.startsWith('--external-metrics')),
      'no flag for the metrics server by default',
    );
    assert.equal(c.readinessProbe.httpGet.path, '/readyz');
    assert.equal(c.livenessProbe.httpGet.path, '/healthz');
    assert.deepEqual(c.securityContext, {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
    });
    assert.equal(
      (spec.securityContext as { seccompProfile: { type: string } }).seccompProfile.type,
      'RuntimeDefault',
    );
    assert.ok(c.resources.requests.cpu && c.resources.limits.memory);
    assert.equal(spec.serviceAccountName, 'engram-engram-operator');
    const binding = one(docs, 'ClusterRoleBinding');
    assert.deepEqual((binding as { subjects?: unknown }).subjects, [
      { kind: 'ServiceAccount', name: 'engram-engram-operator', namespace: 'engram-system' },
    ]);
    assert.equal(
      one(docs, 'Role').metadata.namespace,
      'engram-system',
      'the leader Lease Role is namespaced',
    );
  });

  it('renders every optional part with full values', async () => {
    const docs = await renderChart(['-f', fullValues]);
    for (const kind of ['ServiceMonitor', 'PrometheusRule', 'APIService'])
      assert.ok(kinds(docs).includes(kind), `${kind} rendered`);
    assert.equal(docs.filter((d) => d.kind === 'Service').length, 2, 'metrics and external-metrics Services');
    const api = one(docs, 'APIService');
    assert.equal(api.metadata.name, 'v1beta1.external.metrics.k8s.io');
    assert.equal(
      (api.spec as { service: { name: string } }).service.name,
      one(docs, 'Service', '-external-metrics').metadata.name,
    );
    const spec = podSpec(one(docs, 'Deployment'));
    assert.match(spec.containers[0]!.image, /@sha256:0123/);
    assert.ok(spec.containers[0]!.args.includes('--namespaces=memory-a,memory-b'));
    assert.ok(spec.containers[0]!.args.includes('--external-metrics-bind-address=:6443'));
    assert.deepEqual(spec.nodeSelector, { 'kubernetes.io/os': 'linux' });
    assert.equal((spec.tolerations as unknown[]).length, 1);
    assert.ok(
      (spec.affinity as { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: unknown } })
        .podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution,
    );
    const alerts = (
      one(docs, 'PrometheusRule').spec as { groups: Array<{ rules: Array<{ alert?: string }> }> }
    ).groups[0]!.rules.map((r) => r.alert);
    for (const a of [
      'EngramOperatorDown',
      'EngramReconcileErrors',
      'EngramMemoryClusterNotReady',
      'EngramConsumerLagGrowing',
      'EngramDeadLetters',
      'EngramWorkerRestarts',
    ])
      assert.ok(alerts.includes(a), `alert ${a}`);
  });

  it('leaves the optional parts out by default (no Prometheus Operator CRDs needed)', async () => {
    const docs = await renderChart();
    for (const kind of ['ServiceMonitor', 'PrometheusRule', 'APIService'])
      assert.ok(!kinds(docs).includes(kind), `${kind} off by default`);
  });

  it('refuses bad values with a message naming the value', async () => {
    const bad: Array<[string[], RegExp]> = [
      [['--set', 'replicaCount=-1'], /replicaCount.*minimum/],
      [['--set', 'unknownKey=1'], /additional properties 'unknownKey' not allowed/],
      [['--set', 'operator.logLevel=loud'], /logLevel.*one of/],
      [['--set', 'image.digest=abc'], /digest.*does not match/],
      [['--set', 'leaderElection.leaseDuration=15 seconds'], /leaseDuration.*does not match/],
      [['--set', 'metrics.port=70000'], /metrics\/port.*maximum/],
      [['--set', 'operator.extraArgs[0]=run'], /extraArgs\/0.*does not match/],
      [
        ['--set', 'serviceMonitor.enabled=true', '--set', 'serviceMonitor.extra=1'],
        /additional properties 'extra'/,
      ],
      [
        ['--set', 'replicaCount=2', '--set', 'leaderElection.enabled=false'],
        /replicaCount > 1 needs leaderElection.enabled/,
      ],
    ];
    const enabled = await helm(['template', 'engram', chartDir, '--set', 'externalMetrics.enabled=true']);
    assert.equal(enabled.code, 0, enabled.stderr);
    // Neither caBundle nor insecureSkipTLSVerify: the operator writes the caBundle of its own certificate.
    assert.doesNotMatch(enabled.stdout, /insecureSkipTLSVerify/);
    assert.match(
      enabled.stdout,
      /--external-metrics-service=default\/engram-engram-operator-external-metrics|--external-metrics-service=default\/engram-operator-external-metrics/,
    );
    for (const [args, message] of bad) {
      const r = await helm(['template', 'engram', chartDir, ...args]);
      assert.notEqual(r.code, 0, `${args.join(' ')} refused`);
      assert.match(r.stderr, message, `${args.join(' ')}: ${r.stderr}`);
    }
  });

  it('ships exactly the CRDs of crds/ and the RBAC of config/rbac/ (hack/generate-chart.ts --check)', async () => {
    const repo = readdirSync(join(repoRoot, 'crds')).sort();
    assert.deepEqual(readdirSync(join(chartDir, 'crds')).sort(), repo);
    for (const f of repo)
      assert.equal(
        readFileSync(join(chartDir, 'crds', f), 'utf8'),
        readFileSync(join(repoRoot, 'crds', f), 'utf8'),
        `charts/engram-operator/crds/${f} is a copy of crds/${f}`,
      );
    const { stdout } = await exec(process.execPath, [join(repoRoot, 'hack/generate-chart.ts'), '--check']);
    assert.match(stdout, /up to date/);
  });
});

describe('the Helm chart, installed into the local control plane', () => {
  const env = requireDevEnv();
  const client = kubeClient(env);
  const ns = uniqueName('e2e-chart');
  const release = uniqueName('chart');

  before(async () => {
    // Restricted Pod Security: the chart's pods must pass the strictest built-in profile.
    await kubectl(env, 'create', 'namespace', ns);
    await kubectl(env, 'label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=restricted');
  });
  after(async () => {
    await helm(['uninstall', release, '--namespace', ns, '--wait=false'], env);
    await deleteNamespace(env, ns);
    client.close();
  });

  it('helm install: the operator Deployment schedules its pods on kwok nodes and they become Ready', async () => {
    const r = await helm(['install', release, chartDir, '--namespace', ns], env);
    assert.equal(r.code, 0, `helm install: ${r.stderr}`);
    const name = `${release}-engram-operator`;
    await eventually(
      'operator Deployment Ready',
      async () => {
        const d = await client.get(Types.Deployment, ns, name);
        return (d.status as { readyReplicas?: number }).readyReplicas === 2;
      },
      { timeoutMs: 45_000 },
    );
    const pods = await client.list(Types.Pod, ns, { labelSelector: `app.kubernetes.io/instance=${release}` });
    assert.equal(pods.items.length, 2);
    for (const p of pods.items) {
      assert.match((p.spec as { nodeName: string }).nodeName, /^kwok-cpu-/, 'on a kwok CPU node');
      const ready = (p.status as { conditions: Array<{ type: string; status: string }> }).conditions.find(
        (c) => c.type === 'Ready',
      );
      assert.equal(ready?.status, 'True');
    }
    const status = await helm(['status', release, '--namespace', ns], env);
    assert.match(status.stdout, /STATUS: deployed/);
    // The ServiceAccount can do what the operator needs (a spot check; rbac-usage.test.ts is the full one).
    const sa = `system:serviceaccount:${ns}:${name}`;
    const can = async (...a: string[]) =>
      (await kubectl(env, 'auth', 'can-i', '--as', sa, ...a).catch((e) => e.stdout)).trim();
    assert.equal(await can('patch', 'memoryclusters.engram.dev/status', '-A'), 'yes');
    assert.equal(await can('update', 'leases.coordination.k8s.io', '-n', ns), 'yes');
    assert.equal(await can('delete', 'nodes'), 'no');
  });
});
