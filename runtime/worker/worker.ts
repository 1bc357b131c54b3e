/**
 * The worker framework every consuming role runs on. For each partition batch it decodes the
 * messages (undecodable ones go to the dlq at once), hands them to the role's processor in groups
 * of `batchSize` with at most `concurrency` groups at a time, and resolves an offset only when the
 * contiguous prefix up to it is durable (processed or dead-lettered). Failures are retried with
 * exponential backoff and jitter: transient ones (a store is down) for as long as the worker runs,
 * others up to `maxAttempts`, bisecting a failing group so one bad message cannot hold back the
 * rest, then dead-lettered with headers saying why. A timer heartbeats the group while a batch
 * runs, so a long batch does not get the member evicted.
 */
import type { Logger } from '../observability/log.ts';
import type { WorkerMetrics } from '../observability/metrics.ts';
import { type DeadLetterReason, DLQ_HEADERS, deadLetterRecord } from './dead-letter.ts';
import { classifyFailure, failureReason } from './errors.ts';
import { ContiguousOffsets } from './offsets.ts';
import { backoffDelay, sleep } from './retry.ts';
import type {
  BatchControl,
  ConsumerTransport,
  InboundMessage,
  PartitionBatch,
  ProducerTransport,
} from './transport.ts';

export interface DecodedMessage<T> {
  message: InboundMessage;
  value: T;
}

export interface Processor<T> {
  /** Parses and validates one message. Any throw makes it poison: dead-lettered, never retried. */
  decode(message: InboundMessage): T;
  /**
   * Performs the side effects of a group of messages and resolves only once they are durable.
   * Must be idempotent: after a crash the same messages come again.
   */
  process(items: DecodedMessage<T>[], context: { signal: AbortSignal }): Promise<void>;
}

export interface WorkerSettings {
  batchSize: number;
  concurrency: number;
  partitionsConcurrently: number;
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  heartbeatIntervalMs: number;
  rebalanceTimeoutMs: number;
}

export interface WorkerOptions<T> {
  role: string;
  topic: string;
  dlqTopic: string;
  groupId: string;
  consumer: ConsumerTransport;
  producer: ProducerTransport;
  processor: Processor<T>;
  settings: WorkerSettings;
  log: Logger;
  metrics: WorkerMetrics;
  random?: () => number;
  /** Called when the consumer dies for good (the process should exit non-zero). */
  onFatal?: (error: Error) => void;
}

type GroupOutcome = 'done' | 'aborted';

export class Worker<T> {
  readonly #o: WorkerOptions<T>;
  readonly #stop = new AbortController();
  readonly #labels: { role: string; topic: string };
  #started = false;

  constructor(options: WorkerOptions<T>) {
    this.#o = options;
    this.#labels = { role: options.role, topic: options.topic };
  }

  async start(): Promise<void> {
    const { consumer, groupId, topic, settings, log } = this.#o;
    this.#started = true;
    await consumer.start({
      groupId,
      topics: [topic],
      partitionsConcurrently: settings.partitionsConcurrently,
      onBatch: (batch, control) => this.#handleBatch(batch, control),
      onAssignment: (assigned) => {
        this.#o.metrics.lag.reset();
        log.info('partitions assigned', { assigned });
      },
      onFatal: (error) => {
        log.error('consumer stopped for good', { error });
        this.#o.onFatal?.(error);
      },
    });
    log.info('worker started', { topic, groupId, settings });
  }

