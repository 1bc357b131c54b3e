/**
 * Runs the operator: shared informers (warm on every replica), a work queue and workers per
 * controller (only on the leader), health and metrics endpoints, graceful shutdown.
 */
import http from 'node:http';
import { isConflict, type KubeClient, type KubeObject } from '../kube/client.ts';
import { Informer, type InformerHandlers } from '../kube/informer.ts';
import { LeaderElector } from '../kube/leader-election.ts';
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
}

export interface ManagerOptions {
  client: KubeClient;
  metrics: OperatorMetrics;
  log: Logger;
  /** Namespaces to watch; empty = all. */
  namespaces: string[];
  workersPerController: number;
  resyncPeriodMs: number;
  leaderElection?: { namespace: string; name: string; identity: string; leaseDurationMs?: number };
  metricsAddress?: string;
  healthAddress?: string;
}

interface Registered {
  controller: Controller;
  queue: WorkQueue;
  workers: Promise<void>[];
}

export class Manager {
  private readonly opts: ManagerOptions;
  private readonly caches = new Map<string, Cache>();
  private readonly controllers: Registered[] = [];
  private readonly servers: http.Server[] = [];
  private elector: LeaderElector | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private synced = false;
  private stopping = false;
  private resolveDone!: (code: number) => void;
  /** Resolves with the exit code once the manager stopped (signal or lost lease). */
  readonly done: Promise<number>;

  constructor(opts: ManagerOptions) {
    this.opts = opts;
    this.done = new Promise((r) => {
      this.resolveDone = r;
    });
  }

  get client(): KubeClient {
    return this.opts.client;
  }

  /** A shared cache of `type` (one informer per watched namespace), created on first use. */
  cache(type: ResourceType, labelSelector?: string): Cache {
    const key = `${type.group}/${type.plural}?${labelSelector ?? ''}`;
    let cache = this.caches.get(key);
    if (!cache) {
      const namespaces = type.namespaced && this.opts.namespaces.length ? this.opts.namespaces : [undefined];
      const informers = namespaces.map(
        (namespace) =>
          new Informer(this.opts.client, type, {
            ...(namespace ? { namespace } : {}),
            ...(labelSelector ? { labelSelector } : {}),
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
    this.controllers.push({ controller, queue, workers: [] });
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
    await Promise.all(informers.map((i) => i.hasSynced));
    this.synced = true;
    log.info('caches synced', { informers: informers.length });

    const le = this.opts.leaderElection;
    if (!le) {
      this.startWorkers();
      return;
    }
    this.elector = new LeaderElector(this.opts.client, {
      ...le,
      onStartedLeading: () => {
        log.info('became leader', { identity: le.identity });
        this.opts.metrics.leader.set(1);
        this.startWorkers();
      },
      onStoppedLeading: () => {
        log.error('lost the leader lease; exiting so a fresh process can stand by', {
          identity: le.identity,
        });
        this.opts.metrics.leader.set(0);
        void this.stop(1);
      },
      onError: (err) => log.warn('leader election call failed', { err }),
    });
    this.elector.start();
  }

  private startWorkers(): void {
    for (const reg of this.controllers) {
      // Everything in the cache is reconciled once on start (level-triggered).
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

  private async worker(reg: Registered): Promise<void> {
    const { metrics, log } = this.opts;
    const name = reg.controller.name;
    for (;;) {
      const key = await reg.queue.get();
      if (key === undefined) return;
      const end = metrics.reconcileDuration.startTimer({ controller: name });
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
        if (isConflict(err)) {
          // Our view was stale (someone wrote first): read the newer object and try again soon.
          reg.queue.addAfter(key, 200);
          metrics.reconciles.inc({ controller: name, result: 'conflict' });
          log.debug('write conflict; reconciling again from the newer object', { controller: name, key });
          continue;
        }
        const delay = reg.queue.addRateLimited(key);
        metrics.reconciles.inc({ controller: name, result: 'error' });
        log.warn('reconcile failed; retrying with backoff', { controller: name, key, retryInMs: delay, err });
      } finally {
        end();
        reg.queue.done(key);
      }
    }
  }

  private serve(): void {
    const { metrics } = this.opts;
    const handler: http.RequestListener = async (req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/healthz' || path === '/livez') {
        res.writeHead(200).end('ok');
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
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    for (const reg of this.controllers) reg.queue.shutdown();
    await Promise.all(this.controllers.flatMap((r) => r.workers));
    await this.elector?.stop();
    await Promise.all([...this.caches.values()].flatMap((c) => c.informers.map((i) => i.stop())));
    for (const s of this.servers) s.close();
    this.opts.client.close();
    this.resolveDone(code);
  }
}
