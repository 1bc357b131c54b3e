/**
 * Lease-based leader election (coordination.k8s.io/v1). Expiry is measured with our own
 * monotonic clock from the moment we last saw the lease change, never from the holder's
 * renewTime (clocks differ). Writes carry resourceVersion, so a 409 means someone else won.
 */
import { isConflict, isNotFound, type KubeClient, type KubeObject } from './client.ts';
import { Types } from './resources.ts';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading(): void;
  /** Called once when a held lease is lost; the process should stop writing (exit). */
  onStoppedLeading(): void;
  onError?(err: unknown): void;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

const microTime = () => new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

export class LeaderElector {
  private readonly client: KubeClient;
  private readonly opts: Required<Omit<LeaderElectionOptions, 'onError'>> &
    Pick<LeaderElectionOptions, 'onError'>;
  private leading = false;
  private stopped = false;
  private observedVersion = '';
  private observedAt = 0;
  private lastRenew = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(client: KubeClient, options: LeaderElectionOptions) {
    this.client = client;
    this.opts = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, ...options };
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    const tick = async () => {
      if (this.stopped) return;
      const ok = await this.tryAcquireOrRenew().catch((err) => {
        this.opts.onError?.(err);
        return false;
      });
      const now = performance.now();
      if (ok) {
        this.lastRenew = now;
        if (!this.leading) {
          this.leading = true;
          this.opts.onStartedLeading();
        }
      } else if (this.leading && now - this.lastRenew > this.opts.renewDeadlineMs) {
        this.leading = false;
        this.stopped = true;
        this.opts.onStoppedLeading();
        return;
      }
      this.timer = setTimeout(tick, this.opts.retryPeriodMs * (this.leading ? 1 : 0.8 + Math.random() * 0.4));
    };
    void tick();
  }

  /** Stops renewing and, when leading, releases the lease so a successor takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.client.get(Types.Lease, this.opts.namespace, this.opts.name);
      const spec = (lease.spec ?? {}) as LeaseSpec;
      if (spec.holderIdentity !== this.opts.identity) return;
      await this.client.replace(Types.Lease, {
        ...lease,
        spec: { ...spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime() },
      });
    } catch (err) {
      this.opts.onError?.(err);
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.opts;
    const durationSeconds = Math.ceil(this.opts.leaseDurationMs / 1000);
    let lease: KubeObject;
    try {
      lease = await this.client.get(Types.Lease, namespace, name);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        await this.client.create(Types.Lease, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace },
          spec: {
            holderIdentity: identity,
            leaseDurationSeconds: durationSeconds,
            acquireTime: microTime(),
            renewTime: microTime(),
            leaseTransitions: 0,
          },
        });
        return true;
      } catch (createErr) {
        if (isConflict(createErr)) return false;
        throw createErr;
      }
    }
    const spec = (lease.spec ?? {}) as LeaseSpec;
    const version = lease.metadata.resourceVersion ?? '';
    if (version !== this.observedVersion) {
      this.observedVersion = version;
      this.observedAt = performance.now();
    }
    const held = Boolean(spec.holderIdentity) && spec.holderIdentity !== identity;
    const heldFor = (spec.leaseDurationSeconds ?? durationSeconds) * 1000;
    if (held && performance.now() - this.observedAt < heldFor) return false;

    const now = microTime();
    const next: LeaseSpec =
      spec.holderIdentity === identity
        ? { ...spec, renewTime: now, leaseDurationSeconds: durationSeconds }
        : {
            holderIdentity: identity,
            leaseDurationSeconds: durationSeconds,
            acquireTime: now,
            renewTime: now,
            leaseTransitions: (spec.leaseTransitions ?? 0) + 1,
          };
    try {
      const updated = await this.client.replace(Types.Lease, { ...lease, spec: next });
      this.observedVersion = updated.metadata.resourceVersion ?? '';
      this.observedAt = performance.now();
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }
}
