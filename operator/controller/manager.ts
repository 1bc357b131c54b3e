/**
 * Runs the operator: shared informers (warm on every replica), a work queue and workers per
 * controller (only on the leader), health and metrics endpoints, graceful shutdown.
 *
 * Writes are fenced by the leader lease: the Kubernetes client and the Kafka admin ask
 * `writeBudgetMs()` before every write, so a replica that is not (or no longer) the leader
 * writes nothing; when the lease is lost, the queues stop, writes in flight are cut and the
 * process exits for a fresh start as a standby.
 */
import http from 'node:http';
import { isConflict, type KubeClient, type KubeObject, NotLeaderError } from '../kube/client.ts';
import { type IndexFunction, Informer, type InformerHandlers } from '../kube/informer.ts';
import { type LeaderElectionTiming, LeaderElector } from '../kube/leader-election.ts';
import type { ResourceType } from '../kube/resources.ts';
import type { Logger } from './logger.ts';
import type { OperatorMetrics } from './metrics.ts';
import { WorkQueue } from './workqueue.ts';

export interface ReconcileResult {
  /** Reconcile again after this delay even without events (polling external state). */
  requeueAfterMs?: number;
}

export interface Controller {
  readonly name: string;
  /** The cache of the controller's own kind: every object in it is resynced periodically. */
  readonly primary: Cache;
  reconcile(key: string): Promise<ReconcileResult>;
}

/** Read access to the objects of one type across the watched namespaces. */
export class Cache {
  readonly type: ResourceType;
  readonly informers: readonly Informer[];
  constructor(type: ResourceType, informers: Informer[]) {
    this.type = type;
    this.informers = informers;
  }
  get(namespace: string | undefined, name: string): KubeObject | undefined {
    for (const i of this.informers) {
      const o = i.get(namespace, name);
      if (o) return o;
    }
    return undefined;
  }
  list(namespace?: string): KubeObject[] {
    return this.informers.flatMap((i) => i.list(namespace));
  }
  on(handlers: InformerHandlers): void {
    for (const i of this.informers) i.on(handlers);
  }
  /** Indexes the objects (see byIndex); idempotent per name. */
  addIndex(name: string, valuesOf: IndexFunction): this {
    for (const i of this.informers) i.addIndex(name, valuesOf);
    return this;
  }
  byIndex(name: string, value: string): KubeObject[] {
    return this.informers.flatMap((i) => i.byIndex(name, value));
  }
}

/** The index of objects that name a MemoryCluster in spec.clusterRef: value `namespace/cluster`. */
export const CLUSTER_REF_INDEX = 'clusterRef';
export const clusterRefOf = (o: KubeObject): string[] => {
  const ref = (o.spec as { clusterRef?: { name?: string } } | undefined)?.clusterRef?.name;
  return ref ? [`${o.metadata.namespace}/${ref}`] : [];
};

/**
 * Handlers that enqueue the controlling owner of kind `ownerKind` of each changed object, after
 * `delayMs` (bursts of events about one owner's children fold into one reconcile).
 */
export function toControllingOwner(
  ownerKind: string,
  enqueue: (key: string, delayMs?: number) => void,
  delayMs = 0,
): InformerHandlers {
  const owner = (o: KubeObject) => {
    const ref = o.metadata.ownerReferences?.find((r) => r.kind === ownerKind && r.controller);
    if (ref) enqueue(`${o.metadata.namespace}/${ref.name}`, delayMs);
  };
  return { add: owner, update: (_a, b) => owner(b), delete: owner };
}

export interface ManagerOptions {
  client: KubeClient;
  metrics: OperatorMetrics;
  log: Logger;
  /** Namespaces to watch; empty = all. */
  namespaces: string[];
  workersPerController: number;
  resyncPeriodMs: number;
  leaderElection?: {
    namespace: string;
    name: string;
    identity: string;
    /** Its own client: lease renewals never queue behind reconciles, and are never fenced. */
    client: KubeClient;
    timing?: Partial<LeaderElectionTiming>;
  };
  metricsAddress?: string;
  healthAddress?: string;
  /** A reconcile running longer than this marks the process unhealthy (wedged). */
  reconcileStuckMs?: number;
}

interface Registered {
  controller: Controller;
  queue: WorkQueue;
  workers: Promise<void>[];
  /** Start time of each reconcile in flight, by key. */
  running: Map<string, number>;
}

/** A conflict means our view was stale: retry soon, but back off when it keeps happening. */
const CONFLICT_BACKOFF = { baseDelayMs: 100, maxDelayMs: 10_000 };
/** An informer with no list, event or watch end for this long is stalled. */
const INFORMER_STALLED_MS = 15 * 60_000;
/** How long a graceful stop may take before the process exits anyway. */
const STOP_DEADLINE_MS = 30_000;

