/**
 * Consumer-group lag of every WorkerPool, polled by the operator through each cluster's shared
 * admin client: per poll ONE fetchTopicOffsets per distinct topic and ONE fetchOffsets per
 * distinct consumer group (pools of one role on one cluster share both), whatever the pool count.
 *
 * The rule per partition (never -1 arithmetic):
 * - committed offset c >= 0: lag = high - max(c, low). A committed offset below the log start
 *   (retention deleted those records) resumes at the log start, so only what is left counts.
 * - no committed offset (kafkajs reports -1): the runtime subscribes from the beginning, so the
 *   whole retained log is lag: high - low.
 * - a stuck partition (autoscaling.excludeStuckPartitionsAfter): committed, lagging, its offset
 *   unmoved for the window while another partition of the group committed within it, counts 0:
 *   more pods cannot fix a poison message. A partition never committed is never stuck.
 *
 * The latest reading is exported as the gauge WORKER_POOL_LAG_METRIC, served to other code by
 * read(), and a changed reading enqueues the pool (its status is written at most once per poll).
 */
import { Gauge, type Registry } from 'prom-client';
import { consumerGroupName, ROLE_SPECS } from '../../runtime/contract/roles.ts';
import { topicName } from '../../runtime/contract/topics.ts';
import { durationToMilliseconds, effectiveTopicPrefix } from '../api/defaults.ts';
import { WORKER_POOL_LAG_METRIC } from '../api/external-metrics.ts';
import { type MemoryCluster, type MemoryClusterStatus, memoryClusterSchema } from '../api/memorycluster.ts';
import { type WorkerPool, workerPoolSchema } from '../api/workerpool.ts';
import type { Logger } from '../controller/logger.ts';
import type { Cache } from '../controller/manager.ts';
import type { KafkaConnection, PartitionOffsets, TopicAdmin, TopicAdminPool } from '../kafka/topic-admin.ts';

/** What other code (the External Metrics API server, the reconciler) reads about a pool's lag. */
export interface LagReading {
  /** Messages waiting (stuck partitions left out). */
  total: number;
  /** Partitions of the consumed topic. */
  partitions: number;
  /** Partitions left out as stuck. */
  stuckPartitions: number;
  /** When this value was first measured (a reading that stays the same keeps its time). */
  observedAt: Date;
  /** Since when the pool has had no lag at all (undefined while it has some). */
  idleSince: Date | undefined;
}

/** A partition's committed offset and since when it stands there (ms since epoch). */
interface PartitionHistory {
  committed: number;
  since: number;
}

/** Per group: partitions' histories and the last time any of them moved. */
export interface GroupHistory {
  partitions: Map<number, PartitionHistory>;
  lastProgressAt: number | undefined;
}

export const emptyHistory = (): GroupHistory => ({ partitions: new Map(), lastProgressAt: undefined });

/**
 * The lag of one group on one topic (pure but for updating `history`): offsets in, total and the
 * count of stuck partitions out. `excludeStuckAfterMs` undefined counts every partition.
 */
export function partitionLag(
  ends: readonly PartitionOffsets[],
  committed: ReadonlyMap<number, number> | undefined,
  history: GroupHistory,
  now: number,
  excludeStuckAfterMs: number | undefined,
): { total: number; stuckPartitions: number } {
  const lags = new Map<number, number>();
  for (const { partition, low, high } of ends) {
    const c = committed?.get(partition) ?? -1;
    const lag = c < 0 ? high - low : high - Math.max(c, low);
    lags.set(partition, Math.max(0, lag));
    if (c < 0) {
      history.partitions.delete(partition);
      continue;
    }
    const h = history.partitions.get(partition);
    if (!h || h.committed !== c) {
      // The first sight is not progress: only a move between two polls is.
      if (h) history.lastProgressAt = now;
      history.partitions.set(partition, { committed: c, since: now });
    }
  }
  let total = 0;
  let stuckPartitions = 0;
  for (const [partition, lag] of lags) {
    const h = history.partitions.get(partition);
    const stuck =
      excludeStuckAfterMs !== undefined &&
      lag > 0 &&
      h !== undefined &&
      now - h.since >= excludeStuckAfterMs &&
      history.lastProgressAt !== undefined &&
      history.lastProgressAt > h.since &&
      now - history.lastProgressAt < excludeStuckAfterMs;
    if (stuck) stuckPartitions++;
    else total += lag;
  }
  return { total, stuckPartitions };
}

