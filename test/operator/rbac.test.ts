// The operator works with exactly the RBAC it ships (config/rbac/): it runs with a ServiceAccount
// token bound to those rules, reconciles and deletes a cluster, and is never refused (no 403).
// The shipped Deployment (config/manager/) is applied too: its pods schedule and become Ready.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Types } from '../../operator/kube/resources.ts';
import { repoRoot, requireDevEnv } from '../support/devenv.ts';
import {
  createNamespace,
  deleteNamespace,
  installCrds,
  kubeClient,
  kubectl,
  serviceAccountKubeconfig,
} from '../support/kube.ts';
import { type OperatorProcess, startOperator } from '../support/operator.ts';
import { eventually, uniqueName } from '../support/wait.ts';

describe('the shipped RBAC and Deployment', () => {
  const env = requireDevEnv();
  const client = kubeClient(env);
  const ns = uniqueName('e2e-rbac');
  const dir = mkdtempSync(join(tmpdir(), 'engram-rbac-'));
  let op: OperatorProcess | undefined;

  before(async () => {
    await installCrds(env);
    await kubectl(
      env,
      'apply',
      '--server-side',
      '-f',
      join(repoRoot, 'config/manager'),
      '-f',
      join(repoRoot, 'config/rbac'),
    );
    await createNamespace(env, ns);
  });
  after(async () => {
    await op?.stop();
    await deleteNamespace(env, ns);
    await kubectl(env, 'delete', '-n', 'engram-system', 'deployment/engram-operator', '--ignore-not-found');
    rmSync(dir, { recursive: true, force: true });
    client.close();
  });

  it('the operator Deployment schedules two hardened replicas that become Ready', async () => {
    await eventually('operator deployment ready', async () => {
      const d = await client.get(Types.Deployment, 'engram-system', 'engram-operator');
      return (d.status as { readyReplicas?: number }).readyReplicas === 2;
    });
  });

  it('reconciles and deletes a MemoryCluster and a TenantMemory with only the ClusterRole and leader-election Role', async () => {
    const kubeconfig = await serviceAccountKubeconfig(env, 'engram-system', 'engram-operator', dir);
    op = await startOperator({ ...env, KUBECONFIG: kubeconfig }, [
      '--namespaces',
      ns,
      '--leader-election-namespace',
      'engram-system',
      '--leader-election-id',
      `engram-operator-${ns}`,
      '--lag-poll-interval',
      '1s',
    ]);
    await client.apply(Types.MemoryCluster, {
      apiVersion: 'engram.dev/v1alpha1',
      kind: 'MemoryCluster',
      metadata: { name: 'rbac', namespace: ns },
      spec: {
        topicDeletionPolicy: 'Delete',
        kafka: {
          topicPrefix: `engram.${ns}`,
          replicationFactor: 1,
          external: { bootstrapServers: [env.KAFKA_BROKERS] },
        },
        neo4j: { managed: {} },
        redis: { managed: {} },
      },
    });
    await eventually('Ready', async () => {
      const mc = await client.get(Types.MemoryCluster, ns, 'rbac');
      return (
        mc.status as { conditions?: Array<{ type: string; status: string }> } | undefined
      )?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    });
    // A tenant: its credentials Secret, the cluster's gateway files, its finalizer and status.
    await client.apply(Types.TenantMemory, {
      apiVersion: 'engram.dev/v1alpha1',
      kind: 'TenantMemory',
      metadata: { name: 'rbac-t', namespace: ns, annotations: { 'engram.dev/skip-tenant-purge': 'true' } },
      spec: { clusterRef: { name: 'rbac' }, tenantId: 'rbac-t', deletionPolicy: 'Delete' },
    });
    await eventually('tenant credentials and gateway files', async () => {
      const files = await client.getOrUndefined(Types.Secret, ns, 'rbac-gateway-tenants');
      return (
        !!(await client.getOrUndefined(Types.Secret, ns, 'rbac-t-credentials')) &&
        'rbac-t' in ((files?.data ?? {}) as object)
      );
    });
    await client.delete(Types.TenantMemory, ns, 'rbac-t');
    await eventually(
      'tenant deleted through its finalizer',
      async () => !(await client.getOrUndefined(Types.TenantMemory, ns, 'rbac-t')),
    );
    // A WorkerPool's children and its scale-to-zero step (the Deployment's /scale) under the same rules.
    await client.apply(Types.WorkerPool, {
      apiVersion: 'engram.dev/v1alpha1',
      kind: 'WorkerPool',
      metadata: { name: 'sleepy', namespace: ns },
      spec: {
        clusterRef: { name: 'rbac' },
        role: 'ingest',
        autoscaling: { minReplicas: 0, maxReplicas: 2, targetLagPerReplica: 10, scaleToZeroAfter: '10s' },
      },
    });
    await eventually(
      'the pool scaled to zero, its HPA in place',
      async () => {
        const d = await client.getOrUndefined(Types.Deployment, ns, 'sleepy');
        const hpa = await client.getOrUndefined(Types.HorizontalPodAutoscaler, ns, 'sleepy');
        return !!hpa && (d?.spec as { replicas?: number } | undefined)?.replicas === 0;
      },
      { timeoutMs: 40_000 },
    );
    await client.delete(Types.MemoryCluster, ns, 'rbac');
    await eventually(
      'deleted through the finalizer',
      async () => !(await client.getOrUndefined(Types.MemoryCluster, ns, 'rbac')),
    );
    assert.equal(
      await op.counter('engram_operator_kube_api_calls_total', { code: '403' }),
      0,
      'never forbidden',
    );
    assert.ok((await op.counter('engram_operator_kube_api_calls_total', { verb: 'apply' })) > 0);
  });
});
