// TenantMemory against external-mode MemoryClusters on the local Redis and Neo4j, with the operator
// as a real process: the tenant's Redis user reaches only its prefix, Delete purges keys, nodes and
// user, Retain keeps them, an unreachable store never holds deletion past the finalizer timeout, a
// resync of an unchanged tenant writes nothing, and a real gateway accepts and drops tenants from
// the files the operator maintains.
import assert from 'node:assert/strict';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import neo4j from 'neo4j-driver';
import type { KubeObject } from '../../operator/kube/client.ts';
import { Types } from '../../operator/kube/resources.ts';
import { graphNames, redisKeys, tenantRedisPrefix, tenantRedisUser } from '../../runtime/contract/stores.ts';
import {
  apiKeyHash,
  gatewayTenantQuotasConfigMapName,
  gatewayTenantsSecretName,
  parseTenantKeyFile,
  TENANT_QUOTAS_FILE_KEY,
  tenantQuotasFileSchema,
} from '../../runtime/contract/tenants.ts';
import { startGateway, type TestGateway } from '../runtime/gateway-fixtures.ts';
import { requireDevEnv } from '../support/devenv.ts';
import { conditionOf, createNamespace, deleteNamespace, installCrds, kubeClient } from '../support/kube.ts';
import { type OperatorProcess, startOperator } from '../support/operator.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { deleteTopicsWithPrefix, topicsWithPrefix } from '../support/topics.ts';
import { eventually, uniqueName } from '../support/wait.ts';

const env = requireDevEnv();
const POLL = '2s';

/** Write calls the operator made (everything but reads, watches, its Lease and Events). */
const writeCalls = (op: OperatorProcess) =>
  op.counter('engram_operator_kube_api_calls_total', {
    verb: /^(apply|apply-status|create|patch|patch-status|update|delete)$/,
    resource: /^(?!leases$|events$).*/,
  });

const kafkaWrites = (op: OperatorProcess) =>
  op.counter('engram_operator_kafka_admin_calls_total', {
    verb: /^(createTopics|createPartitions|incrementalAlterConfigs|deleteTopics)$/,
  });

const decode = (data: unknown, key: string) =>
  Buffer.from((data as Record<string, string>)[key] ?? '', 'base64').toString('utf8');

