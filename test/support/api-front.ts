/**
 * A TLS front for the local API server, with the local environment's own certificates, that
 * forwards every request and can misbehave the way a loaded server or a proxy does: answer the
 * first requests with 429 Too Many Requests, or pass response bodies on one byte per write (an
 * HTTP stream cut inside multi-byte characters; a TCP-level cut would not reach the plaintext).
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { DevEnv } from './devenv.ts';

export interface ApiFront {
  url: string;
  /** Requests answered with 429 so far. */
  throttled(): number;
  close(): Promise<void>;
}

export async function startApiFront(
  env: DevEnv,
  opts: { throttleFirst?: number; retryAfterSeconds?: number; splitBodies?: boolean } = {},
): Promise<ApiFront> {
  const pki = join(env.ENGRAM_DEVENV_STATE ?? '', 'pki');
  const cert = readFileSync(join(pki, 'admin.crt'));
  const key = readFileSync(join(pki, 'admin.key'));
  const ca = readFileSync(join(pki, 'ca.crt'));
  const target = new URL(readFileSync(env.KUBECONFIG, 'utf8').match(/server: (https:\/\/\S+)/)![1]!);
  let throttled = 0;
  const front = https.createServer({ cert, key }, (req, res) => {
    if (throttled < (opts.throttleFirst ?? 0)) {
      throttled++;
      res.writeHead(429, {
        'retry-after': String(opts.retryAfterSeconds ?? 1),
        'content-type': 'application/json',
      });
      res.end(JSON.stringify({ kind: 'Status', reason: 'TooManyRequests', message: 'slow down', code: 429 }));
      return;
    }
    const up = https.request(
      {
        host: target.hostname,
        port: target.port,
        path: req.url,
        method: req.method,
        headers: req.headers,
        ca,
        cert,
        key,
      },
      (upRes) => {
        const split = opts.splitBodies && (req.url ?? '').includes('watch=true');
        const headers = { ...upRes.headers };
        if (split) delete headers['content-length'];
        res.writeHead(upRes.statusCode ?? 502, headers);
        if (!split) {
          upRes.pipe(res);
          return;
        }
        // One byte per write, a moment apart, so the client really reads them one by one.
        let queue = Promise.resolve();
        upRes.on('data', (chunk: Buffer) => {
          queue = queue.then(async () => {
            for (const byte of chunk) {
              res.write(Buffer.from([byte]));
              await new Promise((r) => setTimeout(r, 1));
            }
          });
        });
        upRes.on('end', () => void queue.then(() => res.end()));
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  return {
    url: `https://127.0.0.1:${(front.address() as AddressInfo).port}`,
    throttled: () => throttled,
    close: () =>
      new Promise<void>((r) => {
        front.closeAllConnections();
        front.close(() => r());
      }),
  };
}
