/**
 * Wires the TenantMemory reconcilers to the caches and events they react to: one per tenant
 * (credentials, Redis user, graph schema, status, purge) and one per MemoryCluster (the gateways'
 * key and quota files from all its tenants).
 */
import type { MemoryCluster } from '../api/memorycluster.ts';
import { LABEL_VALUES, LABELS } from '../api/wellknown.ts';
import { Applier } from '../controller/apply.ts';
import type { Logger } from '../controller/logger.ts';
import { CLUSTER_REF_INDEX, clusterRefOf, type Manager, toControllingOwner } from '../controller/manager.ts';
import { SecretReader } from '../controller/secrets.ts';
import { StatusWriter } from '../controller/status-writer.ts';
import type { TopicAdminPool } from '../kafka/topic-admin.ts';
import type { KubeObject } from '../kube/client.ts';
import type { EventRecorder } from '../kube/events.ts';
import { Types } from '../kube/resources.ts';
import { CHILD_EVENT_DELAY_MS, specChanged } from '../memorycluster/controller.ts';
import { managedServiceAddress } from '../memorycluster/stores.ts';
import type { StoreComponent } from '../stores/access.ts';
import type { StoreSessions } from '../stores/sessions.ts';
import { TenantCredentials } from './credentials.ts';
import { GatewayTenantsReconciler } from './gateway-tenants.ts';
import {
  clusterChangedForTenants,
  TENANT_ID_INDEX,
  TenantMemoryReconciler,
  tenantIdOf,
} from './reconciler.ts';

const keyOf = (o: KubeObject) => `${o.metadata.namespace}/${o.metadata.name}`;

export interface TenantMemoryControllerDeps {
  kafka: TopicAdminPool;
  sessions: StoreSessions;
  managedKafkaAddressOverride?: string;
  events: EventRecorder;
  log: Logger;
  pollIntervalMs: number;
  /** Whether the operator runs in the cluster (it then reaches managed stores through their Services). */
  inCluster: boolean;
  managedStoreAddresses?: Partial<Record<StoreComponent, string>>;
}

export function registerTenantMemoryController(
  manager: Manager,
  deps: TenantMemoryControllerDeps,
): TenantMemoryReconciler {
  const owned = { labelSelector: `${LABELS.managedBy}=${LABEL_VALUES.managedBy}` };
  const tenants = manager
    .cache(Types.TenantMemory)
    .addIndex(CLUSTER_REF_INDEX, clusterRefOf)
    .addIndex(TENANT_ID_INDEX, tenantIdOf);
  const clusters = manager.cache(Types.MemoryCluster);
  const secretsMeta = manager.cache(Types.Secret, { metadataOnly: true });
  const configMaps = manager.cache(Types.ConfigMap, owned);
  const client = manager.client;
  const secrets = new SecretReader(client, secretsMeta);

  const tenantReconciler = new TenantMemoryReconciler({
    client,
    events: deps.events,
    log: deps.log,
    tenants,
    clusters,
    secrets,
    credentials: new TenantCredentials({ client, secrets, secretsMeta, events: deps.events }),
    status: new StatusWriter(client, deps.events, Types.TenantMemory),
    kafka: deps.kafka,
    sessions: deps.sessions,
    ...(deps.managedKafkaAddressOverride
      ? { managedKafkaAddressOverride: deps.managedKafkaAddressOverride }
      : {}),
    managedAddress: (cluster: MemoryCluster, component: StoreComponent) =>
      deps.managedStoreAddresses?.[component] ??
      (deps.inCluster ? managedServiceAddress(cluster, component) : undefined),
    pollIntervalMs: deps.pollIntervalMs,
  });
  const enqueueTenant = manager.register(tenantReconciler);
  const files = new GatewayTenantsReconciler({
    client,
    clusters,
    tenants,
    secretsMeta,
    applier: new Applier(client, [configMaps]),
  });
  const enqueueCluster = manager.register(files);

  const tenantsOf = (mc: KubeObject) => tenants.byIndex(CLUSTER_REF_INDEX, keyOf(mc));
  const tenantChanged = (o: KubeObject) => {
    enqueueTenant(keyOf(o));
    for (const k of clusterRefOf(o)) enqueueCluster(k, CHILD_EVENT_DELAY_MS);
  };
  tenants.on({
    add: tenantChanged,
    update: (a, b) => specChanged(a, b) && tenantChanged(b),
    delete: tenantChanged,
  });
  // The cluster's stores becoming ready (or not) decides what a tenant can do: every status change counts.
  clusters.on({
    add: (mc) => {
      enqueueCluster(keyOf(mc));
      for (const tm of tenantsOf(mc)) enqueueTenant(keyOf(tm));
    },
    // Only what a tenant reads of its cluster: each tenant's status write changes the cluster's
    // summary columns, and re-reconciling every tenant for that would loop over all of them.
    update: (a, mc) => {
      if (!clusterChangedForTenants(a, mc)) return;
      for (const tm of tenantsOf(mc)) enqueueTenant(keyOf(tm), CHILD_EVENT_DELAY_MS);
    },
    delete: (mc) => {
      for (const tm of tenantsOf(mc)) enqueueTenant(keyOf(tm));
    },
  });
  // A tenant's credentials Secret changed: its tenant, and the cluster's key files (the hash annotation).
  const toTenant = toControllingOwner('TenantMemory', enqueueTenant, CHILD_EVENT_DELAY_MS);
  const childChanged = (s: KubeObject) => {
    toTenant.add?.(s);
    const cluster = s.metadata.labels?.[LABELS.cluster];
    if (cluster && s.metadata.labels?.[LABELS.managedBy] === LABEL_VALUES.managedBy)
      enqueueCluster(`${s.metadata.namespace}/${cluster}`, CHILD_EVENT_DELAY_MS);
  };
  secretsMeta.on({
    add: childChanged,
    update: (a, b) => a.metadata.resourceVersion !== b.metadata.resourceVersion && childChanged(b),
    delete: childChanged,
  });
  configMaps.on({
    add: childChanged,
    update: (a, b) => a.metadata.resourceVersion !== b.metadata.resourceVersion && childChanged(b),
    delete: childChanged,
  });
  return tenantReconciler;
}
