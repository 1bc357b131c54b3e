/**
 * A gateway as a real child process for tests: tenant API keys in a temporary directory (the
 * operator's Secret layout), optional quotas, its own topics, and small HTTP helpers (fetch for
 * well-formed requests, a raw socket for bytes fetch refuses to send).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiKeyHash, type TenantQuota, tenantKeyFileContent } from '../../runtime/contract/tenants.ts';
import type { DevEnv } from '../support/devenv.ts';
import { eventually, uniqueName } from '../support/wait.ts';
import { createPipelineTopics, type PipelineTopics } from './kafka-fixtures.ts';
import { type RuntimeProcess, runtimeEnvFor, spawnRuntime } from './runtime-process.ts';

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** A temporary directory laid out as the operator's tenant key Secret: one file per tenant with its key's hash. */
export function tenantKeysDir(keys: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'engram-keys-'));
  for (const [tenant, key] of Object.entries(keys))
    writeFileSync(join(dir, tenant), tenantKeyFileContent([apiKeyHash(key)]));
  return dir;
}

export interface GatewayReply {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test assertions read the JSON body freely
  json: any;
}

export interface TestGateway {
  proc: RuntimeProcess;
  base: string;
  port: number;
  metricsPort: number;
  cluster: string;
  topics: PipelineTopics;
  keysDir: string;
  call(
    path: string,
    opts?: {
      key?: string | undefined;
      body?: unknown;
      raw?: string | Buffer;
      type?: string | undefined;
      method?: string;
      headers?: Record<string, string>;
    },
  ): Promise<GatewayReply>;
  stop(): Promise<void>;
}

export interface GatewayOptions {
  keys: Record<string, string>;
  quotas?: Record<string, TenantQuota>;
  env?: Record<string, string>;
  /** Wait for the role's "running" log line (default true). */
  waitRunning?: boolean;
  topics?: PipelineTopics;
}

export async function startGateway(dev: DevEnv, options: GatewayOptions): Promise<TestGateway> {
  const topics = options.topics ?? (await createPipelineTopics(dev.KAFKA_BROKERS, uniqueName('gwt')));
  const keysDir = tenantKeysDir(options.keys);
  writeFileSync(join(keysDir, '..data'), 'ignored: Secret volume internals');
  const quotas = join(keysDir, '..quotas.json');
  writeFileSync(quotas, JSON.stringify(options.quotas ?? {}));
  const port = await freePort();
  const cluster = uniqueName('gw');
  const proc = spawnRuntime(
    'gateway',
    runtimeEnvFor(dev, {
      ENGRAM_CLUSTER: cluster,
      ENGRAM_TOPIC_PREFIX: topics.prefix,
      ENGRAM_HTTP_PORT: String(port),
      ENGRAM_TENANT_KEYS_DIR: keysDir,
      ENGRAM_TENANT_QUOTAS_FILE: quotas,
      ...options.env,
    }),
  );
  let metricsPort: number;
  try {
    metricsPort = (await proc.waitForLog('starting'))['metricsPort'] as number;
    if (options.waitRunning ?? true) await proc.waitForLog('running');
  } catch (err) {
    await proc.stop('SIGKILL');
    if (!options.topics) await topics.cleanup();
    rmSync(keysDir, { recursive: true, force: true });
    throw err;
  }
  const base = `http://127.0.0.1:${port}`;
  return {
    proc,
    base,
    port,
    metricsPort,
    cluster,
    topics,
    keysDir,
    async call(path, opts = {}) {
      const headers: Record<string, string> = { ...opts.headers };
      if (opts.type !== undefined || !('type' in opts))
        headers['content-type'] = opts.type ?? 'application/json';
      if (opts.key) headers['authorization'] = `Bearer ${opts.key}`;
      const method = opts.method ?? 'POST';
      const res = await fetch(`${base}${path}`, {
        method,
        headers,
        ...(method !== 'GET' &&
          method !== 'HEAD' && {
            body:
              opts.raw instanceof Buffer ? new Uint8Array(opts.raw) : (opts.raw ?? JSON.stringify(opts.body)),
          }),
      });
      const text = await res.text();
      let json: unknown;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      return { status: res.status, headers: res.headers, text, json };
    },
    async stop() {
      await proc.stop('SIGKILL');
      if (!options.topics) await topics.cleanup();
      rmSync(keysDir, { recursive: true, force: true });
    },
  };
}

export interface RawReply {
  /** undefined when the server closed the connection without an HTTP answer. */
  status: number | undefined;
  head: string;
  body: string;
}

/**
 * Sends raw bytes on a fresh connection and reads one HTTP answer (or the close). `halfClose` ends
 * the writing side after the bytes, as a client that lies about content-length and gives up would.
 */
export function rawRequest(
  port: number,
  bytes: Buffer | string,
  { timeoutMs = 5000, halfClose = false } = {},
): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const text = withoutInterim(Buffer.concat(chunks).toString('latin1'));
      const sep = text.indexOf('\r\n\r\n');
      const head = sep >= 0 ? text.slice(0, sep) : text;
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      resolve({ status: m ? Number(m[1]) : undefined, head, body: sep >= 0 ? text.slice(sep + 4) : '' });
    };
    const timer = setTimeout(() => {
      if (chunks.length > 0) finish();
      else {
        done = true;
        socket.destroy();
        reject(new Error(`no answer within ${timeoutMs} ms to ${String(bytes).slice(0, 120)}`));
      }
    }, timeoutMs);
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      // One answer is enough: stop once its declared body arrived.
      const text = withoutInterim(Buffer.concat(chunks).toString('latin1'));
      const sep = text.indexOf('\r\n\r\n');
      if (sep < 0) return;
      const len = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, sep));
      if (len && Buffer.byteLength(text.slice(sep + 4), 'latin1') >= Number(len[1])) finish();
    });
    socket.on('end', finish);
    socket.on('close', finish);
    socket.on('error', () => finish());
    socket.write(bytes, () => {
      if (halfClose) socket.end();
    });
  });
}

/** Drops interim answers (`100 Continue`): the final one is the answer. */
function withoutInterim(text: string): string {
  return text.replace(/^(HTTP\/1\.[01] 1\d\d[^\r]*\r\n(?:[^\r]+\r\n)*\r\n)+/, '');
}

/** GET /readyz on the metrics port: status and body. */
export async function readiness(metricsPort: number): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${metricsPort}/readyz`);
  return { status: res.status, body: await res.text() };
}

export async function metricsText(metricsPort: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
}

export { eventually };
