/**
 * `/healthz` (the process is alive and not wedged: every liveness check passes), `/readyz`
 * (every readiness check passes) and `/metrics` on the metrics port, for every role. Probes and
 * scrapes go here, never to the API port. The runtime registers a "starting" readiness check
 * before a role starts, so /readyz is 503 until the role says it runs.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { HEALTH_PATHS } from '../contract/config.ts';

export interface ReadinessCheck {
  name: string;
  /** Returns undefined when ready (or live), else the reason (shown in the response body). */
  check: () => string | undefined | Promise<string | undefined>;
}

export interface HealthServer {
  port: number;
  /** A readiness check (/readyz). */
  addCheck(check: ReadinessCheck): void;
  /** A liveness check (/healthz): fails only when a restart is what the process needs. */
  addLivenessCheck(check: ReadinessCheck): void;
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
  const liveness: ReadinessCheck[] = [];
  let unhealthy: string | undefined;
  const failing = async (list: ReadinessCheck[]) => {
    const out: string[] = [];
    for (const c of list) {
      const reason = await c.check();
      if (reason) out.push(`${c.name}: ${reason}`);
    }
    if (unhealthy) out.push(`unhealthy: ${unhealthy}`);
    return out;
  };
  const server: Server = createServer(async (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    try {
      if (path === HEALTH_PATHS.liveness || path === HEALTH_PATHS.readiness) {
        const live = path === HEALTH_PATHS.liveness;
        const reasons = await failing(live ? liveness : checks);
        res.writeHead(reasons.length ? 503 : 200, { 'content-type': 'text/plain' });
        res.end(reasons.length ? `${reasons.join('\n')}\n` : live ? 'ok\n' : 'ready\n');
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
    addLivenessCheck: (c) => void liveness.push(c),
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
