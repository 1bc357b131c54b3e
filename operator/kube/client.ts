/**
 * A small REST client for the Kubernetes API: raw JSON in and out (no typed serializer that
 * drops unknown keys), server-side apply, status subresource, streaming watches, and a
 * metric per call. Authentication: ./credentials.ts (kubeconfig or in-cluster).
 */

import type { ClientRequest, IncomingMessage } from 'node:http';
import https from 'node:https';
import { StringDecoder } from 'node:string_decoder';
import { FIELD_MANAGER } from '../api/wellknown.ts';
import { type ApiCredentials, loadApiCredentials } from './credentials.ts';
import { type ResourceType, resourcePath } from './resources.ts';

/** Any Kubernetes object as JSON; parse it with a schema where fields matter. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  [key: string]: unknown;
}

export interface KubeList {
  metadata: { resourceVersion?: string; continue?: string };
  items: KubeObject[];
}

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: KubeObject & { code?: number; reason?: string; message?: string };
}

/** An API error with the HTTP status and the server's Status reason/message. */
export class KubeApiError extends Error {
  readonly code: number;
  readonly reason: string;
  constructor(code: number, reason: string, message: string) {
    super(message);
    this.name = 'KubeApiError';
    this.code = code;
    this.reason = reason;
  }
}

/** A write refused because this replica may not write now (it lost, or never held, the leader lease). */
export class NotLeaderError extends Error {
  constructor() {
    super('not the leader: this replica does not hold the leader lease, so it makes no changes');
    this.name = 'NotLeaderError';
  }
}

export const isNotFound = (err: unknown): boolean => err instanceof KubeApiError && err.code === 404;
export const isConflict = (err: unknown): boolean => err instanceof KubeApiError && err.code === 409;

/** Called once per API request with its verb and outcome (for metrics). */
export type CallObserver = (verb: string, resource: string, code: number) => void;

export interface KubeClientOptions {
  kubeconfig?: string;
  observe?: CallObserver;
  /** Per-request timeout for non-watch calls. */
  timeoutMs?: number;
  /** Client-side rate limit towards the API server (requests per second and burst), as client-go has. */
  qps?: number;
  burst?: number;
  /**
   * How long writes may still be made, in ms (0 refuses every write with NotLeaderError). A write's
   * timeout never exceeds it, so a replica that loses the leader lease cannot land a write later.
   */
  writeBudget?: () => number;
}

/** Per-call settings. */
export interface CallOptions {
  timeoutMs?: number;
}

interface RequestOptions {
  method: string;
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  /** Extra request headers, e.g. the Accept of a metadata-only list. */
  accept?: string;
  verb: string;
  resource: string;
  timeoutMs?: number;
}

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** How often a request refused with 429 Too Many Requests is retried, after the server's Retry-After. */
const MAX_THROTTLED_RETRIES = 5;

/** A token bucket: `take()` resolves when a request may go. */
class RateLimiter {
  private tokens: number;
  private last = performance.now();
  private readonly qps: number;
  private readonly burst: number;
  constructor(qps: number, burst: number) {
    this.qps = qps;
    this.burst = burst;
    this.tokens = burst;
  }
  async take(): Promise<void> {
    for (;;) {
      const now = performance.now();
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.qps) / 1000);
      this.last = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await new Promise((r) => setTimeout(r, Math.ceil(((1 - this.tokens) * 1000) / this.qps)));
    }
  }
}

export class KubeClient {
  private readonly credentials: ApiCredentials;
  private readonly server: URL;
  private agent: https.Agent | undefined;
  /** Watches hold their connection for minutes: they get their own sockets and never starve requests. */
  private watchAgent: https.Agent | undefined;
  private headers: Record<string, string> = {};
  private headersAt = 0;
  private readonly observe: CallObserver;
  private readonly timeoutMs: number;
  private readonly limiter: RateLimiter;
  private readonly writeBudget: (() => number) | undefined;
  private readonly inflightWrites = new Set<ClientRequest>();

  constructor(options: KubeClientOptions = {}) {
    this.credentials = loadApiCredentials(options.kubeconfig);
    this.server = new URL(this.credentials.server);
    this.observe = options.observe ?? (() => undefined);
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.limiter = new RateLimiter(options.qps ?? 50, options.burst ?? 100);
    this.writeBudget = options.writeBudget;
  }

  /** Cuts every write in flight (the leader lease was lost: nothing more may land). */
  abortWrites(): void {
    for (const r of this.inflightWrites) r.destroy(new NotLeaderError());
    this.inflightWrites.clear();
  }

  /** TLS material once; auth headers refreshed every minute (projected tokens rotate). */
  private async connection(watch = false): Promise<{ agent: https.Agent; headers: Record<string, string> }> {
    if (!this.agent || !this.watchAgent || Date.now() - this.headersAt > 60_000) {
      if (!this.agent || !this.watchAgent) {
        const tls = await this.credentials.tls();
        this.agent ??= new https.Agent({ keepAlive: true, maxSockets: 32, ...tls });
        this.watchAgent ??= new https.Agent({
          keepAlive: true,
          maxSockets: Number.POSITIVE_INFINITY,
          ...tls,
        });
      }
      this.headers = await this.credentials.headers();
      this.headersAt = Date.now();
    }
    return { agent: watch ? this.watchAgent : this.agent, headers: this.headers };
  }

