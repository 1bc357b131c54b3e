/**
 * Where and as whom the operator reaches a MemoryCluster's graph store and cache: the managed
 * store's address and generated (or referenced) credentials, or the external uri and the user's
 * Secret. Store health checks and the TenantMemory adapters both connect through this.
 */
import type { MemoryCluster } from '../api/memorycluster.ts';
import { UserError } from '../controller/errors.ts';
import type { SecretReader, StoreCredentials } from '../controller/secrets.ts';
import { managedCredentials } from '../memorycluster/desired/store.ts';

export type StoreComponent = 'neo4j' | 'redis';

export interface StoreAccess {
  uri: string;
  /** Undefined for a Redis without auth. */
  creds: StoreCredentials | undefined;
  /** Neo4j database name or Redis database number. */
  database: string | number;
}

/**
 * `managedAddress` is host:port of a managed store as the operator reaches it, undefined when it
 * cannot (an operator outside the cluster without --managed-<store>-address).
 */
export async function storeAccess(
  cluster: MemoryCluster,
  component: StoreComponent,
  secrets: SecretReader,
  managedAddress: string | undefined,
): Promise<StoreAccess> {
  const ns = cluster.metadata.namespace ?? 'default';
  if (cluster.spec[component].managed) {
    if (!managedAddress)
      throw new UserError(
        'StoreUnreachable',
        `the operator runs outside the cluster and has no --managed-${component}-address, so it cannot reach the managed ${component}`,
      );
    const creds = await secrets.credentials(ns, managedCredentials(cluster, component));
    return component === 'neo4j'
      ? { uri: `bolt://${managedAddress}`, creds, database: 'neo4j' }
      : { uri: `redis://${managedAddress}`, creds, database: 0 };
  }
  if (component === 'neo4j') {
    const ext = cluster.spec.neo4j.external!;
    return {
      uri: ext.uri,
      creds: await secrets.credentials(ns, ext.credentialsSecretRef),
      database: ext.database ?? 'neo4j',
    };
  }
  const ext = cluster.spec.redis.external!;
  return {
    uri: ext.uri,
    creds: ext.credentialsSecretRef ? await secrets.credentials(ns, ext.credentialsSecretRef) : undefined,
    database: ext.database ?? 0,
  };
}
