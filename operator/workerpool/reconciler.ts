/**
 * WorkerPool reconciliation: observe (the pool, its MemoryCluster, the live Deployment and HPA,
 * the lag monitor's reading) -> build the Deployment and HPA (pure, desired/) -> apply what
 * differs (SSA; replicas only when not autoscaled) and the 0 <-> 1 step of scale to zero ->
 * compute status (pure, status.ts) -> write it only if it changed (StatusWriter).
 */
import { type MemoryClusterStatus, memoryClusterSchema } from '../api/memorycluster.ts';
import { type WorkerPool, type WorkerPoolStatus, workerPoolSchema } from '../api/workerpool.ts';
import type { Applier } from '../controller/apply.ts';
import type { Logger } from '../controller/logger.ts';
import type { Cache, Controller, ReconcileResult } from '../controller/manager.ts';
import type { StatusWriter } from '../controller/status-writer.ts';
import type { KubeClient, KubeObject } from '../kube/client.ts';
import type { EventRecorder } from '../kube/events.ts';
import { splitKey, Types } from '../kube/resources.ts';
import type { PartHealth } from '../memorycluster/status.ts';
import { buildWorkerDeployment } from './desired/deployment.ts';
import { buildWorkerHpa } from './desired/hpa.ts';
import { poolChildName, poolSelector } from './desired/meta.ts';
import { type LagMonitor, lagSubject } from './lag.ts';
import { scaleToZeroStep } from './scale-to-zero.ts';
import { computeWorkerPoolStatus, type PoolObservation } from './status.ts';

export interface WorkerPoolCaches {
  pools: Cache;
  clusters: Cache;
  deployments: Cache;
  hpas: Cache;
}

export interface WorkerPoolReconcilerOptions {
  client: KubeClient;
  events: EventRecorder;
  caches: WorkerPoolCaches;
  applier: Applier;
  status: StatusWriter;
  lag: LagMonitor;
  log: Logger;
}

export class WorkerPoolReconciler implements Controller {
  readonly name = 'workerpool';
  readonly primary: Cache;
  readonly #o: WorkerPoolReconcilerOptions;

