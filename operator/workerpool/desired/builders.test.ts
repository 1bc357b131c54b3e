import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRuntimeConfig } from '../../../runtime/contract/config.ts';
import { WORKER_POOL_LABEL, WORKER_POOL_LAG_METRIC } from '../../api/external-metrics.ts';
import { type MemoryCluster, memoryClusterSchema } from '../../api/memorycluster.ts';
import { type WorkerPool, workerPoolSchema } from '../../api/workerpool.ts';
import type { KubeObject } from '../../kube/client.ts';
import { buildWorkerDeployment } from './deployment.ts';
import { buildWorkerHpa, effectiveMaxReplicas } from './hpa.ts';

const cluster = (spec: Record<string, unknown> = {}): MemoryCluster =>
  memoryClusterSchema.parse({
    apiVersion: 'engram.dev/v1alpha1',
    kind: 'MemoryCluster',
    metadata: { name: 'demo', namespace: 'ns', uid: 'c-uid' },
    spec: { kafka: { managed: {} }, neo4j: { managed: {} }, redis: { managed: {} }, ...spec },
  });
const pool = (spec: Record<string, unknown>): WorkerPool =>
  workerPoolSchema.parse({
    apiVersion: 'engram.dev/v1alpha1',
    kind: 'WorkerPool',
    metadata: { name: 'p', namespace: 'ns', uid: 'p-uid' },
    spec: { clusterRef: { name: 'demo' }, ...spec },
  });

type Container = {
  args: string[];
  env: Array<{ name: string; value?: string; valueFrom?: Record<string, { name?: string; key?: string }> }>;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext: Record<string, unknown>;
  livenessProbe: unknown;
  readinessProbe: unknown;
};
const podSpec = (d: KubeObject) =>
  (d.spec as { template: { spec: Record<string, unknown> & { containers: Container[] } } }).template.spec;

/** The env as the kubelet would resolve it: Secret references become stand-in values. */
function resolvedEnv(c: Container): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of c.env) {
    if (e.value !== undefined) out[e.name] = e.value;
    else if (e.valueFrom?.secretKeyRef) out[e.name] = `secret-${e.valueFrom.secretKeyRef.key}`;
    else if (e.valueFrom?.resourceFieldRef) out[e.name] = '2';
  }
  return out;
}