/** Which topic and group a pool's lag is measured on; undefined for roles that consume nothing. */
export function lagSubject(
  pool: WorkerPool,
  cluster: MemoryCluster,
): { topic: string; group: string } | undefined {
  const key = ROLE_SPECS[pool.spec.role].consumes;
  if (!key) return undefined;
  const prefix = effectiveTopicPrefix(
    cluster.spec,
    cluster.metadata.namespace ?? 'default',
    cluster.metadata.name,
  );
  return { topic: topicName(prefix, key), group: consumerGroupName(prefix, pool.spec.role) };
}

export interface LagMonitorOptions {
  pools: Cache;
  clusters: Cache;
  kafka: TopicAdminPool;
  /** The cluster's Kafka connection (kafkaConnection in memorycluster/topics.ts). */
  connection: (cluster: MemoryCluster) => Promise<KafkaConnection>;
  registry: Registry;
  intervalMs: number;
  log: Logger;
  /** Called with `namespace/name` of each pool whose reading changed in a poll. */
  onChange: (key: string) => void;
}

const poolKey = (namespace: string, name: string) => `${namespace}/${name}`;

export class LagMonitor {
  readonly #o: LagMonitorOptions;
  readonly #readings = new Map<string, LagReading>();
  /** Why the last poll could not measure a pool, by pool key. */
  readonly #errors = new Map<string, string>();
  /** Pools the last finished poll measured (the others' readings are history, not the present). */
  #measured = new Set<string>();
  /** By `<cluster key>|<group>|<topic>`. */
  readonly #histories = new Map<string, GroupHistory>();
  readonly #gauge: Gauge<'namespace' | 'workerpool'>;
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;

