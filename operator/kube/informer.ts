/**
 * List+watch cache for one resource type (optionally one namespace and a label selector).
 * Unlike client-node's informer it never stops: any watch error restarts it with backoff,
 * 410 Gone relists (emitting deletes for objects that vanished), and a silent watch is cut
 * by the client's watchdog.
 */
import { FIELD_MANAGER } from '../api/wellknown.ts';
import { KubeApiError, type KubeClient, type KubeObject } from './client.ts';
import { apiVersionOf, objectKey, type ResourceType } from './resources.ts';

export interface InformerHandlers {
  add?(obj: KubeObject): void;
  update?(oldObj: KubeObject, newObj: KubeObject): void;
  delete?(obj: KubeObject): void;
}

export interface InformerOptions {
  namespace?: string;
  labelSelector?: string;
  /** Keep only metadata (PartialObjectMetadata): for Secrets, whose data the cache must not hold. */
  metadataOnly?: boolean;
  watchTimeoutSeconds?: number;
  onError?(err: unknown, attempt: number): void;
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * Drops what no reader of the cache uses and what weighs most per object: other managers'
 * managedFields (only our own server-side-apply entry decides whether a field must be removed,
 * kube/drift.ts) and kubectl's copy of the last applied object. At a thousand objects this is a
 * large part of the cache.
 */
export function slim(obj: KubeObject): void {
  const meta = obj.metadata as KubeObject['metadata'] & { managedFields?: Array<Record<string, unknown>> };
  if (meta.managedFields) {
    const ours = meta.managedFields.filter(
      (e) => e.manager === FIELD_MANAGER && e.operation === 'Apply' && !e.subresource,
    );
    if (ours.length) meta.managedFields = ours;
    else delete meta.managedFields;
  }
  if (meta.annotations?.[LAST_APPLIED] !== undefined) {
    const { [LAST_APPLIED]: _dropped, ...rest } = meta.annotations;
    meta.annotations = rest;
  }
}

/** Values an object is indexed under (e.g. its `namespace/clusterRef`). */
export type IndexFunction = (obj: KubeObject) => string[];

interface Index {
  valuesOf: IndexFunction;
  keys: Map<string, Set<string>>;
  /** The values each object key was last indexed under, to remove them on change. */
  values: Map<string, string[]>;
}

export class Informer {
  readonly type: ResourceType;
  private readonly store = new Map<string, KubeObject>();
  private readonly indexes = new Map<string, Index>();
  private readonly handlers: InformerHandlers[] = [];
  private readonly abort = new AbortController();
  private resourceVersion = '';
  private synced!: () => void;
  readonly hasSynced: Promise<void>;
  private running: Promise<void> | undefined;
  /** performance.now() of the last list, event or cleanly ended watch: a stalled informer shows. */
  lastProgressAt = performance.now();

  private readonly client: KubeClient;
  private readonly options: InformerOptions;

  constructor(client: KubeClient, type: ResourceType, options: InformerOptions = {}) {
    this.client = client;
    this.options = options;
    this.type = type;
    this.hasSynced = new Promise((resolve) => {
      this.synced = resolve;
    });
  }

  on(handlers: InformerHandlers): void {
    this.handlers.push(handlers);
  }

  get(namespace: string | undefined, name: string): KubeObject | undefined {
    return this.store.get(objectKey(namespace, name));
  }

  /** Keeps an index up to date before any handler runs (so handlers see it current). */
  addIndex(name: string, valuesOf: IndexFunction): void {
    if (this.indexes.has(name)) return;
    const index: Index = { valuesOf, keys: new Map(), values: new Map() };
    this.indexes.set(name, index);
    for (const [key, obj] of this.store) this.indexObject(index, key, obj);
  }

  /** Objects indexed under `value`. */
  byIndex(name: string, value: string): KubeObject[] {
    const index = this.indexes.get(name);
    if (!index) throw new Error(`no index ${name} on ${this.type.plural}`);
    return [...(index.keys.get(value) ?? [])].map((k) => this.store.get(k)!).filter(Boolean);
  }