describe('buildWorkerDeployment', () => {
  for (const role of ['gateway', 'ingest', 'embed', 'extract', 'resolve', 'evolve', 'query'] as const) {
    it(`renders an env the runtime's own parser accepts (${role})`, () => {
      const d = buildWorkerDeployment({
        pool: pool({ role, batchSize: 7 }),
        cluster: cluster(),
        replicas: 2,
      });
      const c = podSpec(d).containers[0]!;
      const config = parseRuntimeConfig(resolvedEnv(c), { role: c.args[0]!, hostname: 'h' });
      assert.equal(config.role, role);
      assert.equal(config.topicPrefix, 'engram.ns.demo');
      assert.deepEqual(config.kafka.brokers, ['demo-kafka.ns.svc:9092']);
      assert.equal(config.worker.batchSize, 7);
    });
  }

  it("mounts the gateway's tenant key hashes and quotas (both optional until the first tenant) where its env says", () => {
    const d = buildWorkerDeployment({ pool: pool({ role: 'gateway' }), cluster: cluster(), replicas: 1 });
    const spec = podSpec(d) as unknown as {
      volumes: Array<{
        name: string;
        secret?: { secretName: string; optional: boolean };
        configMap?: { name: string; optional: boolean };
      }>;
      containers: Array<Container & { volumeMounts: Array<{ name: string; mountPath: string }> }>;
    };
    const volumes = Object.fromEntries(spec.volumes.map((v) => [v.name, v]));
    assert.deepEqual(volumes['tenant-keys']?.secret, { secretName: 'demo-gateway-tenants', optional: true });
    assert.deepEqual(volumes['tenant-quotas']?.configMap, {
      name: 'demo-gateway-tenant-quotas',
      optional: true,
    });
    const c = spec.containers[0]!;
    const mount = c.volumeMounts.find((m) => m.name === 'tenant-quotas')!;
    const env = resolvedEnv(c);
    assert.equal(env.ENGRAM_TENANT_QUOTAS_FILE, `${mount.mountPath}/quotas.json`);
    const config = parseRuntimeConfig(env, { role: c.args[0]!, hostname: 'h' });
    assert.equal(config.gateway?.tenantQuotasFile, env.ENGRAM_TENANT_QUOTAS_FILE);
    // evolve reads the tenants' retention from the same file.
    const evolve = buildWorkerDeployment({ pool: pool({ role: 'evolve' }), cluster: cluster(), replicas: 1 });
    const evolveEnv = resolvedEnv(podSpec(evolve).containers[0]!);
    assert.equal(evolveEnv.ENGRAM_TENANT_QUOTAS_FILE, env.ENGRAM_TENANT_QUOTAS_FILE);
    assert.ok(
      (podSpec(evolve) as unknown as { volumes: Array<{ name: string }> }).volumes.some(
        (v) => v.name === 'tenant-quotas',
      ),
    );
  });
  it('keeps passwords as Secret references, never values', () => {
    const d = buildWorkerDeployment({ pool: pool({ role: 'embed' }), cluster: cluster(), replicas: 1 });
    const env = podSpec(d).containers[0]!.env;
    const password = env.find((e) => e.name === 'ENGRAM_NEO4J_PASSWORD');
    assert.equal(password?.value, undefined);
    assert.deepEqual(password?.valueFrom?.secretKeyRef, { name: 'demo-neo4j-credentials', key: 'password' });
  });

  it('applies replicas only when given (autoscaled pools leave them to the HPA)', () => {
    const fixed = buildWorkerDeployment({ pool: pool({ role: 'ingest' }), cluster: cluster(), replicas: 3 });
    assert.equal((fixed.spec as { replicas?: number }).replicas, 3);
    const scaled = buildWorkerDeployment({
      pool: pool({ role: 'ingest' }),
      cluster: cluster(),
      replicas: undefined,
    });
    assert.equal('replicas' in (scaled.spec as object), false);
  });

  it('gives GPU pools the GPU resource (requests = limits), tolerations, node selector and CUDA', () => {
    const d = buildWorkerDeployment({
      pool: pool({
        role: 'embed',
        resources: { requests: { cpu: 2 }, limits: { memory: '4Gi' } },
        gpu: {
          count: 2,
          nodeSelector: { 'nvidia.com/gpu.present': 'true' },
          tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
        },
      }),
      cluster: cluster(),
      replicas: 1,
    });
    const spec = podSpec(d);
    const c = spec.containers[0]!;
    assert.deepEqual(c.resources, {
      requests: { cpu: '2', 'nvidia.com/gpu': '2' },
      limits: { memory: '4Gi', 'nvidia.com/gpu': '2' },
    });
    assert.deepEqual(spec['nodeSelector'], { 'nvidia.com/gpu.present': 'true' });
    assert.equal((spec['tolerations'] as unknown[]).length, 1);
    assert.equal(resolvedEnv(c)['ENGRAM_EXECUTION_PROVIDER'], 'cuda');
  });

  it('hardens every pod: non-root, read-only root, no escalation, no capabilities, probes, spread', () => {
    const spec = podSpec(
      buildWorkerDeployment({ pool: pool({ role: 'query' }), cluster: cluster(), replicas: 1 }),
    );
    const c = spec.containers[0]!;
    assert.equal(c.securityContext['readOnlyRootFilesystem'], true);
    assert.equal(c.securityContext['allowPrivilegeEscalation'], false);
    assert.deepEqual(c.securityContext['capabilities'], { drop: ['ALL'] });
    assert.equal((spec['securityContext'] as { runAsNonRoot: boolean }).runAsNonRoot, true);
    assert.equal(spec['automountServiceAccountToken'], false);
    assert.ok(c.livenessProbe && c.readinessProbe);
    assert.equal((spec['topologySpreadConstraints'] as unknown[]).length, 2);
  });

  it('points external-mode pools at the external servers with their Secrets and mounted TLS files', () => {
    const ext = cluster({
      kafka: {
        external: {
          bootstrapServers: ['k:9093'],
          tls: { caSecretRef: { name: 'ca', key: 'ca.pem' } },
          sasl: { mechanism: 'SCRAM-SHA-512', credentialsSecretRef: { name: 'sasl' } },
        },
      },
      neo4j: { external: { uri: 'neo4j+s://g:7687', credentialsSecretRef: { name: 'n4j' } } },
      redis: { external: { uri: 'rediss://r:6380' } },
    });
    const d = buildWorkerDeployment({ pool: pool({ role: 'resolve' }), cluster: ext, replicas: 1 });
    const c = podSpec(d).containers[0]!;
    const config = parseRuntimeConfig(resolvedEnv(c), { role: 'resolve', hostname: 'h' });
    assert.deepEqual(config.kafka.tls, { caFile: '/etc/engram/kafka-ca/ca.crt' });
    assert.equal(config.kafka.sasl?.mechanism, 'scram-sha-512');
    assert.equal(config.neo4j?.uri, 'neo4j+s://g:7687');
    assert.equal(config.redis?.url, 'rediss://r:6380');
  });
});

