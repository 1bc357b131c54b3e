import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MemoryCluster } from '../../api/memorycluster.ts';
import type { KubeObject } from '../../kube/client.ts';
import { buildNeo4jChildren, neo4jMemory } from './neo4j.ts';
import { buildRedisChildren, redisMaxMemory } from './redis.ts';
import { buildRedpandaChildren, managedKafkaBootstrap } from './redpanda.ts';

const cluster = (spec: Partial<MemoryCluster['spec']> = {}): MemoryCluster => ({
  apiVersion: 'engram.dev/v1alpha1',
  kind: 'MemoryCluster',
  metadata: { name: 'mem', namespace: 'team', uid: 'uid-1', generation: 1 },
  spec: {
    topicDeletionPolicy: 'Retain',
    kafka: { managed: {} },
    neo4j: { managed: {} },
    redis: { managed: {} },
    ...spec,
  },
});

type Pod = {
  automountServiceAccountToken: boolean;
  securityContext: Record<string, unknown>;
  containers: Array<{
    securityContext: Record<string, unknown>;
    startupProbe?: unknown;
    readinessProbe?: unknown;
    livenessProbe?: unknown;
    resources?: unknown;
  }>;
};
const podOf = (sts: KubeObject) => (sts.spec as { template: { spec: Pod } }).template.spec;

const ctx = { operatorNamespace: 'engram-system' };

describe('store builders', () => {
  const mc = cluster();
  const all: Array<[string, KubeObject[]]> = [
    ['neo4j', buildNeo4jChildren(mc, mc.spec.neo4j.managed!, ctx)],
    ['redis', buildRedisChildren(mc, mc.spec.redis.managed!, ctx)],
    ['kafka', buildRedpandaChildren(mc, mc.spec.kafka.managed!, ctx)],
  ];
  for (const [component, objects] of all) {
    it(`${component}: every child is owned by the cluster, labelled, and in its namespace`, () => {
      for (const o of objects) {
        assert.equal(o.metadata.namespace, 'team');
        assert.deepEqual(
          o.metadata.ownerReferences?.map((r) => [r.kind, r.uid, r.controller]),
          [['MemoryCluster', 'uid-1', true]],
        );
        assert.equal(o.metadata.labels?.['app.kubernetes.io/managed-by'], 'engram-operator');
        assert.equal(o.metadata.labels?.['engram.dev/cluster'], 'mem');
      }
    });
    it(`${component}: pods are hardened and probed`, () => {
      const sts = objects.find((o) => o.kind === 'StatefulSet')!;
      const pod = podOf(sts);
      assert.equal(pod.automountServiceAccountToken, false);
      assert.equal(pod.securityContext.runAsNonRoot, true);
      assert.deepEqual(pod.securityContext.seccompProfile, { type: 'RuntimeDefault' });
      const c = pod.containers[0]!;
      assert.equal(c.securityContext.readOnlyRootFilesystem, true);
      assert.equal(c.securityContext.allowPrivilegeEscalation, false);
      assert.deepEqual(c.securityContext.capabilities, { drop: ['ALL'] });
      assert.ok(c.startupProbe && c.readinessProbe && c.livenessProbe && c.resources);
    });
    it(`${component}: a PDB allowing one disruption and a NetworkPolicy for the cluster's pods and the operator`, () => {
      const pdb = objects.find((o) => o.kind === 'PodDisruptionBudget')!;
      assert.equal((pdb.spec as { maxUnavailable: number }).maxUnavailable, 1);
      const np = objects.find((o) => o.kind === 'NetworkPolicy')!;
      const from = (np.spec as { ingress: Array<{ from: unknown[] }> }).ingress[0]!.from;
      assert.deepEqual(from, [
        { podSelector: { matchLabels: { 'engram.dev/cluster': 'mem' } } },
        // The operator's pods in the operator's namespace only: a look-alike label elsewhere is not let in.
        {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'engram-system' } },
          podSelector: { matchLabels: { 'app.kubernetes.io/name': 'engram-operator' } },
        },
      ]);
    });
  }

  it('derives Neo4j heap and page cache from the memory limit unless given', () => {
    assert.deepEqual(neo4jMemory({}), { heap: '819m', pageCache: '614m' });
    assert.deepEqual(neo4jMemory({ resources: { limits: { memory: '10Gi' } }, memory: { heap: '4Gi' } }), {
      heap: '4096m',
      pageCache: '3072m',
    });
  });

  it('derives Redis maxmemory from the limit unless given', () => {
    assert.equal(redisMaxMemory({}), '192mb');
    assert.equal(redisMaxMemory({ maxMemory: '1Gi' }), '1024mb');
  });

  it('rolls Neo4j pods when memory settings change (config hash on the pod template)', () => {
    const hash = (heap: string) => {
      const m = cluster({ neo4j: { managed: { memory: { heap } } } });
      const sts = buildNeo4jChildren(m, m.spec.neo4j.managed!, ctx).find((o) => o.kind === 'StatefulSet')!;
      return (sts.spec as { template: { metadata: { annotations: Record<string, string> } } }).template
        .metadata.annotations['engram.dev/config-hash'];
    };
    assert.equal(hash('1Gi'), hash('1Gi'));
    assert.notEqual(hash('1Gi'), hash('2Gi'));
  });

  it('uses the given storage class and size, else the defaults', () => {
    const m = cluster({ neo4j: { managed: { storage: { size: '50Gi', storageClassName: 'fast' } } } });
    const sts = buildNeo4jChildren(m, m.spec.neo4j.managed!, ctx).find((o) => o.kind === 'StatefulSet')!;
    const pvc = (sts.spec as { volumeClaimTemplates: Array<{ spec: Record<string, unknown> }> })
      .volumeClaimTemplates[0]!;
    assert.equal(pvc.spec.storageClassName, 'fast');
    assert.deepEqual(pvc.spec.resources, { requests: { storage: '50Gi' } });
  });

  it('keeps the Redis password out of every process argument', () => {
    const sts = buildRedisChildren(mc, mc.spec.redis.managed!, ctx).find((o) => o.kind === 'StatefulSet')!;
    const c = (
      sts.spec as { template: { spec: { containers: Array<{ command: string[]; args?: string[] }> } } }
    ).template.spec.containers[0]!;
    // Kubernetes expands $(VAR) in command and args into the process's argv; the shell's $VAR stays in the env.
    assert.ok(
      ![...c.command, ...(c.args ?? [])].some((a) => a.includes('$(REDIS_PASSWORD)')),
      c.command.join(' '),
    );
    assert.equal(c.command[0], 'sh');
  });

  it('points workers at the managed brokers through the Service', () => {
    assert.equal(managedKafkaBootstrap(cluster()), 'mem-kafka.team.svc:9092');
  });
});