  private indexObject(index: Index, key: string, obj: KubeObject | undefined): void {
    for (const v of index.values.get(key) ?? []) {
      const set = index.keys.get(v);
      set?.delete(key);
      if (set && set.size === 0) index.keys.delete(v);
    }
    index.values.delete(key);
    if (!obj) return;
    const values = index.valuesOf(obj);
    index.values.set(key, values);
    for (const v of values) {
      const set = index.keys.get(v) ?? new Set<string>();
      set.add(key);
      index.keys.set(v, set);
    }
  }

  list(namespace?: string): KubeObject[] {
    const all = [...this.store.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata.namespace === namespace);
  }

  start(): void {
    this.running ??= this.loop();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }

  private async loop(): Promise<void> {
    let attempt = 0;
    let needList = true;
    while (!this.abort.signal.aborted) {
      try {
        if (needList) {
          await this.relist();
          needList = false;
          this.lastProgressAt = performance.now();
          this.synced();
        }
        await this.client.watch(
          this.type,
          this.options.namespace,
          {
            resourceVersion: this.resourceVersion,
            timeoutSeconds: this.options.watchTimeoutSeconds ?? 300,
            ...(this.options.labelSelector ? { labelSelector: this.options.labelSelector } : {}),
          },
          (event) => {
            if (event.type === 'ERROR') {
              const code = event.object.code ?? 0;
              throw new KubeApiError(
                code,
                event.object.reason ?? 'Unknown',
                event.object.message ?? 'watch error',
              );
            }
            attempt = 0;
            this.lastProgressAt = performance.now();
            const rv = event.object.metadata?.resourceVersion;
            if (rv) this.resourceVersion = rv;
            if (event.type === 'BOOKMARK') return;
            if (event.type === 'DELETED') this.remove(event.object);
            else this.upsert(event.object);
          },
          this.abort.signal,
          { metadataOnly: this.options.metadataOnly ?? false },
        );
        this.lastProgressAt = performance.now();
      } catch (err) {
        if (this.abort.signal.aborted) return;
        if (err instanceof KubeApiError && err.code === 410) {
          needList = true;
          continue;
        }
        attempt++;
        this.options.onError?.(err, attempt);
        if (attempt > 3) needList = true;
        const delay = Math.min(10_000, 250 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random() / 2);
        await new Promise<void>((r) => {
          const t = setTimeout(r, delay);
          const wake = () => {
            clearTimeout(t);
            r();
          };
          this.abort.signal.addEventListener('abort', wake, { once: true });
        });
      }
    }
  }

  private async relist(): Promise<void> {
    const seen = new Set<string>();
    let continueToken: string | undefined;
    do {
      const page = await this.client.list(
        this.type,
        this.options.namespace,
        {
          limit: 500,
          ...(this.options.labelSelector ? { labelSelector: this.options.labelSelector } : {}),
          ...(continueToken ? { continue: continueToken } : {}),
        },
        { metadataOnly: this.options.metadataOnly ?? false },
      );
      for (const item of page.items ?? []) {
        item.apiVersion ??= apiVersionOf(this.type);
        item.kind ??= this.type.kind;
        seen.add(objectKey(item.metadata.namespace, item.metadata.name));
        this.upsert(item);
      }
      continueToken = page.metadata.continue || undefined;
      this.resourceVersion = page.metadata.resourceVersion ?? '';
    } while (continueToken);
    for (const [key, obj] of this.store) if (!seen.has(key)) this.remove(obj);
  }

  private upsert(obj: KubeObject): void {
    slim(obj);
    const key = objectKey(obj.metadata.namespace, obj.metadata.name);
    const old = this.store.get(key);
    if (old && old.metadata.resourceVersion === obj.metadata.resourceVersion) return;
    this.store.set(key, obj);
    for (const index of this.indexes.values()) this.indexObject(index, key, obj);
    for (const h of this.handlers) {
      if (old) h.update?.(old, obj);
      else h.add?.(obj);
    }
  }

  private remove(obj: KubeObject): void {
    const key = objectKey(obj.metadata.namespace, obj.metadata.name);
    const old = this.store.get(key);
    this.store.delete(key);
    for (const index of this.indexes.values()) this.indexObject(index, key, undefined);
    for (const h of this.handlers) h.delete?.(old ?? obj);
  }
}
