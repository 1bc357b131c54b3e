/**
 * Per MemoryCluster, what its gateways read about the tenants: the key-hash Secret and the quotas
 * ConfigMap (desired/gateway.ts), rebuilt from all the cluster's TenantMemories (index by
 * clusterRef) and their credentials Secrets' metadata, and written only when they changed.
 * A tenant being deleted leaves the files at once, so gateways refuse its key before the purge.
 */
import { type MemoryCluster, memoryClusterSchema } from '../api/memorycluster.ts';
import { tenantMemorySchema } from '../api/tenantmemory.ts';
import type { Applier } from '../controller/apply.ts';
import {
  type Cache,
  CLUSTER_REF_INDEX,
  type Controller,
  type ReconcileResult,
} from '../controller/manager.ts';
import type { KubeClient } from '../kube/client.ts';
import { splitKey, Types } from '../kube/resources.ts';
import { API_KEY_HASH_ANNOTATION, credentialsSecretName } from './desired/credentials.ts';
import {
  buildGatewayTenantsSecret,
  buildQuotasConfigMap,
  CONTENT_DIGEST_ANNOTATION,
  type GatewayTenant,
  tenantIdOwners,
  tenantQuota,
} from './desired/gateway.ts';

export interface GatewayTenantsOptions {
  client: KubeClient;
  clusters: Cache;
  tenants: Cache;
  secretsMeta: Cache;
  /** Applies the quotas ConfigMap if it changed (the Secret is compared by its digest annotation). */
  applier: Applier;
}

export class GatewayTenantsReconciler implements Controller {
  readonly name = 'tenant-gateway-files';
  readonly primary: Cache;
  readonly #o: GatewayTenantsOptions;

  constructor(o: GatewayTenantsOptions) {
    this.#o = o;
    this.primary = o.clusters;
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const { namespace, name } = splitKey(key);
    const raw = this.#o.clusters.get(namespace, name);
    const parsed = raw ? memoryClusterSchema.safeParse(raw) : undefined;
    // Gone or going: garbage collection removes the files with the cluster.
    if (!parsed?.success || parsed.data.metadata.deletionTimestamp) return {};
    const cluster = parsed.data;
    const refs = this.#o.tenants.byIndex(CLUSTER_REF_INDEX, key);
    const secret = this.#o.secretsMeta.get(namespace, buildGatewayTenantsSecret(cluster, []).metadata.name);
    // Files appear with the first tenant; a cluster that never had one gets none.
    if (!refs.length && !secret) return {};
    const tenants = this.tenants(cluster, refs);
    const desiredSecret = buildGatewayTenantsSecret(cluster, tenants);
    const digest = desiredSecret.metadata.annotations?.[CONTENT_DIGEST_ANNOTATION];
    if (secret?.metadata.annotations?.[CONTENT_DIGEST_ANNOTATION] !== digest)
      await this.#o.client.apply(Types.Secret, desiredSecret);
    await this.#o.applier.applyIfChanged(buildQuotasConfigMap(cluster, tenants));
    return {};
  }

  /** The tenants the gateways accept: owners of their tenant id, not being deleted, with a key. */
  private tenants(cluster: MemoryCluster, refs: ReturnType<Cache['list']>): GatewayTenant[] {
    const tms = refs.map((o) => tenantMemorySchema.safeParse(o)).flatMap((p) => (p.success ? [p.data] : []));
    const owners = tenantIdOwners(tms);
    const out: GatewayTenant[] = [];
    for (const tm of tms) {
      if (owners.get(tm.spec.tenantId) !== tm.metadata.name || tm.metadata.deletionTimestamp) continue;
      const meta = this.#o.secretsMeta.get(cluster.metadata.namespace, credentialsSecretName(tm));
      const hash = meta?.metadata.annotations?.[API_KEY_HASH_ANNOTATION];
      if (!hash || !meta?.metadata.ownerReferences?.some((r) => r.uid === tm.metadata.uid)) continue;
      out.push({ tenantId: tm.spec.tenantId, hashes: [hash], quota: tenantQuota(tm) });
    }
    return out;
  }
}
