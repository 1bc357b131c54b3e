/**
 * How the runtime lays out tenant data in Redis and Neo4j. The operator uses the same functions
 * to scope a tenant's Redis ACL user (`~<tenantRedisPrefix>*`) and to purge a tenant's data on
 * `deletionPolicy: Delete` (delete keys by prefix; `MATCH (n:<tenantLabel>) DETACH DELETE n`;
 * drop the tenant's vector index).
 *
 * Redis holds two kinds of keys. Tenant keys (cache, query state) sit under the tenant's prefix and
 * always carry a TTL, so an eviction policy may drop them. Control keys (idempotency records,
 * rate-limit buckets) sit under the cluster's control prefix, which no tenant prefix matches (a
 * tenant's ACL user cannot read or reset them), and carry NO TTL: under the managed default
 * `volatile-lru` (or `noeviction`) Redis never evicts them. They expire by a deadline the gateway
 * checks itself and sweeps from `controlExpiry` (runtime/roles/gateway/control-state.ts).
 * A tenant purge deletes its tenant prefix; its control keys expire on their own.
 */
import { TENANT_ID_PATTERN } from './tenants.ts';

function assertTenantId(tenantId: string): void {
  if (!TENANT_ID_PATTERN.test(tenantId)) throw new Error(`invalid tenant id ${JSON.stringify(tenantId)}`);
}

/** Every Redis key of one tenant starts with this prefix. */
export function tenantRedisPrefix(cluster: string, tenantId: string): string {
  assertTenantId(tenantId);
  return `engram:${cluster}:t:${tenantId}:`;
}

/**
 * Every control key of a cluster starts with this prefix. `c:` can never be a tenant prefix's
 * `t:<tenant>:`, so `~engram:<cluster>:t:<tenant>:*` never matches a control key.
 */
export function controlRedisPrefix(cluster: string): string {
  if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(cluster))
    throw new Error(`invalid cluster name ${JSON.stringify(cluster)}`);
  return `engram:${cluster}:c:`;
}

export const redisKeys = {
  /** Control: token bucket of the gateway's per-tenant rate limit (a hash: tokens, ts). */
  rateLimit: (cluster: string, tenantId: string) => {
    assertTenantId(tenantId);
    return `${controlRedisPrefix(cluster)}ratelimit:${tenantId}`;
  },
  /** Control: idempotency record of a document (a hash: content hash, state, deadline). */
  document: (cluster: string, tenantId: string, documentId: string) => {
    assertTenantId(tenantId);
    return `${controlRedisPrefix(cluster)}doc:${tenantId}:${documentId}`;
  },
  /** Control: token bucket of the extract pool's requests to its LLM endpoint (a hash: tokens, ts). */
  extractionRequests: (cluster: string) => `${controlRedisPrefix(cluster)}extract:requests`,
  /** Control: sorted set of control keys by deadline (ms since epoch, Redis clock), swept by the gateway. */
  controlExpiry: (cluster: string) => `${controlRedisPrefix(cluster)}expiry`,
  /**
   * Cached embedding of a text (Float32 little-endian). `contentHash` covers the model id and
   * variant (runtime/model contentHash), so a new model never reads an old vector. Per tenant,
   * so a tenant cannot probe another's texts through cache timing, and a purge removes it.
   */
  embedding: (cluster: string, tenantId: string, contentHash: string) =>
    `${tenantRedisPrefix(cluster, tenantId)}emb:${contentHash}`,
  /** A query's state: `pending` until the query role writes the JSON result. */
  query: (cluster: string, tenantId: string, queryId: string) =>
    `${tenantRedisPrefix(cluster, tenantId)}query:${queryId}`,
  /**
   * The tenant's write generation: every graph write of the tenant (embed, resolve, evolve)
   * increments it, so query results cached under an older generation are never read again.
   */
  generation: (cluster: string, tenantId: string) => `${tenantRedisPrefix(cluster, tenantId)}gen`,
  /**
   * A cached query result, `<generation>\n<json>`: read with the generation in one MGET, and a
   * value of an older generation is a miss. `queryHash` covers the text and the options.
   */
  queryResult: (cluster: string, tenantId: string, queryHash: string) =>
    `${tenantRedisPrefix(cluster, tenantId)}qr:${queryHash}`,
};

/**
 * The Redis ACL user of one tenant (TenantMemory): keys `~<tenantRedisPrefix>*` only, commands
 * TENANT_REDIS_COMMANDS only, so it can never touch another tenant or the control prefix.
 */
export function tenantRedisUser(cluster: string, tenantId: string): string {
  assertTenantId(tenantId);
  return `engram-${cluster}-t-${tenantId}`;
}