  constructor(o: WorkerPoolReconcilerOptions) {
    this.#o = o;
    this.primary = o.caches.pools;
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const { namespace, name } = splitKey(key);
    const cached = this.#o.caches.pools.get(namespace, name);
    // Its Deployment and HPA go by garbage collection; the lag monitor forgets it at its next poll.
    if (!cached || cached.metadata.deletionTimestamp) return {};
    const raw = this.#o.status.view(cached);
    const ns = namespace ?? 'default';
    const generation = raw.metadata.generation ?? 0;
    const parsed = workerPoolSchema.safeParse(raw);
    if (!parsed.success)
      return this.blocked(raw, {
        status: 'False',
        reason: 'InvalidSpec',
        message: `the operator cannot act on this spec: ${parsed.error.message}; fix the spec (admission should have refused it: please report it)`,
        stalled: true,
      });
    const pool = parsed.data;
    const clusterName = pool.spec.clusterRef.name;
    const clusterRaw = this.#o.caches.clusters.get(ns, clusterName);
    if (!clusterRaw)
      return this.blocked(raw, {
        status: 'False',
        reason: 'ClusterNotFound',
        message: `MemoryCluster ${clusterName} not found in namespace ${ns}: create it or fix spec.clusterRef.name`,
      });
    const clusterParsed = memoryClusterSchema.safeParse(clusterRaw);
    if (!clusterParsed.success)
      return this.blocked(raw, {
        status: 'Unknown',
        reason: 'ClusterInvalid',
        message: `MemoryCluster ${clusterName} cannot be read: ${clusterParsed.error.message}`,
      });
    const cluster = clusterParsed.data;
    const subject = lagSubject(pool, cluster);
    const reading = this.#o.lag.read(ns, name);
    const partitions =
      reading?.partitions ||
      (clusterRaw.status as MemoryClusterStatus | undefined)?.topics?.find((t) => t.name === subject?.topic)
        ?.partitions;
    const autoscaled = pool.spec.autoscaling !== undefined;

    const deployment = buildWorkerDeployment({
      pool,
      cluster,
      replicas: autoscaled ? undefined : pool.spec.replicas,
    });
    const hpa = buildWorkerHpa(pool, partitions);
    let applyError: string | undefined;
    try {
      await Promise.all([this.#o.applier.applyIfChanged(deployment), this.applyHpa(pool, hpa)]);
    } catch (err) {
      applyError = `cannot apply the pool's children: ${(err as Error).message}`;
      this.#o.log.warn('apply failed', { workerpool: key, err });
    }

    const now = new Date();
    const live = this.#o.applier.live(deployment);
    const current = live ? ((live.spec as { replicas?: number }).replicas ?? 1) : undefined;
    // Only a lag measured in the last poll moves a pool to or from 0: a pool is not idle because its lag cannot be read.
    const measured = this.#o.lag.current(ns, name);
    const step = applyError ? {} : scaleToZeroStep(pool.spec.autoscaling, current, measured, now);
    if (step.replicas !== undefined) await this.scaleTo(raw, pool, step.replicas);

    const observation: PoolObservation = {
      generation,
      ...(applyError ? { applyError } : {}),
      deployment: live,
      autoscaled,
      hpa: hpa ? this.#o.applier.live(hpa) : undefined,
      ...(hpa ? { hpaName: hpa.metadata.name } : {}),
      ...(hpa ? { maxReplicas: (hpa.spec as { maxReplicas: number }).maxReplicas } : {}),
      selector: poolSelector(pool),
      ...(subject ? { consumerGroup: subject.group, topics: [subject.topic] } : {}),
      lag: reading,
      ...(autoscaled && this.#o.lag.error(ns, name) ? { lagError: this.#o.lag.error(ns, name) } : {}),
    };
    await this.#o.status.write(
      raw,
      computeWorkerPoolStatus(raw.status as WorkerPoolStatus | undefined, observation, now),
    );
    return step.recheckAfterMs ? { requeueAfterMs: step.recheckAfterMs } : {};
  }

  /** The HPA when autoscaled; when no longer, the one this operator made goes. */
  private async applyHpa(pool: WorkerPool, hpa: KubeObject | undefined): Promise<void> {
    if (hpa) {
      await this.#o.applier.applyIfChanged(hpa);
      return;
    }
    const ns = pool.metadata.namespace ?? 'default';
    const live = this.#o.caches.hpas.get(ns, poolChildName(pool));
    const ours = live?.metadata.ownerReferences?.some(
      (r) => r.kind === 'WorkerPool' && r.uid === pool.metadata.uid,
    );
    if (live && ours) await this.#o.client.delete(Types.HorizontalPodAutoscaler, ns, live.metadata.name);
  }

  /** 0 <-> 1 through the Deployment's /scale, as the HPA itself writes replicas: never in the applied object. */
  private async scaleTo(raw: KubeObject, pool: WorkerPool, replicas: 0 | 1): Promise<void> {
    const ns = pool.metadata.namespace ?? 'default';
    await this.#o.client.mergePatch(
      Types.Deployment,
      ns,
      poolChildName(pool),
      { spec: { replicas } },
      'scale',
    );
    const reading = this.#o.lag.read(ns, pool.metadata.name);
    if (replicas === 0)
      this.#o.events.emit(
        raw,
        'Normal',
        'ScaledToZero',
        'no lag for autoscaling.scaleToZeroAfter: scaled the pool to 0',
      );
    else
      this.#o.events.emit(
        raw,
        'Normal',
        'Activated',
        `lag ${reading?.total ?? '?'} reached the activation lag: scaled the pool from 0 to 1; the HPA takes over from here`,
      );
    this.#o.log.info('scale to zero step', { workerpool: `${ns}/${pool.metadata.name}`, replicas });
  }

  private async blocked(raw: KubeObject, why: PartHealth): Promise<ReconcileResult> {
    const pool = raw as unknown as WorkerPool;
    await this.#o.status.write(
      raw,
      computeWorkerPoolStatus(
        raw.status as WorkerPoolStatus | undefined,
        {
          generation: raw.metadata.generation ?? 0,
          blocked: why,
          deployment: undefined,
          autoscaled: false,
          hpa: undefined,
          selector: poolSelector(pool),
          lag: undefined,
        },
        new Date(),
      ),
    );
    return {};
  }
}
