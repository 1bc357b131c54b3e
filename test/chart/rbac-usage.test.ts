// The chart's RBAC is exactly what the operator uses: the operator runs with a token of the
// chart's ServiceAccount through a representative life of a MemoryCluster (create, grow its
// volumes and change Neo4j memory, pause, resume, delete); the API server's audit log
// (hack/devenv/audit-policy.yaml) records every call it made. Every call must be granted, and
// every granted verb must have been used, or be listed below with the reason this run cannot use it.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { KubeObject } from '../../operator/kube/client.ts';
import { Types } from '../../operator/kube/resources.ts';
import { requireDevEnv } from '../support/devenv.ts';
import { chartDir, helm, renderChart } from '../support/helm.ts';
import {
  conditionOf,
  createNamespace,
  deleteNamespace,
  installCrds,
  kubeClient,
  kubectl,
  serviceAccountKubeconfig,
} from '../support/kube.ts';
import { type OperatorProcess, startOperator } from '../support/operator.ts';
import { deleteTopicsWithPrefix } from '../support/topics.ts';
import { eventually, uniqueName } from '../support/wait.ts';

/**
 * Granted but not exercised by a MemoryCluster's life, each with why. A permission listed here
 * that the run does use fails the test (the entry is stale), as does one the chart does not grant.
 */
const NOT_EXERCISED: Record<string, string> = {
  'engram.dev/tenantmemories:patch': 'TenantMemory controller (its finalizer): not on main yet',
  'engram.dev/workerpools:patch': 'WorkerPool controller (its finalizer): not on main yet',
  'engram.dev/tenantmemories/status:update': 'TenantMemory controller: not on main yet',
  'engram.dev/memoryclusters/finalizers:update':
    'an authorization check of the OwnerReferencesPermissionEnforcement admission plugin (children with blockOwnerDeletion), not a call; the plugin is off here, on in OpenShift and hardened clusters',
  'engram.dev/tenantmemories/finalizers:update': 'as memoryclusters/finalizers, for TenantMemory children',
  'engram.dev/workerpools/finalizers:update': 'as memoryclusters/finalizers, for WorkerPool children',
  'apps/deployments/scale:patch':
    "a scale-to-zero pool's 0 <-> 1 step (test/operator/rbac.test.ts runs one under these rules)",
  'core/secrets:patch':
    "the finalizer on external Kafka's SASL credentials Secret (the local broker has no SASL)",
  'storage.k8s.io/storageclasses:list':
    'finding the default StorageClass when neither template nor claim names one',
};

interface AuditEvent {
  verb: string;
  user: { username: string };
  objectRef?: { resource?: string; subresource?: string; apiGroup?: string; namespace?: string };
  responseStatus?: { code?: number };
}

const permission = (group: string, resource: string, verb: string) =>
  `${group || 'core'}/${resource}:${verb}`;

/** Every (group, resource, verb) the chart's ClusterRole and Role grant, with the Role's namespace. */
function granted(docs: KubeObject[]): Map<string, string | undefined> {
  const out = new Map<string, string | undefined>();
  for (const d of docs.filter((x) => x.kind === 'ClusterRole' || x.kind === 'Role')) {
    const rules = (
      d as unknown as { rules: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }> }
    ).rules;
    for (const r of rules)
      for (const g of r.apiGroups)
        for (const res of r.resources)
          for (const v of r.verbs)
            out.set(permission(g, res, v), d.kind === 'Role' ? d.metadata.namespace : undefined);
  }
  return out;
}