  constructor(o: LagMonitorOptions) {
    this.#o = o;
    this.#gauge = new Gauge({
      name: WORKER_POOL_LAG_METRIC,
      help: 'Consumer-group lag of a WorkerPool on its topic (messages; stuck partitions left out when configured).',
      labelNames: ['namespace', 'workerpool'] as const,
      registers: [o.registry],
    });
  }

  get intervalMs(): number {
    return this.#o.intervalMs;
  }

  /** The latest reading of a pool, or undefined before its first successful poll. */
  read(namespace: string, pool: string): LagReading | undefined {
    return this.#readings.get(poolKey(namespace, pool));
  }

  /**
   * The reading only if the last poll measured the pool: what scaling acts on (the HPA's metric,
   * scale to zero). A failed poll or an unlisted topic is no answer, never the last known lag.
   */
  current(namespace: string, pool: string): LagReading | undefined {
    const key = poolKey(namespace, pool);
    return this.#measured.has(key) ? this.#readings.get(key) : undefined;
  }

  /** Why the pool's lag could not be measured in the last poll, if it could not. */
  error(namespace: string, pool: string): string | undefined {
    return this.#errors.get(poolKey(namespace, pool));
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.poll(), this.#o.intervalMs);
    this.#timer.unref();
    void this.poll();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#polling;
  }

  /** One poll of every pool (a poll still running is joined, never doubled). */
  poll(): Promise<void> {
    this.#polling ??= this.pollNow().finally(() => {
      this.#polling = undefined;
    });
    return this.#polling;
  }

  private async pollNow(): Promise<void> {
    const byCluster = new Map<string, { cluster: MemoryCluster; pools: WorkerPool[]; topics: Set<string> }>();
    const seen = new Set<string>();
    for (const raw of this.#o.pools.list()) {
      const parsed = workerPoolSchema.safeParse(raw);
      if (!parsed.success || raw.metadata.deletionTimestamp) continue;
      const pool = parsed.data;
      const ns = pool.metadata.namespace ?? 'default';
      if (!ROLE_SPECS[pool.spec.role].consumes) continue;
      seen.add(poolKey(ns, pool.metadata.name));
      const clusterKey = poolKey(ns, pool.spec.clusterRef.name);
      let entry = byCluster.get(clusterKey);
      if (!entry) {
        const raw = this.#o.clusters.get(ns, pool.spec.clusterRef.name);
        const mc = memoryClusterSchema.safeParse(raw);
        if (!mc.success) {
          this.#errors.set(
            poolKey(ns, pool.metadata.name),
            `MemoryCluster ${pool.spec.clusterRef.name} not found`,
          );
          continue;
        }
        const listed = (raw?.status as MemoryClusterStatus | undefined)?.topics?.map((t) => t.name) ?? [];
        entry = { cluster: mc.data, pools: [], topics: new Set(listed) };
        byCluster.set(clusterKey, entry);
      }
      // A topic the cluster has not created yet has no lag to measure: not an error, not yet.
      const subject = lagSubject(pool, entry.cluster);
      if (subject && entry.topics.has(subject.topic)) entry.pools.push(pool);
    }
    for (const key of [...this.#readings.keys()]) {
      if (seen.has(key)) continue;
      this.#readings.delete(key);
      this.#errors.delete(key);
      const [namespace, workerpool] = key.split('/') as [string, string];
      this.#gauge.remove({ namespace, workerpool });
    }
    const measured = new Set<string>();
    await Promise.all(
      [...byCluster]
        .filter(([, { pools }]) => pools.length > 0)
        .map(([clusterKey, { cluster, pools }]) => this.pollCluster(clusterKey, cluster, pools, measured)),
    );
    this.#measured = measured;
  }

  private async pollCluster(
    clusterKey: string,
    cluster: MemoryCluster,
    pools: WorkerPool[],
    measured: Set<string>,
  ): Promise<void> {
    const now = Date.now();
    const subjects = pools.map((pool) => ({ pool, ...lagSubject(pool, cluster)! }));
    const topics = [...new Set(subjects.map((s) => s.topic))];
    const groups = new Map<string, string[]>();
    for (const s of subjects) groups.set(s.group, [...new Set([...(groups.get(s.group) ?? []), s.topic])]);
    let ends: Map<string, PartitionOffsets[]>;
    let committed: Map<string, Map<string, Map<number, number>>>;
    try {
      const admin: TopicAdmin = this.#o.kafka.forCluster(clusterKey, await this.#o.connection(cluster));
      [ends, committed] = await Promise.all([
        Promise.all(topics.map(async (t) => [t, await admin.logOffsets(t)] as const)).then((e) => new Map(e)),
        Promise.all(
          [...groups].map(async ([g, ts]) => [g, await admin.committedOffsets(g, ts)] as const),
        ).then((c) => new Map(c)),
      ]);
    } catch (err) {
      const message = `cannot measure the lag: ${(err as Error).message}`;
      for (const { pool } of subjects)
        this.#errors.set(poolKey(pool.metadata.namespace!, pool.metadata.name), message);
      this.#o.log.warn('lag poll failed', { memorycluster: clusterKey, err });
      return;
    }
    for (const { pool, topic, group } of subjects) {
      const ns = pool.metadata.namespace ?? 'default';
      const key = poolKey(ns, pool.metadata.name);
      this.#errors.delete(key);
      measured.add(key);
      const historyKey = `${clusterKey}|${group}|${topic}`;
      let history = this.#histories.get(historyKey);
      if (!history) {
        history = emptyHistory();
        this.#histories.set(historyKey, history);
      }
      const stuckAfter = pool.spec.autoscaling?.excludeStuckPartitionsAfter;
      const partitionsOf = ends.get(topic) ?? [];
      const { total, stuckPartitions } = partitionLag(
        partitionsOf,
        committed.get(group)?.get(topic),
        history,
        now,
        stuckAfter ? durationToMilliseconds(stuckAfter) : undefined,
      );
      this.#gauge.set({ namespace: ns, workerpool: pool.metadata.name }, total);
      const previous = this.#readings.get(key);
      const partitions = partitionsOf.length;
      if (
        previous &&
        previous.total === total &&
        previous.partitions === partitions &&
        previous.stuckPartitions === stuckPartitions
      )
        continue;
      const at = new Date(now);
      this.#readings.set(key, {
        total,
        partitions,
        stuckPartitions,
        observedAt: at,
        idleSince: total > 0 || stuckPartitions > 0 ? undefined : (previous?.idleSince ?? at),
      });
      this.#o.onChange(key);
    }
  }
}
