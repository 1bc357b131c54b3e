import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { apiKeyHash, parseTenantKeyFile } from '../../../runtime/contract/tenants.ts';
import type { MemoryCluster } from '../../api/memorycluster.ts';
import type { TenantMemory } from '../../api/tenantmemory.ts';
import {
  buildGatewayTenantsSecret,
  CONTENT_DIGEST_ANNOTATION,
  tenantIdOwners,
  tenantQuota,
} from './gateway.ts';
import { aclSetUserRules, aclUserDrift, desiredAclUser, parseAclGetUser, passwordHash } from './redis.ts';
import { tenantTopics } from './topics.ts';

const tm = (name: string, tenantId: string, created: string, spec: Partial<TenantMemory['spec']> = {}) =>
  ({
    apiVersion: 'engram.dev/v1alpha1',
    kind: 'TenantMemory',
    metadata: { name, namespace: 'ns', creationTimestamp: created, uid: `uid-${name}` },
    spec: { clusterRef: { name: 'prod' }, tenantId, deletionPolicy: 'Retain', ...spec },
  }) as TenantMemory;
const cluster = {
  metadata: { name: 'prod', namespace: 'ns', uid: 'mc' },
  spec: {},
} as unknown as MemoryCluster;

describe('tenant Redis ACL user', () => {
  const want = desiredAclUser('prod', 'acme', passwordHash('s3cret'));

  it('scopes keys to the tenant prefix, resets first and never sends the password in clear', () => {
    const rules = aclSetUserRules(want);
    assert.equal(rules[0], 'reset');
    assert.ok(rules.includes('~engram:prod:t:acme:*'));
    assert.ok(rules.includes('-@all') && rules.includes('+get') && !rules.includes('+keys'));
    assert.ok(!rules.some((r) => r.includes('s3cret')));
  });

  it('finds no drift in what Redis reports back for the same user, and names what differs', () => {
    const reply = [
      'flags',
      ['on', 'sanitize-payload'],
      'passwords',
      [...want.passwordHashes],
      'commands',
      [...want.commands].reverse().join(' '),
      'keys',
      '~engram:prod:t:acme:*',
      'channels',
      '',
      'selectors',
      [],
    ];
    assert.equal(aclUserDrift(parseAclGetUser(reply), want), undefined);
    assert.equal(aclUserDrift(parseAclGetUser(null), want), 'missing');
    assert.equal(
      aclUserDrift(parseAclGetUser(reply.map((v) => (v === '~engram:prod:t:acme:*' ? '~*' : v))), want),
      'key pattern',
    );
    assert.equal(
      aclUserDrift({ ...want, commands: new Set([...want.commands, '+flushall']) }, want),
      'commands',
    );
    assert.equal(aclUserDrift({ ...want, passwordHashes: ['00'] }, want), 'password');
  });
});

describe('gateway tenant files', () => {
  it('gives a tenant id to the oldest TenantMemory claiming it', () => {
    const owners = tenantIdOwners([
      tm('late', 'acme', '2026-12-02T00:00:00Z'),
      tm('first', 'acme', '2026-12-01T00:00:00Z'),
      tm('other', 'globex', '2026-12-03T00:00:00Z'),
    ]);
    assert.equal(owners.get('acme'), 'first');
    assert.equal(owners.get('globex'), 'other');
  });

  it('passes quotas and retention with defaults, in the runtime contract units', () => {
    assert.deepEqual(tenantQuota(tm('a', 'a', '')), {
      documentsPerSecond: 50,
      burst: 100,
      queriesPerSecond: 20,
      retention: { halfLifeSeconds: 720 * 3600 },
    });
    const q = tenantQuota(
      tm('a', 'a', '', {
        quotas: { maxDocuments: 10, maxDocumentSize: '2Ki' },
        retention: { deleteAfter: '1h' },
      }),
    );
    assert.equal(q.maxDocuments, 10);
    assert.equal(q.maxDocumentSizeBytes, 2048);
    assert.equal(q.retention?.deleteAfterSeconds, 3600);
  });

  it('holds key hashes only, with a digest independent of tenant order', () => {
    const a = { tenantId: 'a', hashes: [apiKeyHash('key-a')], quota: tenantQuota(tm('a', 'a', '')) };
    const b = { tenantId: 'b', hashes: [apiKeyHash('key-b')], quota: tenantQuota(tm('b', 'b', '')) };
    const one = buildGatewayTenantsSecret(cluster, [a, b]);
    const two = buildGatewayTenantsSecret(cluster, [b, a]);
    assert.equal(one.metadata.name, 'prod-gateway-tenants');
    assert.deepEqual(one, two);
    const file = Buffer.from((one.data as Record<string, string>).a!, 'base64').toString('utf8');
    assert.deepEqual(parseTenantKeyFile(file).hashes, [apiKeyHash('key-a')]);
    assert.ok(!file.includes('key-a'));
    assert.notEqual(
      buildGatewayTenantsSecret(cluster, [a]).metadata.annotations?.[CONTENT_DIGEST_ANNOTATION],
      one.metadata.annotations?.[CONTENT_DIGEST_ANNOTATION],
    );
    assert.equal(one.metadata.ownerReferences?.[0]?.controller, false);
  });
});

describe('tenant topics', () => {
  it("are the cluster's topics under <prefix>.tenant.<tenantId>, same shape", () => {
    const mc = {
      metadata: { name: 'prod', namespace: 'ns' },
      spec: { kafka: { topicPrefix: 'engram.prod', topics: { 'ingest.raw': { partitions: 12 } } } },
    } as unknown as MemoryCluster;
    const topics = tenantTopics(mc, 'acme');
    assert.equal(topics.length, 7);
    assert.ok(topics.every((t) => t.name.startsWith('engram.prod.tenant.acme.')));
    assert.equal(topics.find((t) => t.name === 'engram.prod.tenant.acme.ingest.raw')?.partitions, 12);
  });
});
