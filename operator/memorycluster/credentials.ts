/**
 * Generated store credentials: created once, never rewritten, and kept as long as the data they
 * protect. Neo4j stores its password in its data volume, so a re-created MemoryCluster (same name,
 * same volumes) must find the same password: the Secret is owned by the cluster AND by the data
 * PVCs, and the garbage collector removes it only when all of them are gone. Deleting the volumes
 * deletes the credentials with them; a new cluster on new volumes gets a new password.
 */
import { randomBytes } from 'node:crypto';
import type { MemoryCluster } from '../api/memorycluster.ts';
import type { Cache } from '../controller/manager.ts';
import { isConflict, type KubeClient, type KubeObject, type OwnerReference } from '../kube/client.ts';
import type { EventRecorder } from '../kube/events.ts';
import { Types } from '../kube/resources.ts';
import { childName, ownerReference, selectorLabels } from './desired/meta.ts';
import { buildGeneratedCredentials, managedCredentials } from './desired/store.ts';

export class GeneratedCredentials {
  readonly #client: KubeClient;
  readonly #secretsMeta: Cache;
  readonly #statefulSets: Cache;
  readonly #events: EventRecorder;

  constructor(o: { client: KubeClient; secretsMeta: Cache; statefulSets: Cache; events: EventRecorder }) {
    this.#client = o.client;
    this.#secretsMeta = o.secretsMeta;
    this.#statefulSets = o.statefulSets;
    this.#events = o.events;
  }

  async ensure(cluster: MemoryCluster, component: 'neo4j' | 'redis'): Promise<void> {
    const ref = managedCredentials(cluster, component);
    if (!ref.generated) return;
    const ns = cluster.metadata.namespace ?? 'default';
    const live = this.#secretsMeta.get(ns, ref.name);
    if (!live) {
      // A cache miss may just be lag after our own create: a 409 means it exists, which is fine.
      const password = randomBytes(24).toString('base64url');
      try {
        await this.#client.create(Types.Secret, buildGeneratedCredentials(cluster, component, password));
        this.#events.emit(
          cluster as unknown as KubeObject,
          'Normal',
          'CredentialsGenerated',
          `generated ${component} credentials in Secret ${ref.name}`,
        );
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
      return;
    }
    await this.ensureOwners(cluster, component, live);
  }

  /** The cluster as controller, plus every data PVC of the store once the StatefulSet made them. */
  private async ensureOwners(
    cluster: MemoryCluster,
    component: 'neo4j' | 'redis',
    live: KubeObject,
  ): Promise<void> {
    const owners = live.metadata.ownerReferences ?? [];
    const mine = ownerReference(cluster);
    const hasCluster = owners.some((o) => o.uid === mine.uid);
    const sts = this.#statefulSets.get(cluster.metadata.namespace, childName(cluster, component));
    const podsMade = ((sts?.status as { replicas?: number } | undefined)?.replicas ?? 0) > 0;
    const pvcOwners = owners.filter((o) => o.kind === 'PersistentVolumeClaim');
    if (hasCluster && (!podsMade || pvcOwners.length > 0)) return;

    let claims: OwnerReference[] = pvcOwners;
    if (podsMade && pvcOwners.length === 0) {
      const selector = Object.entries(selectorLabels(cluster, component))
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
      claims = (
        await this.#client.list(Types.PersistentVolumeClaim, cluster.metadata.namespace, {
          labelSelector: selector,
        })
      ).items
        .filter((p) => p.metadata.name.startsWith(`data-${childName(cluster, component)}-`) && p.metadata.uid)
        .map((p) => ({
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          name: p.metadata.name,
          uid: p.metadata.uid!,
        }));
      if (!claims.length && hasCluster) return;
    }
    // The previous cluster's reference (a deleted cluster of the same name) is replaced by ours.
    const next = [mine, ...claims];
    await this.#client.mergePatch(Types.Secret, live.metadata.namespace, live.metadata.name, {
      metadata: { ownerReferences: next, resourceVersion: live.metadata.resourceVersion },
    });
  }
}
