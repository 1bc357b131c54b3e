/**
 * The three kinds as the API server knows them: names, printer columns, subresources, selectable
 * fields and root-level rules, next to their spec/status schemas. hack/generate-crds.ts turns each
 * entry into crds/<plural>.yaml; nothing else about the CRDs is written by hand.
 */
import type { z } from 'zod';
import { type CelRule, nameRule } from './common.ts';
import { memoryClusterSpecSchema, memoryClusterStatusSchema } from './memorycluster.ts';
import { tenantMemorySpecSchema, tenantMemoryStatusSchema } from './tenantmemory.ts';
import { GROUP, VERSION } from './wellknown.ts';
import { workerPoolSpecSchema, workerPoolStatusSchema } from './workerpool.ts';

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description: string;
  /** 1: shown only with `kubectl get -o wide`. */
  priority?: number;
}

export interface KindDefinition {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  description: string;
  spec: z.ZodType;
  status: z.ZodType;
  printerColumns: PrinterColumn[];
  /** Paths usable in `kubectl get --field-selector` (selectableFields). */
  selectableFields: string[];
  /** /scale subresource paths. */
  scale?: { specReplicasPath: string; statusReplicasPath: string; labelSelectorPath: string };
  /** Rules on the whole object (only these can read metadata.name). */
  rootRules: CelRule[];
}

export const CATEGORY = 'engram';

const readyStatus = '.status.conditions[?(@.type=="Ready")].status';
const readyReason = '.status.conditions[?(@.type=="Ready")].reason';
const readyMessage = '.status.conditions[?(@.type=="Ready")].message';
const age: PrinterColumn = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
  description: 'Time since creation.',
};

export const memoryClusterKind: KindDefinition = {
  kind: 'MemoryCluster',
  plural: 'memoryclusters',
  singular: 'memorycluster',
  shortNames: ['mc'],
  description:
    'MemoryCluster is one AI memory cluster: the Kafka topics of the ingest/query pipeline, a Neo4j graph store, a Redis cache, and the embedding and extraction settings its WorkerPools and TenantMemories share.',
  spec: memoryClusterSpecSchema,
  status: memoryClusterStatusSchema,
  printerColumns: [
    { name: 'Ready', type: 'string', jsonPath: readyStatus, description: 'Ready condition status.' },
    { name: 'Reason', type: 'string', jsonPath: readyReason, description: 'Reason of the Ready condition.' },
    {
      name: 'Tenants',
      type: 'integer',
      jsonPath: '.status.tenants',
      description: 'TenantMemories of the cluster.',
    },
    {
      name: 'Workers',
      type: 'string',
      jsonPath: '.status.workers.summary',
      description: 'Ready/desired worker replicas across pools.',
    },
    {
      name: 'Lag',
      type: 'integer',
      jsonPath: '.status.totalLag',
      description: 'Total consumer lag (messages).',
    },
    age,
    {
      name: 'Message',
      type: 'string',
      jsonPath: readyMessage,
      description: 'Ready condition message.',
      priority: 1,
    },
  ],
  selectableFields: [],
  rootRules: [nameRule('MemoryCluster', 40, 'Services and StatefulSets are named after it')],
};

export const tenantMemoryKind: KindDefinition = {
  kind: 'TenantMemory',
  plural: 'tenantmemories',
  singular: 'tenantmemory',
  shortNames: ['tm'],
  description:
    "TenantMemory is one tenant's memory inside a MemoryCluster: its isolation in Kafka, Neo4j and Redis, its quotas, retention and decay, and the Secret with its gateway API key.",
  spec: tenantMemorySpecSchema,
  status: tenantMemoryStatusSchema,
  printerColumns: [
    { name: 'Cluster', type: 'string', jsonPath: '.spec.clusterRef.name', description: 'MemoryCluster.' },
    { name: 'Tenant', type: 'string', jsonPath: '.spec.tenantId', description: 'Tenant identifier.' },
    { name: 'Ready', type: 'string', jsonPath: readyStatus, description: 'Ready condition status.' },
    age,
    { name: 'Reason', type: 'string', jsonPath: readyReason, description: 'Reason of Ready.', priority: 1 },
  ],
  selectableFields: ['.spec.clusterRef.name', '.spec.tenantId'],
  rootRules: [],
};

export const workerPoolKind: KindDefinition = {
  kind: 'WorkerPool',
  plural: 'workerpools',
  singular: 'workerpool',
  shortNames: ['wp'],
  description:
    'WorkerPool is a scalable pool of engram-runtime workers for one role of a MemoryCluster, optionally with GPUs and consumer-lag autoscaling.',
  spec: workerPoolSpecSchema,
  status: workerPoolStatusSchema,
  printerColumns: [
    { name: 'Cluster', type: 'string', jsonPath: '.spec.clusterRef.name', description: 'MemoryCluster.' },
    { name: 'Role', type: 'string', jsonPath: '.spec.role', description: 'Runtime role.' },
    { name: 'Replicas', type: 'integer', jsonPath: '.status.replicas', description: 'Pods of the pool.' },
    { name: 'Ready', type: 'integer', jsonPath: '.status.readyReplicas', description: 'Ready pods.' },
    { name: 'Lag', type: 'integer', jsonPath: '.status.lag', description: 'Consumer-group lag (messages).' },
    age,
    { name: 'Reason', type: 'string', jsonPath: readyReason, description: 'Reason of Ready.', priority: 1 },
  ],
  selectableFields: ['.spec.clusterRef.name', '.spec.role'],
  scale: {
    specReplicasPath: '.spec.replicas',
    statusReplicasPath: '.status.replicas',
    labelSelectorPath: '.status.selector',
  },
  rootRules: [nameRule('WorkerPool', 40, 'its Deployment, Service and HPA are named after it')],
};

export const KINDS: readonly KindDefinition[] = [memoryClusterKind, tenantMemoryKind, workerPoolKind];

export { GROUP, VERSION };
