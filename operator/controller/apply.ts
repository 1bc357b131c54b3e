/**
 * Apply-if-changed: a server-side apply only when the live object lacks a desired field, differs
 * in one, or still carries a field this operator applied before and no longer wants. An unchanged
 * world costs no write.
 */
import { FIELD_MANAGER } from '../api/wellknown.ts';
import type { KubeClient, KubeObject } from '../kube/client.ts';
import { applyNeeded } from '../kube/drift.ts';
import type { Cache } from './manager.ts';

export class Applier {
  readonly #client: KubeClient;
  /** The cache of each kind the applier writes, by kind. */
  readonly #caches: ReadonlyMap<string, Cache>;

  constructor(client: KubeClient, caches: Cache[]) {
    this.#client = client;
    this.#caches = new Map(caches.map((c) => [c.type.kind, c]));
  }

  /** The cached live object for a desired one. */
  live(obj: KubeObject): KubeObject | undefined {
    return this.cacheOf(obj).get(obj.metadata.namespace, obj.metadata.name);
  }

  /** Applies `obj` if it drifted; returns the path that differed (what was written), else undefined. */
  async applyIfChanged(obj: KubeObject): Promise<string | undefined> {
    const cache = this.cacheOf(obj);
    const live = cache.get(obj.metadata.namespace, obj.metadata.name);
    const drift = live ? applyNeeded(obj, live, FIELD_MANAGER) : '(missing)';
    if (!drift) return undefined;
    await this.#client.apply(cache.type, obj);
    return drift;
  }

  private cacheOf(obj: KubeObject): Cache {
    const cache = this.#caches.get(obj.kind ?? '');
    if (!cache) throw new Error(`no cache for kind ${obj.kind}: register it with the Applier`);
    return cache;
  }
}
