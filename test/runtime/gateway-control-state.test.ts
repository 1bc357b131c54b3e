// Control state (idempotency records, rate-limit buckets) against a real Redis of this test's own,
// configured as the operator configures a managed one: a cache filled past maxmemory cannot evict
// it, a tenant's ACL user (limited to the tenant's key prefix) cannot reach it, and records still
// expire, through the gateway's own sweep instead of Redis TTLs.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { DEFAULT_MANAGED_REDIS } from '../../operator/api/defaults.ts';
import { controlRedisPrefix, redisKeys, tenantRedisPrefix } from '../../runtime/contract/stores.ts';
import { createLogger } from '../../runtime/observability/log.ts';
import { ControlExpiry } from '../../runtime/roles/gateway/control-state.ts';
import { DocumentIdempotency } from '../../runtime/roles/gateway/idempotency.ts';
import { TenantRateLimiter } from '../../runtime/roles/gateway/rate-limit.ts';
import { requireDevEnv } from '../support/devenv.ts';
import { eventually, uniqueName } from '../support/wait.ts';
import { freePort, startGateway, type TestGateway } from './gateway-fixtures.ts';

const dev = requireDevEnv();
const KEYS = { acme: 'egk_acme_0123456789abcdef', tiny: 'egk_tiny_x1' };

interface PrivateRedis {
  url: string;
  admin: Redis;
  stop(): Promise<void>;
}

