/**
 * The tenant's Neo4j schema: with label isolation (Community) a lookup index on the tenant's nodes
 * and the tenant's chunk vector index; with database isolation (Enterprise) its own database.
 * Every statement is idempotent (IF NOT EXISTS); the adapter runs only the missing ones.
 */
import { chunkVectorIndexStatement, graphNames, tenantDatabase } from '../../../runtime/contract/stores.ts';

export interface SchemaItem {
  name: string;
  statement: string;
}

export const tenantDocumentIndex = (tenantId: string): string =>
  `engram_tenant_document_${graphNames.tenantLabel(tenantId).slice('Tenant_'.length)}`;

export function tenantGraphSchema(tenantId: string, dimensions: number): SchemaItem[] {
  const label = graphNames.tenantLabel(tenantId);
  return [
    {
      name: tenantDocumentIndex(tenantId),
      statement: `CREATE INDEX ${tenantDocumentIndex(tenantId)} IF NOT EXISTS FOR (n:${label}) ON (n.documentId)`,
    },
    {
      name: graphNames.chunkVectorIndex(tenantId),
      statement: chunkVectorIndexStatement(tenantId, dimensions),
    },
  ];
}

/** Names of the tenant's indexes, dropped with its data on deletionPolicy Delete. */
export const tenantIndexNames = (tenantId: string): string[] =>
  tenantGraphSchema(tenantId, 1).map((i) => i.name);

/** The tenant's database, under tenantIsolation Database. */
export const tenantDatabaseStatement = (tenantId: string): SchemaItem => ({
  name: tenantDatabase(tenantId),
  statement: `CREATE DATABASE \`${tenantDatabase(tenantId)}\` IF NOT EXISTS`,
});
