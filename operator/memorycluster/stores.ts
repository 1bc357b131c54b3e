/**
 * Health of a cluster's graph store (Neo4j) and cache (Redis). A store is ready when its pods run
 * the current spec AND a real, authenticated call with the credentials the workers use succeeds:
 * pod readiness alone would call a re-created cluster healthy while Neo4j refuses its password.
 * External stores are checked the same way. Results are cached for a short while, keyed by the
 * credentials Secret's resourceVersion, so a changed Secret is checked at once.
 */
import type { MemoryCluster } from '../api/memorycluster.ts';
import { UserError } from '../controller/errors.ts';
import type { Cache } from '../controller/manager.ts';
import type { SecretReader } from '../controller/secrets.ts';
import type { KubeClient } from '../kube/client.ts';
import { Types } from '../kube/resources.ts';
import { type StoreAccess, type StoreComponent, storeAccess } from '../stores/access.ts';
import { checkNeo4j, checkRedis } from '../stores/connectivity.ts';
import { childName } from './desired/meta.ts';
import { NEO4J_BOLT_PORT } from './desired/neo4j.ts';
import { REDIS_PORT } from './desired/redis.ts';
import { managedCredentials } from './desired/store.ts';
import { type PartHealth, statefulSetHealth } from './status.ts';

export type { StoreComponent };

const NAMES: Record<StoreComponent, string> = { neo4j: 'Neo4j', redis: 'Redis' };
const CHECK_TTL_MS = 15_000;

export interface StoreHealthOptions {
  client: KubeClient;
  secrets: SecretReader;
  statefulSets: Cache;
  /** Secret metadata: its resourceVersion keys the check cache. */
  secretsMeta: Cache;
  /**
   * Where the operator reaches managed stores: their Services when it runs in the cluster, or an
   * address per component (an operator outside the cluster, local environments). Unreachable
   * (outside the cluster, no address): pod readiness only, and the message says so.
   */
  managedAddress(cluster: MemoryCluster, component: StoreComponent): string | undefined;
}

export class StoreHealth {
  readonly #o: StoreHealthOptions;
  readonly #checks = new Map<string, { at: number; health: PartHealth }>();

  constructor(o: StoreHealthOptions) {
    this.#o = o;
  }

  forget(key: string): void {
    for (const k of this.#checks.keys()) if (k.startsWith(`${key}|`)) this.#checks.delete(k);
  }

  async check(key: string, cluster: MemoryCluster, component: StoreComponent): Promise<PartHealth> {
    const what = NAMES[component];
    const ns = cluster.metadata.namespace ?? 'default';
    const managed = cluster.spec[component].managed;
    if (managed) {
      const health = statefulSetHealth(this.#o.statefulSets.get(ns, childName(cluster, component)), what);
      if (health.status !== 'True') {
        const storageClass = managed.storage?.storageClassName;
        if (storageClass) {
          const sc = await this.#o.client
            .getOrUndefined(Types.StorageClass, undefined, storageClass)
            .catch(() => undefined);
          if (!sc) {
            return {
              status: 'False',
              reason: 'StorageClassNotFound',
              message: `StorageClass ${storageClass} does not exist, so ${what}'s volume cannot be provisioned: create it or set spec.${component}.managed.storage.storageClassName to an existing class`,
            };
          }
        }
        return health;
      }
      const address = this.#o.managedAddress(cluster, component);
      if (!address) {
        return {
          ...health,
          message: `${health.message} (credentials not checked: the operator runs outside the cluster and has no --managed-${component}-address)`,
        };
      }
      return this.cached(key, component, managedCredentials(cluster, component).name, ns, async () => {
        const access = await storeAccess(cluster, component, this.#o.secrets, address);
        const result = await this.probe(component, access);
        return result.status === 'True'
          ? {
              status: 'True',
              reason: 'Ready',
              message: `${health.message}; authenticated as ${access.creds?.username || 'default'}`,
            }
          : result;
      });
    }
    const ref =
      component === 'neo4j'
        ? cluster.spec.neo4j.external?.credentialsSecretRef
        : cluster.spec.redis.external?.credentialsSecretRef;
    return this.cached(key, component, ref?.name, ns, async () =>
      this.probe(component, await storeAccess(cluster, component, this.#o.secrets, undefined)),
    );
  }

  private probe(component: StoreComponent, a: StoreAccess): Promise<PartHealth> {
    return component === 'neo4j'
      ? checkNeo4j(a.uri, a.creds!, a.database as string)
      : checkRedis(a.uri, a.creds, a.database as number);
  }

  /** Runs `check` at most every CHECK_TTL_MS per store and credentials Secret version. */
  private async cached(
    key: string,
    component: StoreComponent,
    secretName: string | undefined,
    namespace: string,
    check: () => Promise<PartHealth>,
  ): Promise<PartHealth> {
    const version = secretName
      ? (this.#o.secretsMeta.get(namespace, secretName)?.metadata.resourceVersion ?? 'none')
      : '-';
    const cacheKey = `${key}|${component}|${secretName ?? ''}@${version}`;
    const hit = this.#checks.get(cacheKey);
    if (hit && Date.now() - hit.at < CHECK_TTL_MS) return hit.health;
    let health: PartHealth;
    try {
      health = await check();
    } catch (err) {
      health = {
        status: 'False',
        reason: err instanceof UserError ? err.reason : 'CheckFailed',
        message: `${NAMES[component]}: ${(err as Error).message}`,
      };
    }
    for (const k of this.#checks.keys()) if (k.startsWith(`${key}|${component}|`)) this.#checks.delete(k);
    this.#checks.set(cacheKey, { at: Date.now(), health });
    return health;
  }
}

/** The in-cluster address of a managed store's Service. */
export function managedServiceAddress(cluster: MemoryCluster, component: StoreComponent): string {
  const ns = cluster.metadata.namespace ?? 'default';
  const port = component === 'neo4j' ? NEO4J_BOLT_PORT : REDIS_PORT;
  return `${childName(cluster, component)}.${ns}.svc:${port}`;
}
