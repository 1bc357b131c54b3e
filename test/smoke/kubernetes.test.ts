// The control plane is real: API server + etcd persist objects, the scheduler binds pods to kwok
// nodes, kwok makes them Ready, and the controller-manager's garbage collector follows owners.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { requireDevEnv } from '../support/devenv.ts';
import { eventually, uniqueName } from '../support/wait.ts';

describe('kubernetes control plane', () => {
  const env = requireDevEnv();
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(env.KUBECONFIG);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  const namespace = uniqueName('smoke');
  const crdName = 'widgets.smoke.engram.dev';

  before(async () => {
    await core.createNamespace({ body: { metadata: { name: namespace } } });
  });
  after(async () => {
    await core.deleteNamespace({ name: namespace }).catch(() => undefined);
    await ext.deleteCustomResourceDefinition({ name: crdName }).catch(() => undefined);
  });

  it('lists the kwok nodes, one of them with GPU capacity', async () => {
    const nodes = await core.listNode();
    const names = nodes.items.map((n) => n.metadata?.name);
    assert.ok(names.length >= 3, `expected 3 kwok nodes, got ${names.join(',')}`);
    const gpu = nodes.items.filter((n) => n.status?.allocatable?.['nvidia.com/gpu'] === '4');
    assert.equal(gpu.length, 1);
  });

  it('applies a CRD (keeping x-kubernetes-* keys) and stores a custom resource', async () => {
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: crdName },
      spec: {
        group: 'smoke.engram.dev',
        scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: {
                  spec: {
                    type: 'object',
                    properties: { size: { type: 'integer', minimum: 1 } },
                    'x-kubernetes-validations': [
                      { rule: 'self.size <= 10', message: 'size must be at most 10' },
                    ],
                  },
                },
              },
            },
          },
        ],
      },
    };
    // The client's serializer drops raw `x-kubernetes-*` keys; loadYaml maps them to its typed names.
    const typed = k8s.loadYaml<k8s.V1CustomResourceDefinition>(JSON.stringify(crd));
    await objects.patch(typed, undefined, undefined, 'engram-smoke', true, k8s.PatchStrategy.ServerSideApply);
    await eventually('CRD Established', async () => {
      const got = await ext.readCustomResourceDefinition({ name: crdName });
      return got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
    });
    const stored = await ext.readCustomResourceDefinition({ name: crdName });
    assert.equal(
      stored.spec.versions[0]?.schema?.openAPIV3Schema?.properties?.spec?.x_kubernetes_validations?.length,
      1,
    );

    const body = {
      apiVersion: 'smoke.engram.dev/v1',
      kind: 'Widget',
      metadata: { name: 'w1' },
      spec: { size: 3 },
    };
    const created = await eventually('custom resource created', () =>
      custom.createNamespacedCustomObject({
        group: 'smoke.engram.dev',
        version: 'v1',
        namespace,
        plural: 'widgets',
        body,
      }),
    );
    assert.equal(created.spec.size, 3);
    await assert.rejects(
      custom.createNamespacedCustomObject({
        group: 'smoke.engram.dev',
        version: 'v1',
        namespace,
        plural: 'widgets',
        body: { ...body, metadata: { name: 'w2' }, spec: { size: 11 } },
      }),
      (err: k8s.ApiException<string>) =>
        err.code === 422 && String(err.body).includes('size must be at most 10'),
    );
  });

  it('schedules a Deployment onto kwok nodes, pods become Ready, and a GPU pod lands on the GPU node', async () => {
    const labels = { app: 'smoke' };
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: 'smoke' },
        spec: {
          replicas: 2,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: { containers: [{ name: 'c', image: 'example.invalid/smoke:1' }] },
          },
        },
      },
    });
    await eventually('deployment ready', async () => {
      const d = await apps.readNamespacedDeployment({ name: 'smoke', namespace });
      return d.status?.readyReplicas === 2;
    });
    const pods = await core.listNamespacedPod({ namespace, labelSelector: 'app=smoke' });
    assert.equal(pods.items.length, 2);
    for (const p of pods.items) assert.match(p.spec?.nodeName ?? '', /^kwok-cpu-/);

    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'gpu' },
        spec: {
          tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
          containers: [
            { name: 'c', image: 'example.invalid/gpu:1', resources: { limits: { 'nvidia.com/gpu': '1' } } },
          ],
        },
      },
    });
    const gpuPod = await eventually('gpu pod running', async () => {
      const p = await core.readNamespacedPod({ name: 'gpu', namespace });
      return p.status?.phase === 'Running' ? p : undefined;
    });
    assert.equal(gpuPod.spec?.nodeName, 'kwok-gpu-0');
  });

  it('binds a StatefulSet volume claim through the default StorageClass', async () => {
    const labels = { app: 'smoke-sts' };
    await apps.createNamespacedStatefulSet({
      namespace,
      body: {
        metadata: { name: 'smoke-sts' },
        spec: {
          serviceName: 'smoke-sts',
          replicas: 1,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: { containers: [{ name: 'c', image: 'example.invalid/s:1' }] },
          },
          volumeClaimTemplates: [
            {
              metadata: { name: 'data' },
              spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
            },
          ],
        },
      },
    });
    await eventually('statefulset ready', async () => {
      const s = await apps.readNamespacedStatefulSet({ name: 'smoke-sts', namespace });
      return s.status?.readyReplicas === 1;
    });
    const pvc = await core.readNamespacedPersistentVolumeClaim({ name: 'data-smoke-sts-0', namespace });
    assert.equal(pvc.status?.phase, 'Bound');
  });

  it('garbage-collects dependents when their owner is deleted', async () => {
    const owner = await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'owner' } } });
    await core.createNamespacedConfigMap({
      namespace,
      body: {
        metadata: {
          name: 'dependent',
          ownerReferences: [
            { apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata!.uid! },
          ],
        },
      },
    });
    await core.deleteNamespacedConfigMap({ name: 'owner', namespace });
    await eventually('dependent collected', async () => {
      try {
        await core.readNamespacedConfigMap({ name: 'dependent', namespace });
        return false;
      } catch (err) {
        return (err as k8s.ApiException<string>).code === 404;
      }
    });
  });
});
