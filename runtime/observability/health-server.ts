/**
 * `/healthz` (the process is alive and not wedged), `/readyz` (every readiness check passes) and
 * `/metrics` on the metrics port, for every role. Probes and scrapes go here, never to the API port.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { HEALTH_PATHS } from '../contract/config.ts';

export interface ReadinessCheck {
  name: string;
  /** Returns undefined when ready, else the reason (shown in the /readyz body). */
  check: () => string | undefined | Promise<string | undefined>;
}

export interface HealthServer {
  port: number;
  addCheck(check: ReadinessCheck): void;
  /** Liveness fails after this: e.g. the consumer crashed without restarting. */
  markUnhealthy(reason: string): void;
  close(): Promise<void>;
}

export async function startHealthServer(
  port: number,
  registry: Registry,
  host = '0.0.0.0',
): Promise<HealthServer> {
  const checks: ReadinessCheck[] = [];
  let unhealthy: string | undefined;
  const server: Server = createServer(async (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    try {
      if (path === HEALTH_PATHS.liveness) {
        res.writeHead(unhealthy ? 503 : 200, { 'content-type': 'text/plain' });
        res.end(unhealthy ? `unhealthy: ${unhealthy}\n` : 'ok\n');
      } else if (path === HEALTH_PATHS.readiness) {
        const failing: string[] = [];
        for (const c of checks) {
          const reason = await c.check();
          if (reason) failing.push(`${c.name}: ${reason}`);
        }
        if (unhealthy) failing.push(`unhealthy: ${unhealthy}`);
        res.writeHead(failing.length ? 503 : 200, { 'content-type': 'text/plain' });
        res.end(failing.length ? `${failing.join('\n')}\n` : 'ready\n');
      } else if (path === HEALTH_PATHS.metrics) {
        const body = await registry.metrics();
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(body);
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found\n');
      }
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`${(err as Error).message}\n`);
    }
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    addCheck: (c) => void checks.push(c),
    markUnhealthy: (reason) => {
      unhealthy = reason;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
