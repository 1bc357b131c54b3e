import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { createServingCert, servingCertFits } from './serving-cert.ts';

const hosts = [
  'engram-operator-external-metrics.engram-system.svc',
  'engram-operator-external-metrics',
  '10.254.0.1',
];

describe('self-signed serving certificate', () => {
  it('parses, is self-signed, covers every host and nothing else, and is valid for the asked days', () => {
    const now = new Date('2026-12-03T00:00:00Z');
    const pair = createServingCert(hosts, 365, now);
    const x = new X509Certificate(pair.cert);
    assert.ok(x.verify(x.publicKey), 'signed by its own key');
    assert.ok(x.ca, 'its own CA (the caBundle)');
    assert.equal(x.checkHost(hosts[0]!), hosts[0]);
    assert.equal(x.checkIP('10.254.0.1'), '10.254.0.1');
    assert.equal(x.checkHost('kubernetes.default.svc'), undefined);
    assert.equal(new Date(x.validTo).getTime(), now.getTime() + 365 * 86_400_000 - (now.getTime() % 1000));
    assert.ok(servingCertFits(pair, hosts, 30, now));
    assert.ok(!servingCertFits(pair, ['other.svc'], 30, now), 'another host');
    assert.ok(
      !servingCertFits(pair, hosts, 30, new Date(now.getTime() + 340 * 86_400_000)),
      'due for renewal',
    );
    const other = createServingCert(hosts);
    assert.ok(!servingCertFits({ cert: pair.cert, key: other.key }, hosts, 30, now), 'key of another cert');
  });

  it('dates past 2049 are GeneralizedTime (RFC 5280), still parsed', () => {
    const x = new X509Certificate(createServingCert(hosts, 365, new Date('2049-06-01T00:00:00Z')).cert);
    assert.match(x.validTo, /2050/);
  });

  it('a TLS client that trusts only the certificate connects by the Service name', async () => {
    const pair = createServingCert(hosts);
    const server = https.createServer({ cert: pair.cert, key: pair.key }, (_req, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const body = await new Promise<string>((resolve, reject) => {
        https
          .get(
            {
              host: '127.0.0.1',
              port: (server.address() as AddressInfo).port,
              servername: hosts[0],
              ca: pair.cert,
              checkServerIdentity: (_h, cert) =>
                new X509Certificate(cert.raw).checkHost(hosts[0]!) ? undefined : new Error('name'),
            },
            (res) => {
              let b = '';
              res.on('data', (c) => {
                b += c;
              });
              res.on('end', () => resolve(b));
            },
          )
          .on('error', reject);
      });
      assert.equal(body, 'ok');
    } finally {
      server.close();
    }
  });

  it('refuses to make a certificate for no host', () => {
    assert.throws(() => createServingCert([]), /at least one host/);
  });
});