  ready(): string | undefined {
    if (!this.#started) return 'not started';
    if (this.#stop.signal.aborted) return 'stopping';
    return this.#o.consumer.isConsuming() ? undefined : 'consumer not in the group yet';
  }

  /** Stops taking new groups, lets in-flight groups finish, commits, leaves the group. */
  async stop(): Promise<void> {
    if (this.#stop.signal.aborted) return;
    this.#stop.abort();
    await this.#o.consumer.stop();
    this.#o.log.info('worker stopped');
  }

  async #handleBatch(batch: PartitionBatch, control: BatchControl): Promise<void> {
    const { processor, settings, metrics, log, consumer } = this.#o;
    const started = performance.now();
    const tracker = new ContiguousOffsets(batch.messages.map((m) => m.offset));
    const labels = this.#labels;
    metrics.inFlight.inc({ role: labels.role }, batch.messages.length);
    metrics.batchSize.observe(labels, batch.messages.length);

    // One signal for "take no more work from this batch": stop, revocation or a rebalance.
    const batchAbort = new AbortController();
    const onStop = () => batchAbort.abort();
    this.#stop.signal.addEventListener('abort', onStop, { once: true });
    let rebalance: unknown;
    const heartbeat = setInterval(() => {
      if (control.isStale()) batchAbort.abort();
      control.heartbeat().catch((err: unknown) => {
        if (consumer.isRebalanceError(err)) {
          rebalance ??= err;
          batchAbort.abort();
        } else {
          log.warn('heartbeat failed', { error: err });
        }
      });
    }, settings.heartbeatIntervalMs);

    let lastResolved: string | undefined;
    const complete = (items: InboundMessage[]) => {
      for (const m of items) {
        const through = tracker.complete(m.offset);
        if (through !== undefined) lastResolved = through;
      }
      metrics.inFlight.dec({ role: labels.role }, items.length);
      if (lastResolved !== undefined && !control.isStale()) control.resolveOffset(lastResolved);
    };

    try {
      const decoded: DecodedMessage<T>[] = [];
      const poison: { message: InboundMessage; error: string }[] = [];
      for (const message of batch.messages) {
        try {
          decoded.push({ message, value: processor.decode(message) });
        } catch (err) {
          metrics.failed.inc({ ...labels, reason: 'poison' });
          poison.push({ message, error: failureReason(err) });
        }
      }
      if (poison.length > 0) {
        if (await this.#deadLetter(poison, 'poison', 1, batchAbort.signal))
          complete(poison.map((p) => p.message));
      }

      const groups: DecodedMessage<T>[][] = [];
      for (let i = 0; i < decoded.length; i += settings.batchSize)
        groups.push(decoded.slice(i, i + settings.batchSize));
      await runBounded(groups, settings.concurrency, async (group) => {
        if (batchAbort.signal.aborted) return;
        await this.#runGroup(group, batchAbort.signal, complete);
      });
      rebalance ??= await this.#commit(control);
    } finally {
      clearInterval(heartbeat);
      this.#stop.signal.removeEventListener('abort', onStop);
      metrics.inFlight.dec({ role: labels.role }, tracker.pending);
      metrics.batchDuration.observe(labels, (performance.now() - started) / 1000);
      const next = lastResolved === undefined ? BigInt(batch.messages[0]!.offset) : BigInt(lastResolved) + 1n;
      const lag = BigInt(batch.highWatermark) - next;
      metrics.lag.set({ ...labels, partition: String(batch.partition) }, Number(lag < 0n ? 0n : lag));
      log.debug('batch done', {
        partition: batch.partition,
        messages: batch.messages.length,
        pending: tracker.pending,
        lag: Number(lag),
        ms: Math.round(performance.now() - started),
      });
    }
    if (!tracker.allDone) {
      log.info('batch left unfinished; the rest will be redelivered', {
        partition: batch.partition,
        pending: tracker.pending,
        resolvedThrough: lastResolved,
        reason: rebalance ? 'rebalance' : this.#stop.signal.aborted ? 'stopping' : 'partition revoked',
      });
    }
    if (rebalance) throw rebalance;
  }

  /**
   * Commits what the batch resolved before returning. kafkajs commits after a batch too, but
   * drops a commit that fails (broker restarting) and only retries it with the next batch: on an
   * idle partition the group's lag would stay stale, and the HPA would scale on it. Retried until
   * it lands, the partition is revoked, or the worker stops (then at most three tries).
   * Returns a rebalance error to rethrow, if the group started rebalancing meanwhile.
   */
  async #commit(control: BatchControl): Promise<unknown> {
    const { settings, log, consumer } = this.#o;
    for (let attempt = 1; !control.isStale(); attempt++) {
      try {
        await control.commit();
        return undefined;
      } catch (err) {
        if (consumer.isRebalanceError(err)) return err;
        if (this.#stop.signal.aborted && attempt >= 3) {
          log.warn('could not commit before stopping; the next owner redoes the uncommitted messages', {
            error: failureReason(err),
          });
          return undefined;
        }
        const delay = backoffDelay(attempt, settings.retryBaseMs, settings.retryMaxMs, this.#o.random);
        log.warn('offset commit failed, retrying', { delay, error: failureReason(err) });
        await sleep(delay);
      }
    }
    return undefined;
  }

  /**
   * Processes a group until its side effects are durable or the batch is aborted. A group that
   * fails for a reason other than a transient one is split in halves, so the bad message ends up
   * alone and is dead-lettered while its neighbours succeed.
   */
  async #runGroup(
    group: DecodedMessage<T>[],
    signal: AbortSignal,
    complete: (items: InboundMessage[]) => void,
  ): Promise<GroupOutcome> {
    const { processor, settings, metrics, log } = this.#o;
    const labels = this.#labels;
    let attempts = 0;
    let transientFailures = 0;
    for (;;) {
      if (signal.aborted) return 'aborted';
      attempts++;
      const t0 = performance.now();
      try {
        await processor.process(group, { signal });
        const seconds = (performance.now() - t0) / 1000;
        metrics.handlerDuration.observe(labels, seconds);
        if (seconds * 1000 > settings.rebalanceTimeoutMs / 2) {
          log.warn(
            'a processor call took more than half the rebalance timeout: raise it or lower the batch size',
            {
              seconds,
              messages: group.length,
              rebalanceTimeoutMs: settings.rebalanceTimeoutMs,
            },
          );
        }
        metrics.processed.inc(labels, group.length);
        complete(group.map((g) => g.message));
        return 'done';
      } catch (err) {
        const kind = classifyFailure(err);
        metrics.failed.inc({ ...labels, reason: kind }, group.length);
        const first = group[0]!.message;
        const where = { partition: first.partition, offset: first.offset, messages: group.length, attempts };
        if (kind === 'transient') {
          transientFailures++;
          const delay = backoffDelay(
            transientFailures,
            settings.retryBaseMs,
            settings.retryMaxMs,
            this.#o.random,
          );
          log.warn('transient failure, retrying', { ...where, delay, error: failureReason(err) });
          if (!(await sleep(delay, signal))) return 'aborted';
          continue;
        }
        if (group.length > 1) {
          log.warn('group failed, splitting it to isolate the bad message', {
            ...where,
            error: failureReason(err),
          });
          const mid = Math.ceil(group.length / 2);
          const left = await this.#runGroup(group.slice(0, mid), signal, complete);
          const right = await this.#runGroup(group.slice(mid), signal, complete);
          return left === 'done' && right === 'done' ? 'done' : 'aborted';
        }
        if (kind === 'poison' || attempts >= settings.maxAttempts) {
          const reason: DeadLetterReason = kind === 'poison' ? 'poison' : 'exhausted';
          const ok = await this.#deadLetter(
            [{ message: first, error: failureReason(err) }],
            reason,
            attempts,
            signal,
          );
          if (!ok) return 'aborted';
          complete([first]);
          return 'done';
        }
        const delay = backoffDelay(attempts, settings.retryBaseMs, settings.retryMaxMs, this.#o.random);
        log.warn('processing failed, retrying', { ...where, delay, error: failureReason(err) });
        if (!(await sleep(delay, signal))) return 'aborted';
      }
    }
  }

  /** Produces the records to the dlq, retrying until acknowledged or aborted; true when durable. */
  async #deadLetter(
    failures: { message: InboundMessage; error: string }[],
    reason: DeadLetterReason,
    attempts: number,
    signal: AbortSignal,
  ): Promise<boolean> {
    const { producer, dlqTopic, role, groupId, settings, metrics, log } = this.#o;
    const records = failures.map((f) =>
      deadLetterRecord(f.message, { error: f.error, reason, attempts }, { role, consumerGroup: groupId }),
    );
    for (let attempt = 1; ; attempt++) {
      try {
        await producer.send([{ topic: dlqTopic, messages: records }]);
        metrics.deadLettered.inc({ ...this.#labels, reason }, records.length);
        for (const r of records) {
          log.warn('message dead-lettered', {
            partition: r.headers?.[DLQ_HEADERS.sourcePartition],
            offset: r.headers?.[DLQ_HEADERS.sourceOffset],
            reason,
            attempts,
            error: r.headers?.[DLQ_HEADERS.error],
          });
        }
        return true;
      } catch (err) {
        const delay = backoffDelay(attempt, settings.retryBaseMs, settings.retryMaxMs, this.#o.random);
        log.warn('dlq produce failed, retrying', { delay, error: failureReason(err) });
        if (!(await sleep(delay, signal))) return false;
      }
    }
  }
}

/** Runs `fn` over `items` with at most `limit` calls in flight, in order of start. */
export async function runBounded<I>(
  items: I[],
  limit: number,
  fn: (item: I) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item);
    }
  });
  await Promise.all(lanes);
}
