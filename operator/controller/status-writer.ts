/**
 * The one way status is written, for every kind: computed status in, a write only when it
 * differs, through the status subresource with optimistic locking (PUT at the observed
 * resourceVersion, so a status computed from stale state is refused with 409 instead of erasing
 * newer status), and Events for the transitions that matter.
 */
import type { Condition } from '../api/common.ts';
import { CONDITION_TYPES } from '../api/wellknown.ts';
import { KubeApiError, type KubeClient, type KubeObject } from '../kube/client.ts';
import { firstDrift } from '../kube/drift.ts';
import type { EventRecorder, EventType } from '../kube/events.ts';
import { objectKey, type ResourceType } from '../kube/resources.ts';
import { findCondition } from './conditions.ts';

export interface StatusWithConditions {
  observedGeneration?: number;
  conditions?: Condition[];
}

export interface ConditionEvent {
  type: EventType;
  reason: string;
  note: string;
}

/**
 * Events for a status change (pure). Warnings only for real problems: a readiness condition
 * turning False. Recovery is Normal. Progress (Unknown), Reconciling and Stalled (the failing
 * part already warned) make no event; pausing and resuming are Normal.
 */
export function conditionEvents(
  previous: readonly Condition[] | undefined,
  next: readonly Condition[] | undefined,
): ConditionEvent[] {
  const out: ConditionEvent[] = [];
  for (const c of next ?? []) {
    const old = findCondition(previous, c.type);
    if (old?.status === c.status && old?.reason === c.reason) continue;
    if (c.type === CONDITION_TYPES.reconciling || c.type === CONDITION_TYPES.stalled) continue;
    if (c.type === CONDITION_TYPES.paused) {
      if (c.status === 'True' && old?.status !== 'True')
        out.push({ type: 'Normal', reason: 'Paused', note: c.message });
      else if (c.status !== 'True' && old?.status === 'True')
        out.push({ type: 'Normal', reason: 'Resumed', note: 'reconciliation resumed' });
      continue;
    }
    if (c.status === 'False')
      out.push({ type: 'Warning', reason: c.reason, note: `${c.type}: ${c.message}` });
    else if (c.status === 'True' && old && old.status !== 'True')
      out.push({ type: 'Normal', reason: c.reason, note: `${c.type}: ${c.message}` });
  }
  return out;
}

/** A status this process wrote that the informer's cache may not show yet. */
interface OwnWrite {
  uid: string | undefined;
  /** The versions the write superseded: a cache still holding one of them is behind. */
  superseded: Set<string>;
  resourceVersion: string;
  status: unknown;
}

/** Own writes remembered at most (objects never read again age out first). */
const MAX_OWN_WRITES = 10_000;

export class StatusWriter {
  readonly #client: KubeClient;
  readonly #events: EventRecorder;
  readonly #type: ResourceType;
  readonly #own = new Map<string, OwnWrite>();

  constructor(client: KubeClient, events: EventRecorder, type: ResourceType) {
    this.#client = client;
    this.#events = events;
    this.#type = type;
  }

  /**
   * The object to reconcile: a private copy of the cached one, carrying the status this process
   * last wrote while the cache still shows a version from before that write. Without it, the
   * reconcile right after a status write computes from the old status and its write is refused
   * (409), or repeats the write. Status writes leave spec and metadata as they were, so only the
   * status and resourceVersion are taken over; any other version (caught up, or a newer write by
   * someone else) makes the cache the truth again.
   */
  view(cached: KubeObject): KubeObject {
    const copy = structuredClone(cached);
    const key = keyOf(cached);
    const own = this.#own.get(key);
    if (!own) return copy;
    const version = cached.metadata.resourceVersion;
    if (own.uid !== cached.metadata.uid || version === undefined || !own.superseded.has(version)) {
      this.#own.delete(key);
      return copy;
    }
    copy.metadata.resourceVersion = own.resourceVersion;
    copy.status = structuredClone(own.status);
    return copy;
  }

  /** Writes `next` if it differs from raw's status; emits transition events. False if raw is gone. */
  async write(raw: KubeObject, next: StatusWithConditions): Promise<boolean> {
    const previous = (raw.status ?? {}) as StatusWithConditions;
    if (!firstDrift(next, previous) && !firstDrift(previous, next)) return true;
    try {
      await this.replace(raw, next);
    } catch (err) {
      if (err instanceof KubeApiError && err.code === 404) return false;
      throw err;
    }
    for (const e of conditionEvents(previous.conditions, next.conditions))
      this.#events.emit(raw, e.type, e.reason, e.note);
    return true;
  }

  /** Locked write of the whole status; moves raw to the stored result. */
  async replace(raw: KubeObject, status: unknown): Promise<void> {
    const updated = await this.#client.replaceStatus(this.#type, {
      apiVersion: raw.apiVersion,
      kind: raw.kind,
      metadata: { ...raw.metadata, managedFields: undefined },
      spec: raw.spec,
      status,
    } as KubeObject);
    const key = keyOf(raw);
    const before = raw.metadata.resourceVersion;
    const last = this.#own.get(key);
    const superseded =
      last && last.uid === raw.metadata.uid && last.resourceVersion === before
        ? last.superseded
        : new Set<string>();
    if (before !== undefined) superseded.add(before);
    this.#own.delete(key);
    this.#own.set(key, {
      uid: raw.metadata.uid,
      superseded,
      resourceVersion: updated.metadata.resourceVersion ?? '',
      status: updated.status,
    });
    if (this.#own.size > MAX_OWN_WRITES) this.#own.delete(this.#own.keys().next().value!);
    raw.metadata.resourceVersion = updated.metadata.resourceVersion;
    raw.status = updated.status;
  }
}

const keyOf = (o: KubeObject) => objectKey(o.metadata.namespace, o.metadata.name);