async function startPrivateRedis(args: string[]): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'engram-redis-'));
  const child: ChildProcess = spawn(
    'redis-server',
    [
      '--bind',
      '127.0.0.1',
      '--port',
      String(port),
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      ...args,
    ],
    { stdio: 'ignore' },
  );
  const admin = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 });
  admin.on('error', () => undefined); // refused until the server listens; the probe below retries
  await eventually(
    'private redis up',
    async () => {
      await admin.connect().catch(() => undefined);
      return (await admin.ping()) === 'PONG';
    },
    { timeoutMs: 10_000, intervalMs: 100 },
  );
  return {
    url: `redis://127.0.0.1:${port}`,
    admin,
    async stop() {
      admin.disconnect();
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('gateway control state in a managed-style Redis', () => {
  let redis: PrivateRedis;
  let gw: TestGateway;

  before(async () => {
    redis = await startPrivateRedis([
      '--maxmemory',
      '8mb',
      '--maxmemory-policy',
      DEFAULT_MANAGED_REDIS.maxMemoryPolicy,
      '--maxmemory-samples',
      '10',
    ]);
    gw = await startGateway(dev, {
      keys: KEYS,
      quotas: { tiny: { documentsPerSecond: 0.01, burst: 3 } },
      env: { ENGRAM_REDIS_URL: redis.url },
    });
  });
  after(async () => {
    await gw?.stop();
    await redis?.stop();
  });

  it('keeps idempotency records and rate-limit buckets when the cache fills Redis past maxmemory', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => `keep-${i}`);
    const doc = (id: string) => ({ id, content: `document ${id} must stay deduplicated` });
    const first = await gw.call('/v1/tenants/acme/documents/batch', {
      key: KEYS.acme,
      body: { documents: ids.map(doc) },
    });
    assert.equal(first.status, 202, first.text);
    assert.equal(first.json.accepted, ids.length);
    for (const id of ['t1', 't2', 't3'])
      assert.equal(
        (await gw.call('/v1/tenants/tiny/documents', { key: KEYS.tiny, body: { id, content: id } })).status,
        202,
      );
    assert.equal(
      (await gw.call('/v1/tenants/tiny/documents', { key: KEYS.tiny, body: { content: 'x' } })).status,
      429,
    );

    // The embed role's cache: vectors with a TTL under the tenant's prefix, 3x maxmemory of them.
    const vector = Buffer.alloc(384 * 4, 7);
    for (let batch = 0; batch < 16; batch++) {
      const p = redis.admin.pipeline();
      for (let i = 0; i < 1000; i++)
        p.set(redisKeys.embedding(gw.cluster, 'acme', `${batch}-${i}`.padEnd(64, '0')), vector, 'EX', 3600);
      await p.exec();
    }
    const stats = await redis.admin.info('stats');
    const evicted = Number(/evicted_keys:(\d+)/.exec(stats)?.[1]);
    assert.ok(evicted > 1000, `the cache was evicted (${evicted} keys): the fill went past maxmemory`);

    const again = await gw.call('/v1/tenants/acme/documents/batch', {
      key: KEYS.acme,
      body: { documents: ids.map(doc) },
    });
    assert.equal(again.status, 202, again.text);
    assert.equal(again.json.duplicates, ids.length, 'every idempotency record survived the eviction');
    const tiny = await gw.call('/v1/tenants/tiny/documents', { key: KEYS.tiny, body: { content: 'y' } });
    assert.equal(tiny.status, 429, 'the rate-limit bucket survived the eviction');
  });

  it('keeps control keys out of every tenant prefix and without a TTL', async () => {
    const control = controlRedisPrefix(gw.cluster);
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.admin.scan(cursor, 'MATCH', `${control}*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    assert.ok(
      keys.includes(redisKeys.rateLimit(gw.cluster, 'acme')),
      'the bucket lives under the control prefix',
    );
    assert.ok(keys.includes(redisKeys.document(gw.cluster, 'acme', 'keep-0')));
    for (const tenant of ['acme', 'tiny'])
      assert.ok(!keys.some((k) => k.startsWith(tenantRedisPrefix(gw.cluster, tenant))));
    for (const key of keys) assert.equal(await redis.admin.pttl(key), -1, `${key} must carry no TTL`);
  });

  it("does not let a tenant's ACL user read or reset its own control state", async () => {
    const user = uniqueName('tenant-acme');
    const password = `pw-${Math.random().toString(36).slice(2)}`;
    // What the operator gives a tenant: everything, but only on keys under the tenant's prefix.
    await redis.admin.call(
      'ACL',
      'SETUSER',
      user,
      'on',
      `>${password}`,
      'resetkeys',
      `~${tenantRedisPrefix(gw.cluster, 'acme')}*`,
      '+@all',
    );
    const tenant = new Redis(redis.url, { username: user, password, maxRetriesPerRequest: 1 });
    tenant.on('error', () => undefined);
    try {
      await tenant.set(`${tenantRedisPrefix(gw.cluster, 'acme')}own`, '1');
      for (const key of [
        redisKeys.rateLimit(gw.cluster, 'acme'),
        redisKeys.document(gw.cluster, 'acme', 'keep-0'),
      ]) {
        assert.equal(await redis.admin.exists(key), 1, `${key} exists`);
        await assert.rejects(tenant.del(key), /NOPERM/, `tenant could delete ${key}`);
        await assert.rejects(tenant.get(key), /NOPERM/, `tenant could read ${key}`);
      }
    } finally {
      tenant.disconnect();
      await redis.admin.call('ACL', 'DELUSER', user);
    }
  });
});

describe('control state expiry (gateway classes, real Redis)', () => {
  let redis: Redis;
  before(() => {
    redis = new Redis(dev.REDIS_URL, { maxRetriesPerRequest: 1 });
  });
  after(() => redis?.disconnect());

  it('expires idempotency records by their own deadline and sweeps them away', async () => {
    const cluster = uniqueName('gwx');
    const idem = new DocumentIdempotency(redis, { cluster, ttlSeconds: 1, pendingTtlMs: 300 });
    const expiry = new ControlExpiry(redis, { cluster });
    const doc = { tenantId: 'acme', documentId: 'd1', contentHash: 'a'.repeat(64) };
    assert.deepEqual(await idem.claim([doc]), ['claimed']);
    assert.deepEqual(await idem.claim([doc]), ['in_progress']);
    await new Promise((r) => setTimeout(r, 400));
    assert.deepEqual(await idem.claim([doc]), ['claimed'], 'a pending claim left by a crash expires');
    await idem.confirm([doc]);
    assert.deepEqual(await idem.claim([doc]), ['duplicate']);
    const key = redisKeys.document(cluster, 'acme', 'd1');
    assert.equal(await redis.pttl(key), -1, 'no Redis TTL: eviction policies volatile-* cannot drop it');
    assert.equal(await expiry.sweep(), 0, 'nothing is due yet');
    await new Promise((r) => setTimeout(r, 1100));
    assert.deepEqual(await idem.claim([doc]), ['claimed'], 'expired by its deadline even before a sweep');
    await idem.confirm([doc]);
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal(await expiry.sweep(), 1);
    assert.equal(await redis.exists(key), 0, 'the sweep deleted the expired record');
    assert.equal(await expiry.pending(), 0, 'and its deadline');
  });

  it('sweeps a rate-limit bucket once it has refilled, and never earlier', async () => {
    const cluster = uniqueName('gwx');
    const log = createLogger('error', { role: 'gateway', cluster });
    const limiter = new TenantRateLimiter(redis, {
      cluster,
      defaults: { documentsPerSecond: 10, burst: 5 },
      log,
    });
    const expiry = new ControlExpiry(redis, { cluster });
    assert.equal((await limiter.take('acme', 5)).allowed, true);
    assert.equal((await limiter.take('acme', 1)).allowed, false);
    assert.equal(await expiry.sweep(), 0, 'an empty bucket is state: it stays');
    assert.equal(await redis.exists(redisKeys.rateLimit(cluster, 'acme')), 1);
    await new Promise((r) => setTimeout(r, 1700));
    assert.equal(await expiry.sweep(), 1, 'a full bucket equals no bucket: it goes');
    assert.equal(await redis.exists(redisKeys.rateLimit(cluster, 'acme')), 0);
    assert.equal((await limiter.take('acme', 5)).allowed, true);
  });
});

describe('gateway on a Redis that evicts any key', () => {
  it('warns that allkeys-* can drop its control state and says what to set', async () => {
    const redis = await startPrivateRedis(['--maxmemory', '16mb', '--maxmemory-policy', 'allkeys-lru']);
    const gw = await startGateway(dev, { keys: KEYS, env: { ENGRAM_REDIS_URL: redis.url } });
    try {
      const line = await gw.proc.waitForLog('redis eviction policy can drop control state', 10_000);
      assert.equal(line['policy'], 'allkeys-lru');
      assert.match(String(line['fix']), /volatile-lru|noeviction/);
    } finally {
      await gw.stop();
      await redis.stop();
    }
  });
});
