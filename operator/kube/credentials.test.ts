import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { loadApiCredentials } from './credentials.ts';

const dir = mkdtempSync(join(tmpdir(), 'engram-kubeconfig-'));
function kubeconfig(name: string, doc: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, stringify(doc));
  return path;
}
const base = (user: Record<string, unknown>, cluster: Record<string, unknown> = {}) => ({
  'current-context': 'c',
  contexts: [{ name: 'c', context: { cluster: 'k', user: 'u' } }],
  clusters: [{ name: 'k', cluster: { server: 'https://10.0.0.1:6443', ...cluster } }],
  users: [{ name: 'u', user }],
});

test('a bearer token and inline CA and client certificate', async () => {
  const creds = loadApiCredentials(
    kubeconfig('token.yaml', {
      ...base(
        {
          token: 'abc',
          'client-certificate-data': Buffer.from('CERT').toString('base64'),
          'client-key-data': Buffer.from('KEY').toString('base64'),
        },
        { 'certificate-authority-data': Buffer.from('CA').toString('base64') },
      ),
    }),
  );
  assert.equal(creds.server, 'https://10.0.0.1:6443');
  assert.deepEqual(await creds.headers(), { authorization: 'Bearer abc' });
  const tls = await creds.tls();
  assert.equal(tls.ca?.toString(), 'CA');
  assert.equal(tls.cert?.toString(), 'CERT');
  assert.equal(tls.key?.toString(), 'KEY');
  assert.equal(tls.rejectUnauthorized, undefined);
});

test('a token file relative to the kubeconfig is read again on each call (tokens rotate)', async () => {
  writeFileSync(join(dir, 'tok'), 'first\n');
  const creds = loadApiCredentials(
    kubeconfig('tokenfile.yaml', base({ tokenFile: 'tok' }, { 'insecure-skip-tls-verify': true })),
  );
  assert.deepEqual(await creds.headers(), { authorization: 'Bearer first' });
  writeFileSync(join(dir, 'tok'), 'second\n');
  assert.deepEqual(await creds.headers(), { authorization: 'Bearer second' });
  assert.equal((await creds.tls()).rejectUnauthorized, false);
});

test('certificate files relative to the kubeconfig, basic auth', async () => {
  writeFileSync(join(dir, 'ca.crt'), 'FILE-CA');
  const creds = loadApiCredentials(
    kubeconfig(
      'files.yaml',
      base({ username: 'ann', password: 'pw' }, { 'certificate-authority': 'ca.crt' }),
    ),
  );
  assert.equal((await creds.tls()).ca?.toString(), 'FILE-CA');
  assert.deepEqual(await creds.headers(), {
    authorization: `Basic ${Buffer.from('ann:pw').toString('base64')}`,
  });
});

test('$KUBECONFIG lists files merged as kubectl does: the first definition of a name wins', async () => {
  const a = kubeconfig('a.yaml', {
    'current-context': 'c',
    contexts: [{ name: 'c', context: { cluster: 'k', user: 'u' } }],
  });
  const b = kubeconfig('b.yaml', {
    clusters: [{ name: 'k', cluster: { server: 'https://b:6443' } }],
    users: [{ name: 'u', user: { token: 'from-b' } }],
  });
  const saved = process.env.KUBECONFIG;
  process.env.KUBECONFIG = `${a}:${b}`;
  try {
    const creds = loadApiCredentials();
    assert.equal(creds.server, 'https://b:6443');
    assert.deepEqual(await creds.headers(), { authorization: 'Bearer from-b' });
  } finally {
    if (saved === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = saved;
  }
});

test('no current cluster, or an unreadable file: an error that says what to set', () => {
  assert.throws(
    () => loadApiCredentials(kubeconfig('empty.yaml', {})),
    /no current cluster: set --kubeconfig/,
  );
  assert.throws(
    () => loadApiCredentials(join(dir, 'missing.yaml')),
    /cannot read kubeconfig .*missing\.yaml/,
  );
});

test('an exec plugin is left to client-node, loaded only then', () => {
  const creds = loadApiCredentials(
    kubeconfig(
      'exec.yaml',
      base({ exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'true' } }),
    ),
  );
  assert.equal(creds.server, 'https://10.0.0.1:6443');
});