  /**
   * Sends a request and resolves with the response once its headers arrived. `timeoutMs` bounds
   * the whole exchange for ordinary calls; for a watch it bounds only the wait for the headers.
   */
  private async open(req: RequestOptions, timeoutMs: number, watch = false): Promise<IncomingMessage> {
    const write = WRITE_METHODS.has(req.method);
    await this.limiter.take();
    let budget = timeoutMs;
    if (write && this.writeBudget) {
      const left = this.writeBudget();
      if (left <= 0) throw new NotLeaderError();
      budget = Math.min(budget, left);
    }
    const { agent, headers } = await this.connection(watch);
    const url = new URL(req.path, this.server);
    for (const [k, v] of Object.entries(req.query ?? {}))
      if (v !== undefined) url.searchParams.set(k, String(v));
    const payload = req.body === undefined ? undefined : JSON.stringify(req.body);
    return new Promise((resolve, reject) => {
      const r = https.request(
        url,
        {
          method: req.method,
          agent,
          headers: {
            ...headers,
            accept: req.accept ?? 'application/json',
            ...(payload === undefined
              ? {}
              : {
                  'content-type': req.contentType ?? 'application/json',
                  'content-length': Buffer.byteLength(payload),
                }),
          },
        },
        (res) => {
          if (watch) clearTimeout(headersTimer);
          resolve(res);
        },
      );
      if (write) {
        this.inflightWrites.add(r);
        r.once('close', () => this.inflightWrites.delete(r));
      }
      const timedOut = () =>
        r.destroy(new Error(`${req.verb} ${req.resource}: timed out after ${budget} ms`));
      // A watch streams for minutes; only its start is bounded. Other calls are bounded whole.
      const headersTimer = watch ? setTimeout(timedOut, budget) : undefined;
      if (!watch) {
        const whole = setTimeout(timedOut, budget);
        r.once('close', () => clearTimeout(whole));
      }
      r.on('error', (err) => {
        clearTimeout(headersTimer);
        this.observe(req.verb, req.resource, 0);
        reject(err);
      });
      r.end(payload);
    });
  }