export class Manager {
  private readonly opts: ManagerOptions;
  private readonly caches = new Map<string, Cache>();
  private readonly controllers: Registered[] = [];
  private readonly servers: http.Server[] = [];
  private elector: LeaderElector | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private synced = false;
  private stopping = false;
  private leaderLost = false;
  private resolveDone!: (code: number) => void;
  /** Resolves with the exit code once the manager stopped (signal or lost lease). */
  readonly done: Promise<number>;

  constructor(opts: ManagerOptions) {
    this.opts = opts;
    this.done = new Promise((r) => {
      this.resolveDone = r;
    });
    if (opts.leaderElection) {
      const le = opts.leaderElection;
      // Built here so bad timing fails before anything starts.
      this.elector = new LeaderElector(le.client, {
        namespace: le.namespace,
        name: le.name,
        identity: le.identity,
        ...le.timing,
        onStartedLeading: () => {
          opts.log.info('became leader', { identity: le.identity });
          opts.metrics.leader.set(1);
          this.startWorkers();
        },
        onStoppedLeading: () => this.loseLeadership(),
        onError: (err) => opts.log.warn('leader election call failed', { err }),
      });
    }
  }

  get client(): KubeClient {
    return this.opts.client;
  }

  /**
   * How long this replica may still write, in ms: unbounded without leader election, else the
   * time left on the lease it renewed (0 for a standby or a replica that lost the lease).
   */
  writeBudgetMs(): number {
    if (this.leaderLost) return 0;
    if (!this.elector) return Number.POSITIVE_INFINITY;
    return this.elector.remainingMs();
  }

  /** Throws NotLeaderError unless this replica may write now (for calls outside the Kubernetes client). */
  assertMayWrite(): void {
    if (this.writeBudgetMs() <= 0) throw new NotLeaderError();
  }

  /** A shared cache of `type` (one informer per watched namespace), created on first use. */
  cache(type: ResourceType, options: { labelSelector?: string; metadataOnly?: boolean } = {}): Cache {
    const { labelSelector, metadataOnly } = options;
    const key = `${type.group}/${type.plural}?${labelSelector ?? ''}${metadataOnly ? '#meta' : ''}`;
    let cache = this.caches.get(key);
    if (!cache) {
      const namespaces = type.namespaced && this.opts.namespaces.length ? this.opts.namespaces : [undefined];
      const informers = namespaces.map(
        (namespace) =>
          new Informer(this.opts.client, type, {
            ...(namespace ? { namespace } : {}),
            ...(labelSelector ? { labelSelector } : {}),
            ...(metadataOnly ? { metadataOnly } : {}),
            onError: (err, attempt) =>
              this.opts.log.warn('watch failed; restarting with backoff', {
                resource: type.plural,
                attempt,
                err,
              }),
          }),
      );
      cache = new Cache(type, informers);
      this.caches.set(key, cache);
    }
    return cache;
  }

  /**
   * Registers a controller; returns the function that enqueues a key for it, at once or after
   * `delayMs` (bursts of events within the delay become one reconcile).
   */
  register(controller: Controller): (key: string, delayMs?: number) => void {
    const name = controller.name;
    const queue = new WorkQueue({
      onDepth: (d) => this.opts.metrics.queueDepth.set({ controller: name }, d),
      onWait: (ms) => this.opts.metrics.queueLatency.observe({ controller: name }, ms / 1000),
    });
    // Present from the start, so a dashboard sees 0 rather than no series.
    this.opts.metrics.queueDepth.set({ controller: name }, 0);
    this.opts.metrics.observeReadiness(controller.primary.type.kind, () => controller.primary.list());
    this.controllers.push({ controller, queue, workers: [], running: new Map() });
    return (key, delayMs = 0) => queue.addAfter(key, delayMs);
  }