describe('buildWorkerHpa', () => {
  it('scales the Deployment on the pool lag metric, AverageValue = target lag per replica', () => {
    const hpa = buildWorkerHpa(
      pool({ role: 'embed', autoscaling: { minReplicas: 0, maxReplicas: 8, targetLagPerReplica: 500 } }),
      16,
    )!;
    const spec = hpa.spec as Record<string, unknown> & {
      metrics: Array<{ external: { metric: unknown; target: unknown } }>;
    };
    assert.deepEqual(spec['scaleTargetRef'], { apiVersion: 'apps/v1', kind: 'Deployment', name: 'p' });
    assert.equal(spec['minReplicas'], 1, 'the HPA cannot go below 1: 0 is the operator’s step');
    assert.deepEqual(spec.metrics[0]!.external.metric, {
      name: WORKER_POOL_LAG_METRIC,
      selector: { matchLabels: { [WORKER_POOL_LABEL]: 'p' } },
    });
    assert.deepEqual(spec.metrics[0]!.external.target, { type: 'AverageValue', averageValue: '500' });
  });

  it('maps the behaviour to HPA policies, with the default windows when unset', () => {
    const hpa = buildWorkerHpa(
      pool({
        role: 'ingest',
        autoscaling: {
          minReplicas: 1,
          maxReplicas: 4,
          targetLagPerReplica: 10,
          behavior: { scaleUp: { maxReplicasPerPeriod: 2, periodSeconds: 15 } },
        },
      }),
      undefined,
    )!;
    const b = (hpa.spec as { behavior: Record<string, unknown> }).behavior;
    assert.deepEqual(b['scaleUp'], {
      stabilizationWindowSeconds: 0,
      policies: [{ type: 'Pods', value: 2, periodSeconds: 15 }],
      selectPolicy: 'Max',
    });
    assert.deepEqual(b['scaleDown'], { stabilizationWindowSeconds: 300 });
  });

  it('is absent without autoscaling', () => {
    assert.equal(buildWorkerHpa(pool({ role: 'ingest' }), 4), undefined);
  });

  const table: Array<[string, Record<string, unknown>, number | undefined, number]> = [
    ['capped at the partitions', { minReplicas: 1, maxReplicas: 50 }, 8, 8],
    ['below the cap', { minReplicas: 1, maxReplicas: 4 }, 8, 4],
    ['opted out', { minReplicas: 1, maxReplicas: 50, allowReplicasAbovePartitions: true }, 8, 50],
    ['partitions unknown yet', { minReplicas: 1, maxReplicas: 50 }, undefined, 50],
    ['never below minReplicas', { minReplicas: 6, maxReplicas: 50 }, 4, 6],
  ];
  for (const [what, a, partitions, want] of table) {
    it(`maxReplicas: ${what}`, () => {
      assert.equal(
        effectiveMaxReplicas(
          { targetLagPerReplica: 1, ...a } as Parameters<typeof effectiveMaxReplicas>[0],
          partitions,
        ),
        want,
      );
    });
  }
});