  private async request<T>(req: RequestOptions): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const res = await this.open(req, req.timeoutMs ?? this.timeoutMs);
      const chunks: Buffer[] = [];
      for await (const chunk of res) chunks.push(chunk as Buffer);
      const text = Buffer.concat(chunks).toString('utf8');
      const code = res.statusCode ?? 0;
      this.observe(req.verb, req.resource, code);
      if (code >= 200 && code < 300) return (text ? JSON.parse(text) : {}) as T;
      // 429: the server did not process the request (API priority and fairness): wait as told.
      if (code === 429 && attempt < MAX_THROTTLED_RETRIES) {
        const after = Number(res.headers['retry-after']);
        const delayMs = (Number.isFinite(after) && after > 0 ? Math.min(after, 30) : 1) * 1000;
        await new Promise((r) => setTimeout(r, delayMs * (0.9 + Math.random() * 0.2)));
        continue;
      }
      let reason = 'Unknown';
      let message = `${req.method} ${req.path}: HTTP ${code}`;
      try {
        const status = JSON.parse(text) as { reason?: string; message?: string };
        reason = status.reason ?? reason;
        message = status.message ?? message;
      } catch {
        if (text) message = `${message}: ${text.slice(0, 300)}`;
      }
      throw new KubeApiError(code, reason, message);
    }
  }

  get(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    opts: CallOptions = {},
  ): Promise<KubeObject> {
    return this.request({
      method: 'GET',
      path: resourcePath(type, namespace, name),
      verb: 'get',
      resource: type.plural,
      ...opts,
    });
  }

  /** GET that answers undefined for 404. */
  async getOrUndefined(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
  ): Promise<KubeObject | undefined> {
    try {
      return await this.get(type, namespace, name);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  list(
    type: ResourceType,
    namespace: string | undefined,
    query: { labelSelector?: string; fieldSelector?: string; limit?: number; continue?: string } = {},
    opts: { metadataOnly?: boolean } = {},
  ): Promise<KubeList> {
    return this.request({
      method: 'GET',
      path: resourcePath(type, namespace),
      query,
      verb: 'list',
      resource: type.plural,
      ...(opts.metadataOnly ? { accept: METADATA_ONLY_LIST } : {}),
    });
  }

  /** Server-side apply of a full desired object; force takes ownership from other managers. */
  apply(
    type: ResourceType,
    obj: KubeObject,
    opts: { force?: boolean; subresource?: 'status' } = {},
  ): Promise<KubeObject> {
    const { name, namespace } = obj.metadata;
    return this.request({
      method: 'PATCH',
      path: resourcePath(type, namespace, name, opts.subresource),
      query: { fieldManager: FIELD_MANAGER, force: opts.force ?? true },
      body: obj,
      contentType: 'application/apply-patch+yaml',
      verb: opts.subresource ? `apply-${opts.subresource}` : 'apply',
      resource: type.plural,
    });
  }

  /** JSON merge patch (used for finalizers, where SSA list ownership would be overkill). */
  mergePatch(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    subresource?: 'status' | 'scale',
  ): Promise<KubeObject> {
    return this.request({
      method: 'PATCH',
      path: resourcePath(type, namespace, name, subresource),
      query: { fieldManager: FIELD_MANAGER },
      body: patch,
      contentType: 'application/merge-patch+json',
      verb: subresource ? `patch-${subresource}` : 'patch',
      resource: type.plural,
    });
  }

  create(type: ResourceType, obj: KubeObject, opts: CallOptions = {}): Promise<KubeObject> {
    return this.request({
      method: 'POST',
      path: resourcePath(type, obj.metadata.namespace),
      query: { fieldManager: FIELD_MANAGER },
      body: obj,
      verb: 'create',
      resource: type.plural,
      ...opts,
    });
  }

  replace(type: ResourceType, obj: KubeObject, opts: CallOptions = {}): Promise<KubeObject> {
    return this.request({
      method: 'PUT',
      path: resourcePath(type, obj.metadata.namespace, obj.metadata.name),
      query: { fieldManager: FIELD_MANAGER },
      body: obj,
      verb: 'update',
      resource: type.plural,
      ...opts,
    });
  }

  /**
   * PUT of the status subresource with optimistic locking: `obj.metadata.resourceVersion` must be
   * current or the server answers 409, so a write computed from stale state never lands.
   */
  replaceStatus(type: ResourceType, obj: KubeObject): Promise<KubeObject> {
    return this.request({
      method: 'PUT',
      path: resourcePath(type, obj.metadata.namespace, obj.metadata.name, 'status'),
      query: { fieldManager: FIELD_MANAGER },
      body: obj,
      verb: 'update-status',
      resource: type.plural,
    });
  }

  async delete(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    opts: { propagationPolicy?: 'Background' | 'Foreground' | 'Orphan'; uid?: string } = {},
  ): Promise<void> {
    try {
      await this.request({
        method: 'DELETE',
        path: resourcePath(type, namespace, name),
        body: {
          apiVersion: 'v1',
          kind: 'DeleteOptions',
          propagationPolicy: opts.propagationPolicy ?? 'Background',
          ...(opts.uid ? { preconditions: { uid: opts.uid } } : {}),
        },
        verb: 'delete',
        resource: type.plural,
      });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /**
   * Opens a watch from `resourceVersion` and calls `onEvent` per event until the server ends
   * the stream (after `timeoutSeconds`), the signal aborts, or an error occurs.
   */
  async watch(
    type: ResourceType,
    namespace: string | undefined,
    query: { resourceVersion: string; labelSelector?: string; timeoutSeconds: number },
    onEvent: (event: WatchEvent) => void,
    signal: AbortSignal,
    opts: { metadataOnly?: boolean } = {},
  ): Promise<void> {
    const res = await this.open(
      {
        method: 'GET',
        path: resourcePath(type, namespace),
        query: { ...query, watch: true, allowWatchBookmarks: true },
        verb: 'watch',
        resource: type.plural,
        ...(opts.metadataOnly ? { accept: METADATA_ONLY_WATCH } : {}),
      },
      this.timeoutMs,
      true,
    );
    this.observe('watch', type.plural, res.statusCode ?? 0);
    if ((res.statusCode ?? 0) !== 200) {
      const chunks: Buffer[] = [];
      for await (const chunk of res) chunks.push(chunk as Buffer);
      let status: { reason?: string; message?: string } = {};
      try {
        status = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      } catch {
        // Not a Status (a proxy's error page): the code says enough.
      }
      throw new KubeApiError(
        res.statusCode ?? 0,
        status.reason ?? 'Unknown',
        status.message ?? 'watch failed',
      );
    }
    const onAbort = () => res.destroy();
    signal.addEventListener('abort', onAbort, { once: true });
    // The server closes the stream after timeoutSeconds; a silent connection is cut a bit later.
    const watchdog = setTimeout(
      () => res.destroy(new Error('watch went silent')),
      (query.timeoutSeconds + 30) * 1000,
    );
    // A multi-byte character can be split across chunks: decode the stream, not each chunk.
    const decoder = new StringDecoder('utf8');
    let buffered = '';
    try {
      for await (const chunk of res) {
        buffered += decoder.write(chunk as Buffer);
        let nl = buffered.indexOf('\n');
        while (nl >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (line) onEvent(JSON.parse(line) as WatchEvent);
          nl = buffered.indexOf('\n');
        }
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    } finally {
      clearTimeout(watchdog);
      signal.removeEventListener('abort', onAbort);
    }
  }

  close(): void {
    this.agent?.destroy();
    this.watchAgent?.destroy();
  }
}

/** Metadata-only responses (PartialObjectMetadata): no Secret data crosses the wire or sits in memory. */
const METADATA_ONLY_LIST =
  'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';
const METADATA_ONLY_WATCH = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';