describe("the chart's RBAC against the calls the operator makes", () => {
  const env = requireDevEnv();
  const client = kubeClient(env);
  const opNs = uniqueName('e2e-rbacuse-op');
  const ns = uniqueName('e2e-rbacuse');
  const release = uniqueName('rbacuse');
  const dir = mkdtempSync(join(tmpdir(), 'engram-rbacuse-'));
  const prefix = `engram.${ns}`;
  let op: OperatorProcess | undefined;

  before(async () => {
    await installCrds(env);
    await createNamespace(env, opNs);
    await createNamespace(env, ns);
  });
  after(async () => {
    await op?.stop();
    await helm(['uninstall', release, '--namespace', opNs, '--wait=false'], env);
    await deleteNamespace(env, ns);
    await deleteNamespace(env, opNs);
    await deleteTopicsWithPrefix(env, prefix).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    client.close();
  });

  it('grants every call of a MemoryCluster life (create, grow, pause, resume, delete) and nothing unused', async () => {
    const auditLog = env.KUBE_AUDIT_LOG;
    assert.ok(
      auditLog && existsSync(auditLog),
      'the API server writes no audit log: restart the local environment (make devenv-down && make devenv) so kube-apiserver runs with hack/devenv/audit-policy.yaml',
    );
    const auditStart = statSync(auditLog).size;
    const r = await helm(['install', release, chartDir, '--namespace', opNs, '--set', 'replicaCount=0'], env);
    assert.equal(r.code, 0, `helm install: ${r.stderr}`);
    const fullname = `${release}-engram-operator`;
    const username = `system:serviceaccount:${opNs}:${fullname}`;

    const kubeconfig = await serviceAccountKubeconfig(env, opNs, fullname, dir);
    // The operator runs with the chart's own flags (proving the CLI takes them), outside the
    // cluster: its namespace from the downward API, its ports and the stores' addresses local.
    const rendered = await renderChart(['--namespace', opNs], release);
    const container = (
      rendered.find((d) => d.kind === 'Deployment')!.spec as {
        template: { spec: { containers: Array<{ args: string[] }> } };
      }
    ).template.spec.containers[0]!;
    const chartArgs = container.args
      .filter((a) => a !== 'run' && !/^--(metrics|health-probe)-bind-address=/.test(a))
      .map((a) => a.replaceAll('$(POD_NAMESPACE)', opNs));
    assert.ok(chartArgs.includes(`--leader-election-id=${fullname}`));
    op = await startOperator({ ...env, KUBECONFIG: kubeconfig }, [
      ...chartArgs,
      '--namespaces',
      ns,
      '--managed-neo4j-address',
      new URL(env.NEO4J_URI).host,
    ]);

    let lastReady = '';
    const readyFor = (generation?: number) =>
      eventually(
        `Ready for generation ${generation ?? 1}`,
        async () => {
          const mc = await client.get(Types.MemoryCluster, ns, 'life');
          const ready = conditionOf(mc, 'Ready');
          lastReady = JSON.stringify(ready);
          return ready?.status === 'True' && (!generation || ready.observedGeneration === generation) && mc;
        },
        { timeoutMs: 60_000 },
      ).catch((err: Error) => {
        throw new Error(
          `${err.message}; Ready: ${lastReady}; operator log: ${op?.logs.slice(-5).join('\n')}`,
        );
      });
    // A referenced Secret (read with get; the local Neo4j's password, which the operator's
    // health check uses) beside generated ones (created) for Redis.
    await client.create(Types.Secret, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'neo4j-admin', namespace: ns },
      stringData: { username: env.NEO4J_USER, password: env.NEO4J_PASSWORD },
    });
    await client.apply(Types.MemoryCluster, {
      apiVersion: 'engram.dev/v1alpha1',
      kind: 'MemoryCluster',
      metadata: { name: 'life', namespace: ns },
      spec: {
        topicDeletionPolicy: 'Delete',
        kafka: {
          topicPrefix: prefix,
          replicationFactor: 1,
          external: { bootstrapServers: [env.KAFKA_BROKERS] },
        },
        neo4j: { managed: { credentialsSecretRef: { name: 'neo4j-admin' }, storage: { size: '1Gi' } } },
        redis: { managed: {} },
      },
    });
    await readyFor();
    const readyGauge = async () =>
      (await op!.metrics()).get(
        `engram_operator_resource_ready{kind="MemoryCluster",namespace="${ns}",name="life"}`,
      );
    assert.equal(await readyGauge(), 1, 'the Ready gauge the NotReady alert reads');
    // Worker pools: a fixed one and an autoscaled one (Deployment, HPA), then autoscaling turned off.
    const pool = (name: string, spec: Record<string, unknown>) =>
      client.create(Types.WorkerPool, {
        apiVersion: 'engram.dev/v1alpha1',
        kind: 'WorkerPool',
        metadata: { name, namespace: ns },
        spec: { clusterRef: { name: 'life' }, ...spec },
      });
    await pool('life-ingest', { role: 'ingest', replicas: 1 });
    await pool('life-embed', {
      role: 'embed',
      autoscaling: { minReplicas: 1, maxReplicas: 3, targetLagPerReplica: 100 },
    });
    const poolReconciled = async (name: string) => {
      const wp = await client.get(Types.WorkerPool, ns, name);
      return (
        (wp.status as { observedGeneration?: number } | undefined)?.observedGeneration ===
        wp.metadata.generation
      );
    };
    await eventually(
      'pools reconciled',
      async () => (await poolReconciled('life-ingest')) && (await poolReconciled('life-embed')),
    );
    await eventually('the autoscaled pool has its HPA', async () =>
      Boolean(await client.getOrUndefined(Types.HorizontalPodAutoscaler, ns, 'life-embed')),
    );
    await client.mergePatch(Types.WorkerPool, ns, 'life-embed', { spec: { autoscaling: null, replicas: 1 } });
    await eventually(
      'the HPA goes with autoscaling',
      async () => !(await client.getOrUndefined(Types.HorizontalPodAutoscaler, ns, 'life-embed')),
    );
    for (const name of ['life-ingest', 'life-embed']) await client.delete(Types.WorkerPool, ns, name);
    // Grow the volumes (claims patched, StatefulSet re-created) and roll Neo4j's memory settings.
    const grown = await client.mergePatch(Types.MemoryCluster, ns, 'life', {
      spec: { neo4j: { managed: { storage: { size: '2Gi' }, memory: { heap: '1Gi' } } } },
    });
    const pvc = 'data-life-neo4j-0';
    await eventually('claim patched', async () => {
      const claim = await client.get(Types.PersistentVolumeClaim, ns, pvc);
      return (
        (claim.spec as { resources: { requests: { storage: string } } }).resources.requests.storage === '2Gi'
      );
    });
    // The storage driver finishes the resize (kwok has none: the test plays it, as admin).
    await client.mergePatch(
      Types.PersistentVolumeClaim,
      ns,
      pvc,
      { status: { capacity: { storage: '2Gi' } } },
      'status',
    );
    await readyFor(grown.metadata.generation);
    await kubectl(env, 'annotate', '-n', ns, 'mc/life', 'engram.dev/paused=true');
    await eventually(
      'Paused',
      async () => conditionOf(await client.get(Types.MemoryCluster, ns, 'life'), 'Paused')?.status === 'True',
    );
    await eventually('Ready gauge 0 while paused', async () => (await readyGauge()) === 0);
    await kubectl(env, 'annotate', '-n', ns, 'mc/life', 'engram.dev/paused-');
    await readyFor(grown.metadata.generation);
    await client.delete(Types.MemoryCluster, ns, 'life');
    await eventually(
      'deleted through the finalizer',
      async () => !(await client.getOrUndefined(Types.MemoryCluster, ns, 'life')),
      {
        timeoutMs: 60_000,
      },
    );
    await op.stop();
    op = undefined;

    // The audit backend writes each event when its response completes; the last are a moment behind.
    await new Promise((res) => setTimeout(res, 1000));
    const events = readFileSync(auditLog)
      .subarray(auditStart)
      .toString('utf8')
      .split('\n')
      .filter((l) => l.includes(username))
      .map((l) => JSON.parse(l) as AuditEvent)
      .filter((e) => e.user.username === username && e.objectRef?.resource);
    assert.ok(events.length > 50, `the audit log holds the operator's calls (${events.length})`);
    const used = new Map<string, Set<string>>();
    for (const e of events) {
      const o = e.objectRef!;
      const key = permission(
        o.apiGroup ?? '',
        o.subresource ? `${o.resource}/${o.subresource}` : o.resource!,
        e.verb,
      );
      if (!used.has(key)) used.set(key, new Set());
      used.get(key)!.add(o.namespace ?? '');
      // A server-side apply that creates (201) is authorized as create too, logged as patch.
      if (e.verb === 'patch' && e.responseStatus?.code === 201) {
        const created = key.replace(/:patch$/, ':create');
        if (!used.has(created)) used.set(created, new Set());
        used.get(created)!.add(o.namespace ?? '');
      }
    }
    const forbidden = events.filter((e) => e.responseStatus?.code === 403);
    assert.deepEqual(
      forbidden.map((e) => `${e.verb} ${JSON.stringify(e.objectRef)}`),
      [],
      'no call refused',
    );

    const grants = granted(rendered);
    const missing = [...used.keys()].filter((k) => !grants.has(k));
    assert.deepEqual(missing, [], 'every call the operator makes is granted');
    for (const [k, namespaces] of used) {
      const roleNs = grants.get(k);
      if (roleNs)
        assert.deepEqual([...namespaces], [opNs], `${k} (a Role's grant) only in the operator's namespace`);
    }
    const unused = [...grants.keys()].filter((k) => !used.has(k) && !(k in NOT_EXERCISED));
    assert.deepEqual(unused, [], 'every granted verb is used (or listed in NOT_EXERCISED with why)');
    const stale = Object.keys(NOT_EXERCISED).filter((k) => used.has(k) || !grants.has(k));
    assert.deepEqual(stale, [], 'NOT_EXERCISED lists only granted permissions this run does not use');
  });
});
