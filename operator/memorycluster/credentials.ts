/**
 * Generated store credentials: created once, never rewritten or logged. They live exactly as long
 * as the data they protect: the Secret is owned by the MemoryCluster, and so (through the
 * StatefulSet's PVC retention policy) are the data volumes, so deleting the cluster deletes both
 * together and a re-created cluster of the same name starts on new volumes with a new password.
 * (Neo4j stores its password in its data volume: volumes kept without their password would lock
 * the new cluster out.)
 */
import { randomBytes } from 'node:crypto';
import type { MemoryCluster } from '../api/memorycluster.ts';
import type { Cache } from '../controller/manager.ts';
import { isConflict, type KubeClient, type KubeObject } from '../kube/client.ts';
import type { EventRecorder } from '../kube/events.ts';
import { Types } from '../kube/resources.ts';
import { buildGeneratedCredentials, managedCredentials } from './desired/store.ts';

export class GeneratedCredentials {
  readonly #client: KubeClient;
  readonly #secretsMeta: Cache;
  readonly #events: EventRecorder;

  constructor(o: { client: KubeClient; secretsMeta: Cache; events: EventRecorder }) {
    this.#client = o.client;
    this.#secretsMeta = o.secretsMeta;
    this.#events = o.events;
  }

  async ensure(cluster: MemoryCluster, component: 'neo4j' | 'redis'): Promise<void> {
    const ref = managedCredentials(cluster, component);
    if (!ref.generated) return;
    const ns = cluster.metadata.namespace ?? 'default';
    if (!this.#secretsMeta.get(ns, ref.name)) {
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
    }
  }
}
