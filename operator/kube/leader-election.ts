/**
 * Lease-based leader election (coordination.k8s.io/v1). Expiry is measured with our own
 * monotonic clock from the moment we last saw the lease change, never from the holder's
 * renewTime (clocks differ). Writes carry resourceVersion, so a 409 means someone else won.
 *
 * The deadlines are ordered as in client-go: retryPeriod < renewDeadline < leaseDuration. A leader
 * counts itself leader only until renewDeadline after the start of its last successful renew, and
 * every renew call is cut off at that moment, so it has stopped writing before any other replica
 * can see the lease expire (leaseDuration after the last change it observed).
 */
import { isConflict, isNotFound, type KubeClient, type KubeObject } from './client.ts';
import { Types } from './resources.ts';

export interface LeaderElectionTiming {
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export interface LeaderElectionOptions extends Partial<LeaderElectionTiming> {
  namespace: string;
  name: string;
  identity: string;
  onStartedLeading(): void;
  /** Called once when a held lease is lost; the process must stop writing at once (and exit). */
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

export const DEFAULT_TIMING: LeaderElectionTiming = {
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
};

/** client-go's jitter factor: a standby retries within [retry, 1.2 x retry]. */
const JITTER = 1.2;

/**
 * The timing in effect: explicit values are validated; unset ones are derived from the lease
 * duration so a short lease (tests, small clusters) keeps the deadlines in order.
 * Throws with what to change when the values cannot work.
 */
export function leaderElectionTiming(t: Partial<LeaderElectionTiming>): LeaderElectionTiming {
  const leaseDurationMs = t.leaseDurationMs ?? DEFAULT_TIMING.leaseDurationMs;
  const renewDeadlineMs =
    t.renewDeadlineMs ??
    (t.leaseDurationMs === undefined
      ? DEFAULT_TIMING.renewDeadlineMs
      : Math.floor((leaseDurationMs * 2) / 3));
  const retryPeriodMs =
    t.retryPeriodMs ?? Math.min(DEFAULT_TIMING.retryPeriodMs, Math.floor(renewDeadlineMs / (2 * JITTER)));
  const problems: string[] = [];
  if (leaseDurationMs < 2_000)
    problems.push(`--lease-duration must be at least 2s (got ${leaseDurationMs} ms)`);
  if (renewDeadlineMs >= leaseDurationMs)
    problems.push(
      `--renew-deadline (${renewDeadlineMs} ms) must be shorter than --lease-duration (${leaseDurationMs} ms), or a lost leader could still write after another replica took over`,
    );
  if (retryPeriodMs * JITTER >= renewDeadlineMs)
    problems.push(
      `--retry-period (${retryPeriodMs} ms) times ${JITTER} must be shorter than --renew-deadline (${renewDeadlineMs} ms), so a leader gets more than one try to renew`,
    );
  if (retryPeriodMs < 100) problems.push(`--retry-period must be at least 100ms (got ${retryPeriodMs} ms)`);
  if (problems.length) throw new Error(problems.join('; '));
  return { leaseDurationMs, renewDeadlineMs, retryPeriodMs };
}

const microTime = () => new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

export class LeaderElector {
  private readonly client: KubeClient;
  private readonly opts: LeaderElectionOptions;
  readonly timing: LeaderElectionTiming;
  private leading = false;
  private stopped = false;
  private observedVersion = '';
  private observedAt = 0;
  /** Monotonic time until which we may act as leader (start of the last good renew + renewDeadline). */
  private validUntil = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastError: unknown;

  constructor(client: KubeClient, options: LeaderElectionOptions) {
    this.client = client;
    this.opts = options;
    this.timing = leaderElectionTiming(options);
  }

  /** True only while the lease is held and was renewed within the renew deadline. */
  get isLeader(): boolean {
    return this.leading && performance.now() < this.validUntil;
  }

  /** How long this replica may still act as leader, in ms (0 when it may not). */
  remainingMs(): number {
    return this.leading ? Math.max(0, this.validUntil - performance.now()) : 0;
  }

  /** Monotonic time of the last renew that succeeded (for liveness). */
  get lastRenewedAt(): number {
    return this.validUntil - this.timing.renewDeadlineMs;
  }

  start(): void {
    const tick = async () => {
      if (this.stopped) return;
      const started = performance.now();
      // A leader's call must end by its deadline; a standby's by the renew deadline.
      const budget = this.leading ? this.validUntil - started : this.timing.renewDeadlineMs;
      const ok =
        budget > 0 &&
        (await this.tryAcquireOrRenew(budget).catch((err) => {
          this.lastError = err;
          this.opts.onError?.(err);
          return false;
        }));
      if (this.stopped) return;
      const now = performance.now();
      if (ok) {
        this.validUntil = started + this.timing.renewDeadlineMs;
        if (!this.leading) {
          this.leading = true;
          this.opts.onStartedLeading();
        }
      } else if (this.leading && now >= this.validUntil) {
        this.lose();
        return;
      }
      const period = this.timing.retryPeriodMs * (this.leading ? 1 : 1 + Math.random() * (JITTER - 1));
      // Never sleep past the deadline: the loss is noticed the moment it happens.
      const wait = this.leading ? Math.min(period, Math.max(0, this.validUntil - now)) : period;
      this.timer = setTimeout(tick, wait);
    };
    void tick();
  }

  private lose(): void {
    if (!this.leading) return;
    this.leading = false;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.opts.onStoppedLeading();
  }

  /** Stops renewing and, when leading, releases the lease so a successor takes over at once. */
  async stop(): Promise<void> {
    const wasLeading = this.isLeader;
    this.stopped = true;
    this.leading = false;
    if (this.timer) clearTimeout(this.timer);
    if (!wasLeading) return;
    try {
      const timeoutMs = 5_000;
      const lease = await this.client.get(Types.Lease, this.opts.namespace, this.opts.name, { timeoutMs });
      const spec = (lease.spec ?? {}) as LeaseSpec;
      if (spec.holderIdentity !== this.opts.identity) return;
      await this.client.replace(
        Types.Lease,
        { ...lease, spec: { ...spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime() } },
        { timeoutMs },
      );
    } catch (err) {
      this.opts.onError?.(err);
    }
  }

  private async tryAcquireOrRenew(budgetMs: number): Promise<boolean> {
    const { namespace, name, identity } = this.opts;
    const deadline = performance.now() + budgetMs;
    const left = () => Math.max(1, Math.floor(deadline - performance.now()));
    const durationSeconds = Math.ceil(this.timing.leaseDurationMs / 1000);
    let lease: KubeObject;
    try {
      lease = await this.client.get(Types.Lease, namespace, name, { timeoutMs: left() });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        await this.client.create(
          Types.Lease,
          {
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
          },
          { timeoutMs: left() },
        );
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
    // Our own lease while we are not leading (a restart with the same identity): take it as new.
    const now = microTime();
    const next: LeaseSpec =
      spec.holderIdentity === identity && this.leading
        ? { ...spec, renewTime: now, leaseDurationSeconds: durationSeconds }
        : {
            holderIdentity: identity,
            leaseDurationSeconds: durationSeconds,
            acquireTime: now,
            renewTime: now,
            leaseTransitions: (spec.leaseTransitions ?? 0) + (spec.holderIdentity === identity ? 0 : 1),
          };
    try {
      const updated = await this.client.replace(Types.Lease, { ...lease, spec: next }, { timeoutMs: left() });
      this.observedVersion = updated.metadata.resourceVersion ?? '';
      this.observedAt = performance.now();
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }

  get error(): unknown {
    return this.lastError;
  }
}