describe('TenantMemory reconciliation (external Redis and Neo4j)', () => {
  const client = kubeClient(env);
  const ns = uniqueName('e2e-tm');
  const prefix = `engram.${ns}`;
  const cluster = uniqueName('tmc');
  const proxied = uniqueName('tmp');
  const perDatabase = uniqueName('tmd');
  const tenant = (s: string) => `${ns}-${s}`;
  const admin = new Redis(env.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  const graph = neo4j.driver(env.NEO4J_URI, neo4j.auth.basic(env.NEO4J_USER, env.NEO4J_PASSWORD));
  let op: OperatorProcess;
  let proxy: TcpProxy;
  let gateway: TestGateway | undefined;

  const mc = (name: string, redisUri: string, neo4jExtra: Record<string, unknown> = {}): KubeObject => ({
    apiVersion: 'engram.dev/v1alpha1',
    kind: 'MemoryCluster',
    metadata: { name, namespace: ns },
    spec: {
      kafka: {
        topicPrefix: `${prefix}.${name}`,
        replicationFactor: 1,
        external: { bootstrapServers: env.KAFKA_BROKERS.split(',') },
      },
      neo4j: { ...neo4jExtra, external: { uri: env.NEO4J_URI, credentialsSecretRef: { name: 'neo4j' } } },
      redis: { external: { uri: redisUri } },
    },
  });
  const tm = (
    name: string,
    spec: Record<string, unknown>,
    annotations: Record<string, string> = {},
  ): KubeObject => ({
    apiVersion: 'engram.dev/v1alpha1',
    kind: 'TenantMemory',
    metadata: { name, namespace: ns, annotations },
    spec,
  });
  const getTm = (name: string) => client.getOrUndefined(Types.TenantMemory, ns, name);
  const ready = (name: string) =>
    eventually(
      `TenantMemory ${name} Ready`,
      async () => {
        const t = await getTm(name);
        return conditionOf(t, 'Ready')?.status === 'True' ? t : undefined;
      },
      { timeoutMs: 60_000 },
    ).catch(async (err) => {
      throw new Error(
        `${(err as Error).message}: ${JSON.stringify((await getTm(name))?.status)}\n${op.logs.slice(-10).join('\n')}`,
      );
    });
  const gone = (name: string, timeoutMs = 60_000) =>
    eventually(`TenantMemory ${name} gone`, async () => !(await getTm(name)), { timeoutMs });
  const credentials = async (name: string) => {
    const s = await client.get(Types.Secret, ns, `${name}-credentials`);
    return {
      apiKey: decode(s.data, 'api-key'),
      user: decode(s.data, 'redis-username'),
      password: decode(s.data, 'redis-password'),
    };
  };
  const asTenant = async (name: string) => {
    const c = await credentials(name);
    const r = new Redis(env.REDIS_URL, {
      lazyConnect: true,
      username: c.user,
      password: c.password,
      maxRetriesPerRequest: 0,
      enableReadyCheck: false,
    });
    await r.connect();
    return r;
  };
  const refused = async (what: string, call: () => Promise<unknown>) => {
    await assert.rejects(call, /NOPERM/, `${what} is refused`);
  };
  const nodesOf = async (tenantId: string) => {
    const { records } = await graph.executeQuery(
      `MATCH (n:${graphNames.tenantLabel(tenantId)}) RETURN count(n) AS c`,
    );
    return records[0]!.get('c').toNumber() as number;
  };
  const seed = async (clusterName: string, tenantId: string, keys: number, nodes: number) => {
    const p = tenantRedisPrefix(clusterName, tenantId);
    for (let i = 0; i < keys; i++) await admin.set(`${p}query:${i}`, 'x', 'EX', 600);
    await graph.executeQuery(
      `UNWIND range(1, $n) AS i CREATE (d:Document:${graphNames.tenantLabel(tenantId)} {tenantId: $t, documentId: 'd' + i})
       CREATE (c:Chunk:${graphNames.tenantLabel(tenantId)} {tenantId: $t})<-[:HAS_CHUNK]-(d)`,
      { n: neo4j.int(nodes / 2), t: tenantId },
    );
  };
  const keysOf = async (clusterName: string, tenantId: string) =>
    (await admin.keys(`${tenantRedisPrefix(clusterName, tenantId)}*`)).length;
  const aclUser = (user: string) => admin.call('ACL', 'GETUSER', user);
  /** Mirrors the gateway Secret into the gateway's keys directory, as the kubelet does for a mounted Secret. */
  const syncKeysDir = async () => {
    const s = await client.get(Types.Secret, ns, gatewayTenantsSecretName(cluster));
    const data = (s.data ?? {}) as Record<string, string>;
    for (const f of readdirSync(gateway!.keysDir))
      if (!f.startsWith('.') && !(f in data)) rmSync(join(gateway!.keysDir, f));
    for (const [k, v] of Object.entries(data))
      writeFileSync(join(gateway!.keysDir, k), Buffer.from(v, 'base64'));
    return data;
  };
  const gatewayStatus = async (tenantId: string, key: string) =>
    (await gateway!.call(`/v1/tenants/${tenantId}/documents`, { key, raw: 'hello', type: 'text/plain' }))
      .status;

  const tenants = [
    tm('orphan', { clusterRef: { name: 'nope' }, tenantId: tenant('o') }),
    tm('alpha', {
      clusterRef: { name: cluster },
      tenantId: tenant('a'),
      deletionPolicy: 'Delete',
      quotas: { ingestDocumentsPerSecond: 7, ingestBurst: 9, maxDocumentSize: '1Mi' },
      retention: { halfLife: '24h', archiveAfter: '48h', deleteAfter: '96h' },
    }),
    tm('beta', { clusterRef: { name: cluster }, tenantId: tenant('b') }),
    tm('delta', { clusterRef: { name: perDatabase }, tenantId: tenant('d') }),
    tm('epsilon', {
      clusterRef: { name: cluster },
      tenantId: tenant('e'),
      dedicatedTopics: true,
      deletionPolicy: 'Delete',
    }),
    tm(
      'gamma',
      { clusterRef: { name: proxied }, tenantId: tenant('c'), deletionPolicy: 'Delete' },
      { 'engram.dev/finalizer-timeout': '8s' },
    ),
  ];

  before(async () => {
    await installCrds(env);
    await createNamespace(env, ns);
    await admin.connect();
    // First, while the broker is idle: a just-created topic may not be listed yet under load.
    for (let attempt = 1; !gateway; attempt++) {
      try {
        gateway = await startGateway(env, { keys: {} });
      } catch (err) {
        if (attempt >= 3) throw err;
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
    const [host, port] = env.REDIS_URL.replace('redis://', '').split(':');
    proxy = await startTcpProxy({ host: host!, port: Number(port) });
    op = await startOperator(env, [
      '--namespaces',
      ns,
      '--no-leader-elect',
      '--poll-interval',
      POLL,
      '--resync-period',
      '3s',
    ]);
    await client.apply(Types.Secret, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'neo4j', namespace: ns },
      stringData: { username: env.NEO4J_USER, password: env.NEO4J_PASSWORD },
    } as KubeObject);
    await client.apply(Types.MemoryCluster, mc(cluster, env.REDIS_URL));
    await client.apply(Types.MemoryCluster, mc(proxied, proxy.url('redis')));
    await client.apply(Types.MemoryCluster, mc(perDatabase, env.REDIS_URL, { tenantIsolation: 'Database' }));
    // Every tenant at once: the cases below then overlap their waits.
    for (const t of tenants) await client.apply(Types.TenantMemory, t);
  });

  after(async () => {
    await gateway?.stop();
    await op?.stop();
    for (const t of ['a', 'b', 'c', 'd', 'e'].map(tenant)) {
      for (const c of [cluster, proxied, perDatabase]) {
        const keys = await admin.keys(`${tenantRedisPrefix(c, t)}*`);
        if (keys.length) await admin.del(...keys);
        await admin.call('ACL', 'DELUSER', tenantRedisUser(c, t));
      }
      await graph.executeQuery(`MATCH (n:${graphNames.tenantLabel(t)}) DETACH DELETE n`);
    }
    await admin.quit();
    await graph.close();
    await proxy?.close();
    await deleteTopicsWithPrefix(env, prefix);
    await deleteNamespace(env, ns);
    client.close();
  });

  it('reports a missing cluster as a condition, not a crash', async () => {
    const t = await eventually('orphan reported', async () => {
      const o = await getTm('orphan');
      return conditionOf(o, 'Ready')?.reason === 'ClusterNotFound' ? o : undefined;
    });
    assert.equal(conditionOf(t, 'Ready')?.status, 'False');
    assert.match(conditionOf(t, 'Ready')!.message, /MemoryCluster nope not found.*fix spec.clusterRef.name/);
    await client.delete(Types.TenantMemory, ns, 'orphan');
  });

  it('detects Neo4j Community under tenantIsolation Database and says what to do', async () => {
    const t = await eventually('delta reported', async () => {
      const d = await getTm('delta');
      return conditionOf(d, 'GraphStoreReady')?.status === 'False' ? d : undefined;
    });
    assert.equal(conditionOf(t, 'GraphStoreReady')?.reason, 'EnterpriseRequired');
    assert.match(conditionOf(t, 'Ready')!.message, /needs Enterprise/);
    assert.equal(conditionOf(t, 'CacheReady')?.status, 'True', 'the Redis side does not wait for the graph');
  });

  it("gives the tenant a Redis user that reaches only the tenant's prefix", async () => {
    const a = tenant('a');
    const b = tenant('b');
    const alpha = await ready('alpha');
    await ready('beta');
    const status = alpha.status as Record<string, unknown>;
    assert.equal(status.credentialsSecretName, 'alpha-credentials');
    assert.equal(status.redisUser, tenantRedisUser(cluster, a));
    assert.equal(status.redisKeyPrefix, tenantRedisPrefix(cluster, a));
    assert.deepEqual(alpha.metadata.finalizers, ['engram.dev/tenant-data']);
    const secret = await client.get(Types.Secret, ns, 'alpha-credentials');
    assert.equal(secret.metadata.ownerReferences?.[0]?.uid, alpha.metadata.uid);
    assert.equal(decode(secret.data, 'api-key').length, 43, '32 random bytes, base64url');
    assert.ok(!JSON.stringify(alpha).includes(decode(secret.data, 'api-key')), 'no key in the TenantMemory');
    assert.ok(
      !op.logs.some(
        (l) =>
          l.includes(decode(secret.data, 'api-key')) || l.includes(decode(secret.data, 'redis-password')),
      ),
      'no credential in the operator log',
    );

    const r = await asTenant('alpha');
    try {
      const own = `${tenantRedisPrefix(cluster, a)}query:q1`;
      assert.equal(await r.set(own, 'pending', 'EX', 60), 'OK');
      assert.equal(await r.get(own), 'pending');
      assert.equal(await r.del(own), 1);
      await refused("another tenant's key", () => r.get(`${tenantRedisPrefix(cluster, b)}query:q1`));
      await refused("another tenant's key (write)", () => r.set(`${tenantRedisPrefix(cluster, b)}x`, '1'));
      await refused('the rate limit (control prefix)', () => r.hgetall(redisKeys.rateLimit(cluster, a)));
      await refused('an idempotency record', () => r.del(redisKeys.document(cluster, a, 'doc-1')));
      await refused('a key of no prefix', () => r.get('unrelated'));
      await refused('CONFIG', () => r.config('GET', 'maxmemory'));
      await refused('FLUSHALL', () => r.flushall());
      await refused('KEYS', () => r.keys('*'));
      await refused('SCAN', () => r.scan('0'));
      await refused('EVAL', () => r.eval('return 1', 0));
      await refused('ACL', () => r.call('ACL', 'LIST'));
    } finally {
      r.disconnect();
    }

    // The gateway files: hashes of both keys (never the keys), quotas and retention through the contract.
    const files = await eventually('gateway files list both tenants', async () => {
      const s = await client.getOrUndefined(Types.Secret, ns, gatewayTenantsSecretName(cluster));
      const data = (s?.data ?? {}) as Record<string, string>;
      return a in data && b in data ? data : undefined;
    });
    const keyA = (await credentials('alpha')).apiKey;
    assert.deepEqual(parseTenantKeyFile(decode(files, a)).hashes, [apiKeyHash(keyA)]);
    assert.ok(!Object.values(files).some((v) => decode({ v }, 'v').includes(keyA)));
    const cm = await client.get(Types.ConfigMap, ns, gatewayTenantQuotasConfigMapName(cluster));
    const quotas = tenantQuotasFileSchema.parse(
      JSON.parse((cm.data as Record<string, string>)[TENANT_QUOTAS_FILE_KEY]!),
    );
    assert.deepEqual(quotas[a], {
      documentsPerSecond: 7,
      burst: 9,
      queriesPerSecond: 20,
      maxDocumentSizeBytes: 1048576,
      retention: { halfLifeSeconds: 86400, archiveAfterSeconds: 172800, deleteAfterSeconds: 345600 },
    });
    assert.equal(quotas[b]?.documentsPerSecond, 50);
  });

  it('a resync of unchanged tenants makes zero writes', async () => {
    // At rest means after both are Ready: a tenant still settling may rightly write.
    await Promise.all([ready('epsilon'), ready('gamma')]);
    const before = await writeCalls(op);
    const kafkaBefore = await kafkaWrites(op);
    const logsBefore = op.logs.length;
    // Several resyncs (3s) and polls (2s) of both tenants, both clusters and the gateway files.
    await new Promise((r) => setTimeout(r, 6_000));
    assert.equal(await writeCalls(op), before, 'no write at rest');
    assert.equal(await kafkaWrites(op), kafkaBefore, 'no topic created or deleted at rest');
    // Nor in the stores: the ACL user and the indexes are compared first and were found equal.
    const storeWrites = op.logs
      .slice(logsBefore)
      .filter((l) => /tenant Redis user written|tenant graph schema created/.test(l));
    assert.deepEqual(storeWrites, [], 'no ACL SETUSER, no CREATE INDEX at rest');
  });

  it('a running gateway accepts a new tenant and drops a deleted one without a restart', async () => {
    const keyA = (await credentials('alpha')).apiKey;
    assert.equal(await gatewayStatus(tenant('a'), keyA), 401, 'unknown before the files arrive');
    await syncKeysDir();
    await eventually('gateway accepts alpha', async () => (await gatewayStatus(tenant('a'), keyA)) === 415, {
      timeoutMs: 20_000,
    });
  });

  it('Delete purges the tenant keys, nodes, Redis user and Secret; the gateway refuses it after', async () => {
    const a = tenant('a');
    await seed(cluster, a, 5, 6);
    // Usage is counted from the graph at most every poll interval and written when it changed.
    const counted = await eventually('usage counted', async () => {
      const u = ((await getTm('alpha'))?.status as { usage?: Record<string, number> } | undefined)?.usage;
      return u?.nodes === 6 ? u : undefined;
    });
    assert.equal(counted.documents, 3);
    assert.equal(counted.relationships, 3);
    const keyA = (await credentials('alpha')).apiKey;
    assert.equal(await keysOf(cluster, a), 5);
    await client.delete(Types.TenantMemory, ns, 'alpha');
    await gone('alpha');
    assert.equal(await keysOf(cluster, a), 0, 'keys purged');
    assert.equal(await nodesOf(a), 0, 'nodes purged');
    assert.equal(await aclUser(tenantRedisUser(cluster, a)), null, 'ACL user removed');
    assert.equal(
      await client.getOrUndefined(Types.Secret, ns, 'alpha-credentials'),
      undefined,
      'Secret removed',
    );
    await eventually('alpha leaves the gateway files', async () => !(a in (await syncKeysDir())));
    await eventually('gateway refuses alpha', async () => (await gatewayStatus(a, keyA)) === 401, {
      timeoutMs: 20_000,
    });
  });

  it('Retain keeps the tenant keys, nodes and Redis user', async () => {
    const b = tenant('b');
    await seed(cluster, b, 3, 4);
    await client.delete(Types.TenantMemory, ns, 'beta');
    await gone('beta');
    assert.equal(await keysOf(cluster, b), 3);
    assert.equal(await nodesOf(b), 4);
    assert.notEqual(await aclUser(tenantRedisUser(cluster, b)), null);
  });

  it('dedicated topics: created on the broker and claimed in status, deleted with the tenant', async () => {
    const e = tenant('e');
    const t = await ready('epsilon');
    const tenantPrefix = `${prefix}.${cluster}.tenant.${e}`;
    const topics = (t.status as { topics?: string[] }).topics ?? [];
    assert.equal(topics.length, 7);
    assert.ok(
      topics.every((n) => n.startsWith(tenantPrefix)),
      `${topics}`,
    );
    assert.equal(conditionOf(t, 'TopicsReady')?.status, 'True');
    const onBroker = await topicsWithPrefix(env, tenantPrefix);
    assert.deepEqual([...onBroker.keys()].sort(), [...topics].sort());
    assert.equal(
      onBroker.get(`${tenantPrefix}.ingest.raw`),
      (await topicsWithPrefix(env, `${prefix}.${cluster}`)).get(`${prefix}.${cluster}.ingest.raw`),
      'same partitions as the cluster topic',
    );
    await client.delete(Types.TenantMemory, ns, 'epsilon');
    await gone('epsilon');
    await eventually(
      'tenant topics deleted',
      async () => (await topicsWithPrefix(env, tenantPrefix)).size === 0,
      {
        timeoutMs: 20_000,
      },
    );
  });

  it('an unreachable store never holds deletion past the finalizer timeout', async () => {
    const gamma = await ready('gamma');
    proxy.blackhole(); // Redis now accepts connections and never answers.
    const started = Date.now();
    await client.delete(Types.TenantMemory, ns, 'gamma');
    await gone('gamma', 45_000);
    const took = Date.now() - started;
    const events = (await client.list(Types.Event, ns)).items.filter(
      (e) => (e as { regarding?: { uid?: string } }).regarding?.uid === gamma.metadata.uid,
    );
    const reasons = events.map((e) => (e as { reason?: string }).reason);
    const abandoned = events.find((e) => (e as { reason?: string }).reason === 'TenantPurgeAbandoned') as
      | { note?: string }
      | undefined;
    assert.ok(abandoned, `giving up is reported: ${reasons}`);
    assert.match(abandoned.note ?? '', /gave up after .*Redis/);
    // The timeout (8 s), plus one bounded call in flight and the try that crossed it (5 s each).
    assert.ok(took < 25_000, `deleted in ${took} ms`);
    proxy.heal();
  });
});
