/**
 * The HTTPS server of the External Metrics API: TLS with the serving certificate, the front
 * proxy's client certificate verified against the requestheader CA, health endpoints open to
 * probes, every other path answered by `answerRequest`.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../controller/logger.ts';
import { answerRequest, type ExternalMetricsApi, statusAnswer } from './api.ts';
import { authenticateFrontProxy, type FrontProxyTrust } from './front-proxy.ts';
import type { ServingCert } from './serving-cert.ts';

export interface ExternalMetricsServerOptions {
  /** host:port; an empty host listens on every address. */
  address: string;
  cert: ServingCert;
  trust: FrontProxyTrust;
  api: ExternalMetricsApi;
  log: Logger;
}

export interface ExternalMetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

const HEALTH_PATHS = new Set(['/healthz', '/livez', '/readyz']);

export function startExternalMetricsServer(
  opts: ExternalMetricsServerOptions,
): Promise<ExternalMetricsServer> {
  const { log, trust, api } = opts;
  const server = https.createServer(
    {
      cert: opts.cert.cert,
      key: opts.cert.key,
      ca: trust.clientCA,
      // The peer is checked per request (health probes come without a certificate).
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    },
    (req, res) => {
      const send = (status: number, body: unknown) => {
        const text = typeof body === 'string' ? body : JSON.stringify(body);
        res.writeHead(status, {
          'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
          'content-length': Buffer.byteLength(text),
        });
        res.end(text);
      };
      const path = (req.url ?? '/').split('?')[0]!;
      if (HEALTH_PATHS.has(path)) return send(200, 'ok');
      const caller = authenticateFrontProxy(req.socket as TLSSocket, req.headers, trust);
      if (!caller.ok) {
        log.debug('external metrics request refused', { path, reason: caller.reason });
        const refused = statusAnswer(401, 'Unauthorized', caller.reason);
        return send(refused.status, refused.body);
      }
      answerRequest(api, req.method ?? 'GET', req.url ?? '/').then(
        (answer) => {
          log.debug('external metrics request', { path, user: caller.user, status: answer.status });
          send(answer.status, answer.body);
        },
        (err: Error) => {
          const failed = statusAnswer(500, 'InternalError', err.message);
          send(failed.status, failed.body);
        },
      );
    },
  );
  server.keepAliveTimeout = 65_000;
  const i = opts.address.lastIndexOf(':');
  const host = opts.address.slice(0, i) || undefined;
  const port = Number(opts.address.slice(i + 1));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      server.on('error', (err) => log.error('external metrics server failed', { err }));
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            server.closeAllConnections();
          }),
      });
    });
  });
}
