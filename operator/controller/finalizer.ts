/**
 * Finalizers that clean external state (topics, tenant data) and can never hang a namespace:
 * each has an escape hatch (a skip annotation, or a reason the work is moot) and gives up with a
 * Warning event after `engram.dev/finalizer-timeout` (default FINALIZER_TIMEOUT_SECONDS).
 */
import { durationToMilliseconds } from '../api/defaults.ts';
import { ANNOTATIONS, FINALIZER_TIMEOUT_SECONDS } from '../api/wellknown.ts';
import type { KubeClient, KubeObject } from '../kube/client.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { ResourceType } from '../kube/resources.ts';
import type { ReconcileResult } from './manager.ts';

/** Adds or removes `finalizer`, locked on raw's resourceVersion; later writes lock on the result. */
export async function setFinalizer(
  client: KubeClient,
  type: ResourceType,
  raw: KubeObject,
  finalizer: string,
  wanted: boolean,
): Promise<void> {
  const finalizers = raw.metadata.finalizers ?? [];
  if (finalizers.includes(finalizer) === wanted) return;
  const next = wanted ? [...finalizers, finalizer] : finalizers.filter((f) => f !== finalizer);
  const patched = await client.mergePatch(type, raw.metadata.namespace, raw.metadata.name, {
    metadata: { finalizers: next, resourceVersion: raw.metadata.resourceVersion },
  });
  raw.metadata.resourceVersion = patched.metadata.resourceVersion;
  raw.metadata.finalizers = next;
}

/** The object's finalizer timeout: its annotation when parsable, else the default. */
export function finalizerTimeoutMs(raw: KubeObject): number {
  const value = raw.metadata.annotations?.[ANNOTATIONS.finalizerTimeout];
  if (value) {
    try {
      return durationToMilliseconds(value);
    } catch {
      // An unparsable annotation falls back to the default rather than hanging deletion.
    }
  }
  return FINALIZER_TIMEOUT_SECONDS * 1000;
}

export interface FinalizerRun {
  client: KubeClient;
  events: EventRecorder;
  type: ResourceType;
  raw: KubeObject;
  finalizer: string;
  /** Why the cleanup is skipped (the skip annotation, a paused object, moot work), or undefined. */
  skip: { reason: string; note: string } | undefined;
  /** The cleanup; resolves with what it did (the event note). */
  clean(): Promise<{ reason: string; note: string }>;
  /** What giving up leaves behind, for the Warning event. */
  leftBehind: string;
  /** Event reasons for a failed try and for giving up, e.g. TopicDeletionFailed / TopicDeletionAbandoned. */
  reasons: { failed: string; abandoned: string };
}

/** Runs one finalizer step: skip, clean, retry with backoff, or give up after the timeout. */
export async function runFinalizer(f: FinalizerRun): Promise<ReconcileResult> {
  const { raw, events } = f;
  if (!(raw.metadata.finalizers ?? []).includes(f.finalizer)) return {};
  if (f.skip) {
    events.emit(raw, 'Normal', f.skip.reason, f.skip.note, 'Delete');
  } else {
    const timeoutMs = finalizerTimeoutMs(raw);
    const deletedAt = Date.parse(raw.metadata.deletionTimestamp ?? new Date().toISOString());
    try {
      const done = await f.clean();
      events.emit(raw, 'Normal', done.reason, done.note, 'Delete');
    } catch (err) {
      const message = (err as Error).message;
      // Measured after the try: a store that times out each call must not earn one more try past the deadline.
      const waitedMs = Date.now() - deletedAt;
      if (waitedMs < timeoutMs) {
        events.emit(
          raw,
          'Warning',
          f.reasons.failed,
          `${message}; retrying until the finalizer timeout`,
          'Delete',
        );
        return { requeueAfterMs: Math.min(5_000, Math.max(500, timeoutMs - waitedMs)) };
      }
      events.emit(
        raw,
        'Warning',
        f.reasons.abandoned,
        `gave up after ${Math.round(waitedMs / 1000)}s (${ANNOTATIONS.finalizerTimeout}): ${message}; ${f.leftBehind}`,
        'Delete',
      );
    }
  }
  await setFinalizer(f.client, f.type, raw, f.finalizer, false);
  return {};
}