/**
 * What the runtime does with tenant keys (embedding cache, query state): reads, writes with a TTL,
 * deletes. No admin command, no KEYS/SCAN, no scripting (a script could name any key), no pub/sub.
 */
export const TENANT_REDIS_COMMANDS: readonly string[] = [
  'get',
  'mget',
  'set',
  'del',
  'unlink',
  'exists',
  'expire',
  'pexpire',
  'ttl',
  'pttl',
  'hget',
  'hmget',
  'hset',
  'hdel',
  'hgetall',
  'ping',
];

/** Neo4j database of a tenant under tenantIsolation Database (Enterprise): at most 55 characters. */
export function tenantDatabase(tenantId: string): string {
  assertTenantId(tenantId);
  return `engram-${tenantId}`;
}

/** Tenant ids are DNS labels, so '-' -> '_' is injective and yields a valid identifier. */
function tenantIdent(tenantId: string): string {
  assertTenantId(tenantId);
  return tenantId.replaceAll('-', '_');
}

export const graphNames = {
  /** Label carried by every node of the tenant (isolation on Neo4j Community). */
  tenantLabel: (tenantId: string) => `Tenant_${tenantIdent(tenantId)}`,
  /** Label carried by the tenant's chunk nodes: the tenant-scoped vector index is on it. */
  chunkLabel: (tenantId: string) => `Chunk_${tenantIdent(tenantId)}`,
  chunkVectorIndex: (tenantId: string) => `engram_chunk_embedding_${tenantIdent(tenantId)}`,
  chunkIdConstraint: 'engram_chunk_id',
  documentKeyConstraint: 'engram_document_key',
  /** Label carried by the tenant's entity nodes: the tenant's entity-name vector index is on it. */
  entityLabel: (tenantId: string) => `Entity_${tenantIdent(tenantId)}`,
  entityNameVectorIndex: (tenantId: string) => `engram_entity_name_${tenantIdent(tenantId)}`,
  /** One Entity per (tenantId, key): `key` is the normalised name (runtime/roles/resolve). */
  entityKeyConstraint: 'engram_entity_key',
  entityAliasKeyConstraint: 'engram_entity_alias_key',
  /** One resolution lock node per tenant (runtime/roles/resolve/entity-graph.ts). */
  entityLockConstraint: 'engram_entity_resolution_lock',
};

/** Global constraints the embed role ensures at start (idempotent). */
export const GRAPH_SCHEMA_STATEMENTS: readonly string[] = [
  `CREATE CONSTRAINT ${graphNames.chunkIdConstraint} IF NOT EXISTS FOR (c:Chunk) REQUIRE c.chunkId IS UNIQUE`,
  `CREATE CONSTRAINT ${graphNames.documentKeyConstraint} IF NOT EXISTS FOR (d:Document) REQUIRE d.documentKey IS UNIQUE`,
  `CREATE CONSTRAINT ${graphNames.entityKeyConstraint} IF NOT EXISTS FOR (e:Entity) REQUIRE (e.tenantId, e.key) IS UNIQUE`,
  `CREATE CONSTRAINT ${graphNames.entityAliasKeyConstraint} IF NOT EXISTS FOR (a:EntityAlias) REQUIRE (a.tenantId, a.key) IS UNIQUE`,
  `CREATE CONSTRAINT ${graphNames.entityLockConstraint} IF NOT EXISTS FOR (l:EntityResolutionLock) REQUIRE l.tenantId IS UNIQUE`,
];

/** The tenant's chunk vector index (idempotent); dimensions come from the embedding model. */
export function chunkVectorIndexStatement(tenantId: string, dimensions: number): string {
  return vectorIndexStatement(
    graphNames.chunkVectorIndex(tenantId),
    graphNames.chunkLabel(tenantId),
    'embedding',
    dimensions,
  );
}

/** The tenant's entity-name vector index (idempotent): resolution's second stage queries it. */
export function entityNameVectorIndexStatement(tenantId: string, dimensions: number): string {
  return vectorIndexStatement(
    graphNames.entityNameVectorIndex(tenantId),
    graphNames.entityLabel(tenantId),
    'nameEmbedding',
    dimensions,
  );
}

function vectorIndexStatement(index: string, label: string, property: string, dimensions: number): string {
  if (!Number.isInteger(dimensions) || dimensions <= 0) throw new Error(`invalid dimensions ${dimensions}`);
  return (
    `CREATE VECTOR INDEX ${index} IF NOT EXISTS FOR (n:${label}) ON n.${property} ` +
    `OPTIONS {indexConfig: {\`vector.dimensions\`: ${dimensions}, \`vector.similarity_function\`: 'cosine'}}`
  );
}
