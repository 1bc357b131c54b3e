import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WORKER_POOL_LAG_METRIC } from '../api/external-metrics.ts';
import { createLogger } from '../controller/logger.ts';
import { workerPoolLagSource } from './lag-source.ts';
import { type ExternalMetricsServer, startExternalMetricsServer } from './server.ts';
import { createServingCert } from './serving-cert.ts';

// A front proxy CA and client certificates made with openssl, as kubeadm makes them.
function frontProxyPki(dir: string) {
  const run = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  run(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=fp-ca',
    '-keyout',
    join(dir, 'ca.key'),
    '-out',
    join(dir, 'ca.crt'),
  );
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  const client = (cn: string) => {
    run(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=${cn}`,
      '-keyout',
      join(dir, `${cn}.key`),
      '-out',
      join(dir, `${cn}.csr`),
    );
    run(
      'x509',
      '-req',
      '-in',
      join(dir, `${cn}.csr`),
      '-CA',
      join(dir, 'ca.crt'),
      '-CAkey',
      join(dir, 'ca.key'),
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      join(dir, 'client.ext'),
      '-out',
      join(dir, `${cn}.crt`),
    );
    return { cert: readFileSync(join(dir, `${cn}.crt`)), key: readFileSync(join(dir, `${cn}.key`)) };
  };
  return {
    ca: readFileSync(join(dir, 'ca.crt'), 'utf8'),
    proxy: client('front-proxy-client'),
    other: client('someone-else'),
  };
}

describe('External Metrics API server: only the front proxy with an allowed name and a named caller', () => {
  const dir = mkdtempSync(join(tmpdir(), 'engram-fp-'));
  const pki = frontProxyPki(dir);
  const serving = createServingCert(['metrics.test.svc']);
  let server: ExternalMetricsServer;

  before(async () => {
    server = await startExternalMetricsServer({
      address: '127.0.0.1:0',
      cert: serving,
      trust: { clientCA: pki.ca, allowedNames: ['front-proxy-client'], usernameHeaders: ['X-Remote-User'] },
      api: {
        metricNames: [WORKER_POOL_LAG_METRIC],
        source: workerPoolLagSource(() => ({ total: 7, partitions: 1, observedAt: new Date() })),
      },
      log: createLogger('error'),
    });
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = (client: { cert: Buffer; key: Buffer }, headers: Record<string, string>) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      https
        .get(
          {
            host: '127.0.0.1',
            port: server.port,
            path: `/apis/external.metrics.k8s.io/v1beta1/namespaces/a/${WORKER_POOL_LAG_METRIC}?labelSelector=engram.dev%2Fworkerpool%3Dp`,
            servername: 'metrics.test.svc',
            ca: serving.cert,
            ...client,
            headers,
          },
          (res) => {
            let body = '';
            res.on('data', (c) => {
              body += c;
            });
            res.on('end', () => resolve({ status: res.statusCode!, body }));
          },
        )
        .on('error', reject);
    });

  it('the front proxy certificate with a caller answers the value', async () => {
    const r = await get(pki.proxy, {
      'X-Remote-User': 'system:serviceaccount:kube-system:horizontal-pod-autoscaler',
    });
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).items[0].value, '7');
  });

  it('a certificate of the same CA with a CN not in requestheader-allowed-names is a 401', async () => {
    const r = await get(pki.other, { 'X-Remote-User': 'admin' });
    assert.equal(r.status, 401);
    assert.match(JSON.parse(r.body).message, /CN "someone-else" is not a requestheader-allowed-name/);
  });

  it('the front proxy without a caller header is a 401', async () => {
    const r = await get(pki.proxy, {});
    assert.equal(r.status, 401);
    assert.match(JSON.parse(r.body).message, /no X-Remote-User header/);
  });
});