  async start(): Promise<void> {
    const { log } = this.opts;
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      process.once(sig, () => {
        log.info('signal received; shutting down', { signal: sig });
        void this.stop(0);
      });
    }
    this.serve();
    const informers = [...this.caches.values()].flatMap((c) => c.informers);
    for (const i of informers) i.start();
    await Promise.race([Promise.all(informers.map((i) => i.hasSynced)), this.done]);
    if (this.stopping) return;
    this.synced = true;
    log.info('caches synced', { informers: informers.length });
    if (!this.elector) {
      this.startWorkers();
      return;
    }
    this.elector.start();
  }

  private startWorkers(): void {
    if (this.stopping) return;
    for (const reg of this.controllers) {
      // Everything in the cache is reconciled once on start (level-triggered).
      for (const obj of reg.controller.primary.list())
        reg.queue.add(`${obj.metadata.namespace}/${obj.metadata.name}`);
      for (let i = 0; i < this.opts.workersPerController; i++) reg.workers.push(this.worker(reg));
    }
    this.resyncTimer = setInterval(() => this.resyncAll(), this.opts.resyncPeriodMs);
    this.resyncTimer.unref();
  }

  /** Enqueues every key a controller's primary cache holds. */
  private resyncAll(): void {
    for (const reg of this.controllers) {
      for (const obj of reg.controller.primary.list()) {
        reg.queue.add(`${obj.metadata.namespace}/${obj.metadata.name}`);
      }
    }
  }

  /** The lease is gone: stop every piece of work at once, then exit so a fresh process stands by. */
  private loseLeadership(): void {
    const { log, metrics } = this.opts;
    this.leaderLost = true;
    metrics.leader.set(0);
    for (const reg of this.controllers) reg.queue.shutdown();
    this.opts.client.abortWrites();
    log.error('lost the leader lease; stopped all work and exiting so a fresh process can stand by');
    void this.stop(1);
  }

  private async worker(reg: Registered): Promise<void> {
    const { metrics, log } = this.opts;
    const name = reg.controller.name;
    for (;;) {
      const key = await reg.queue.get();
      if (key === undefined) return;
      const end = metrics.reconcileDuration.startTimer({ controller: name });
      reg.running.set(key, performance.now());
      try {
        const result = await reg.controller.reconcile(key);
        reg.queue.forget(key);
        if (result.requeueAfterMs) {
          reg.queue.addAfter(key, result.requeueAfterMs);
          metrics.reconciles.inc({ controller: name, result: 'requeue' });
        } else {
          metrics.reconciles.inc({ controller: name, result: 'success' });
        }
      } catch (err) {
        if (err instanceof NotLeaderError || this.leaderLost) {
          metrics.reconciles.inc({ controller: name, result: 'not-leader' });
        } else if (isConflict(err)) {
          // Our view was stale (someone wrote first): read the newer object and try again soon.
          reg.queue.addRateLimited(key, CONFLICT_BACKOFF);
          metrics.reconciles.inc({ controller: name, result: 'conflict' });
          log.debug('write conflict; reconciling again from the newer object', { controller: name, key });
        } else {
          const delay = reg.queue.addRateLimited(key);
          metrics.reconciles.inc({ controller: name, result: 'error' });
          log.warn('reconcile failed; retrying with backoff', {
            controller: name,
            key,
            retryInMs: delay,
            err,
          });
        }
      } finally {
        reg.running.delete(key);
        end();
        reg.queue.done(key);
      }
    }
  }

  /** Why the process is not healthy (liveness), or undefined. */
  unhealthy(): string | undefined {
    if (this.leaderLost) return 'lost the leader lease';
    const now = performance.now();
    const stuckMs = this.opts.reconcileStuckMs ?? 10 * 60_000;
    for (const reg of this.controllers) {
      for (const [key, since] of reg.running) {
        if (now - since > stuckMs)
          return `${reg.controller.name} reconcile of ${key} has run for ${Math.round((now - since) / 1000)} s`;
      }
    }
    for (const cache of this.caches.values()) {
      for (const i of cache.informers) {
        if (now - i.lastProgressAt > INFORMER_STALLED_MS)
          return `the ${cache.type.plural} watch made no progress for ${Math.round((now - i.lastProgressAt) / 1000)} s`;
      }
    }
    return undefined;
  }

  private serve(): void {
    const { metrics } = this.opts;
    const handler: http.RequestListener = async (req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/healthz' || path === '/livez') {
        const why = this.unhealthy();
        res.writeHead(why ? 503 : 200).end(why ?? 'ok');
      } else if (path === '/readyz') {
        if (this.synced && !this.stopping) res.writeHead(200).end('ok');
        else res.writeHead(503).end(this.stopping ? 'shutting down' : 'caches not synced');
      } else if (path === '/metrics') {
        res
          .writeHead(200, { 'content-type': metrics.registry.contentType })
          .end(await metrics.registry.metrics());
      } else {
        res.writeHead(404).end('not found');
      }
    };
    const addresses = new Set(
      [this.opts.metricsAddress, this.opts.healthAddress].filter((a): a is string => !!a),
    );
    for (const address of addresses) {
      const i = address.lastIndexOf(':');
      const host = address.slice(0, i) || '0.0.0.0';
      const port = Number(address.slice(i + 1));
      const server = http.createServer(handler);
      server.on('error', (err) => {
        this.opts.log.error('cannot listen; choose another address', { address, err });
        void this.stop(1);
      });
      server.listen(port, host);
      this.servers.push(server);
    }
  }

  /** Graceful stop: no new work, in-flight reconciles finish, lease released, servers closed. */
  async stop(code: number): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    // A backstop: a stop that hangs (a call that never returns) must not keep the process alive.
    const deadline = setTimeout(() => {
      this.opts.log.error('graceful stop took too long; exiting', { deadlineMs: STOP_DEADLINE_MS });
      this.resolveDone(code || 1);
    }, STOP_DEADLINE_MS);
    deadline.unref();
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    for (const reg of this.controllers) reg.queue.shutdown();
    await Promise.all(this.controllers.flatMap((r) => r.workers));
    if (!this.leaderLost) await this.elector?.stop();
    await Promise.all([...this.caches.values()].flatMap((c) => c.informers.map((i) => i.stop())));
    for (const s of this.servers) s.close();
    this.opts.client.close();
    this.opts.leaderElection?.client.close();
    clearTimeout(deadline);
    this.resolveDone(code);
  }
}
