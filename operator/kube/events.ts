/**
 * Kubernetes Events (events.k8s.io/v1) for transitions and failures. The same event for the same
 * object is not repeated within ten minutes, so a retry loop cannot flood the API server.
 */
import type { KubeClient, KubeObject } from './client.ts';
import { Types } from './resources.ts';

export type EventType = 'Normal' | 'Warning';

export class EventRecorder {
  private readonly client: KubeClient;
  private readonly instance: string;
  private readonly recent = new Map<string, number>();
  private readonly onError: (err: unknown) => void;

  constructor(client: KubeClient, instance: string, onError: (err: unknown) => void) {
    this.client = client;
    this.instance = instance;
    this.onError = onError;
  }

  /** Fire-and-forget: an event that cannot be written must not fail a reconcile. */
  emit(regarding: KubeObject, type: EventType, reason: string, note: string, action = 'Reconcile'): void {
    const key = `${regarding.metadata.uid}|${type}|${reason}|${note}`;
    const now = Date.now();
    const last = this.recent.get(key);
    if (last && now - last < 10 * 60_000) return;
    this.recent.set(key, now);
    if (this.recent.size > 5000) {
      for (const [k, t] of this.recent) if (now - t > 10 * 60_000) this.recent.delete(k);
    }
    const namespace = regarding.metadata.namespace ?? 'default';
    this.client
      .create(Types.Event, {
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        metadata: {
          name: `${regarding.metadata.name}.${now.toString(16)}${Math.random().toString(16).slice(2, 6)}`,
          namespace,
        },
        eventTime: new Date(now)
          .toISOString()
          .replace('Z', '000Z')
          .replace(/\.(\d{3})000Z$/, '.$1000Z'),
        reportingController: 'engram.dev/operator',
        reportingInstance: this.instance,
        action,
        reason,
        note: note.slice(0, 1000),
        type,
        regarding: {
          apiVersion: regarding.apiVersion,
          kind: regarding.kind,
          name: regarding.metadata.name,
          namespace,
          uid: regarding.metadata.uid,
          resourceVersion: regarding.metadata.resourceVersion,
        },
      })
      .catch(this.onError);
  }
}
