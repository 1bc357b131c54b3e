// Redis is real: commands round-trip and ACL users are confined to a key prefix.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { requireDevEnv } from '../support/devenv.ts';
import { uniqueName } from '../support/wait.ts';

describe('redis', () => {
  const env = requireDevEnv();
  const admin = new Redis(env.REDIS_URL, { lazyConnect: true });
  const user = uniqueName('tenant');
  const password = randomBytes(16).toString('hex');

  after(async () => {
    await admin.call('ACL', 'DELUSER', user).catch(() => undefined);
    admin.disconnect();
  });

  it('answers PING and round-trips set/get', async () => {
    await admin.connect();
    assert.equal(await admin.ping(), 'PONG');
    await admin.set(`smoke:${user}`, 'v', 'EX', 60);
    assert.equal(await admin.get(`smoke:${user}`), 'v');
  });

  it('confines an ACL user to its key prefix', async () => {
    await admin.call(
      'ACL',
      'SETUSER',
      user,
      'reset',
      'on',
      `>${password}`,
      `~t:${user}:*`,
      '+@read',
      '+@write',
      '-@dangerous',
      '+ping',
    );
    const tenant = new Redis(env.REDIS_URL, {
      username: user,
      password,
      lazyConnect: true,
      enableReadyCheck: false,
    });
    await tenant.connect();
    try {
      assert.equal(await tenant.set(`t:${user}:k`, '1'), 'OK');
      assert.equal(await tenant.get(`t:${user}:k`), '1');
      await assert.rejects(tenant.get('t:someone-else:k'), /NOPERM/);
      await assert.rejects(tenant.call('FLUSHALL'), /NOPERM/);
    } finally {
      tenant.disconnect();
    }
  });
});
