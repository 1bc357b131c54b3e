/**
 * The worker framework every consuming role runs on. For each partition batch it decodes the
 * messages (undecodable ones go to the dlq at once), hands them to the role's processor in groups
 * of `batchSize` with at most `concurrency` groups at a time, and resolves an offset only when the
 * contiguous prefix up to it is durable (processed or dead-lettered).
 *
 * Every message has a bounded number of attempts (runtime/core/errors.ts): errors up to
 * `maxAttempts`, transient failures up to `maxTransientAttempts`, then the dlq with reason
 * `exhausted` and the last error; a failing group is split so one bad message cannot hold back
 * the rest. Only a dependency that cannot be reached at all is retried without counting, since
 * that is nobody's message's fault. A record the dlq refuses is sent truncated with a reference,
 * and if even that is refused the worker logs it, counts it and moves past: a partition never
 * stops on one message. A timer heartbeats the group while a batch runs; a lost membership
 * (eviction, rebalance, any non-retriable commit error) ends the batch so kafkajs rejoins.
 */

import type { WorkerConfig } from '../contract/config/worker.ts';
import { classifyFailure, type FailureKind, failureReason } from '../core/errors.ts';
import {
  type BatchControl,
  type ConsumerTransport,
  type InboundMessage,
  type OutboundMessage,
  type PartitionBatch,
  type ProducerTransport,
  recordBytes,
} from '../core/transport.ts';
import type { Logger } from '../observability/log.ts';
import type { WorkerMetrics } from '../observability/metrics.ts';
import { type DeadLetterFailure, DLQ_HEADERS, deadLetterRecord, truncatedRecord } from './dead-letter.ts';
import { ContiguousOffsets } from './offsets.ts';
import { ProgressWatch } from './progress.ts';
import { backoffDelay, sleep } from './retry.ts';

export interface DecodedMessage<T> {
  message: InboundMessage;
  value: T;
}

/** A message the processor refused as poison while the rest of its group succeeded. */
export interface Rejection {
  message: InboundMessage;
  error: string;
}

export interface Processor<T> {
  /** Parses and validates one message. Any throw makes it poison: dead-lettered, never retried. */
  decode(message: InboundMessage): T;
  /**
   * Performs the side effects of a group of messages and resolves only once they are durable.
   * Must be idempotent: after a crash the same messages come again. May return the messages of
   * the group it refused as poison (they are dead-lettered, the others count as done).
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: a processor that refuses nothing returns nothing
  process(items: DecodedMessage<T>[], context: { signal: AbortSignal }): Promise<void | Rejection[]>;
  /**
   * Names a dependency that cannot be reached right now, if any. Asked after a failed attempt:
   * a store that is down for everyone turns the failure into `unavailable` (not counted).
   */
  unavailable?(): Promise<string | undefined>;
}

export interface WorkerSettings extends Omit<WorkerConfig, 'shutdownTimeoutMs'> {
  heartbeatIntervalMs: number;
  rebalanceTimeoutMs: number;
  /** The dlq topic's max.message.bytes: larger records are sent truncated. */
  dlqMaxMessageBytes: number;
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
type SendOutcome = 'sent' | 'refused' | 'aborted';

/** A group failing transiently this many times in a row is split: the cause may be one message. */
const TRANSIENT_SPLIT_AFTER = 2;
/** Commit tries on retriable errors before the batch ends and kafkajs takes over (it re-fetches). */
const COMMIT_ATTEMPTS = 10;

export class Worker<T> {
  readonly #o: WorkerOptions<T>;
  readonly #stop = new AbortController();
  readonly #labels: { role: string; topic: string };
  readonly #progress: ProgressWatch;
  #started = false;

  constructor(options: WorkerOptions<T>) {
    this.#o = options;
    this.#labels = { role: options.role, topic: options.topic };
    this.#progress = new ProgressWatch(options.settings.progressTimeoutMs);
  }

  async start(): Promise<void> {
    const { consumer, groupId, topic, settings, log } = this.#o;
    this.#started = true;
    await consumer.start({
      groupId,
      topics: [topic],
      partitionsConcurrently: settings.partitionsConcurrently,
      fetch: { minBytes: settings.fetchMinBytes, maxWaitMs: settings.fetchMaxWaitMs },
      onBatch: (batch, control) => this.#handleBatch(batch, control),
      onAssignment: (assigned) => {
        this.#o.metrics.lag.reset();
        this.#progress.assigned(assigned);
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

  /** Liveness: undefined while the worker makes progress or has nothing to do. */
  live(): string | undefined {
    return this.#progress.stalled();
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
    this.#progress.setLag(batch.topic, batch.partition, lagAfter(batch, undefined));

    // One signal for "take no more work from this batch": stop, revocation or a lost membership.
    const batchAbort = new AbortController();
    const onStop = () => batchAbort.abort();
    this.#stop.signal.addEventListener('abort', onStop, { once: true });
    let membershipLost: unknown;
    const heartbeat = setInterval(() => {
      if (control.isStale()) batchAbort.abort();
      control.heartbeat().catch((err: unknown) => {
        if (consumer.isRebalanceError(err)) {
          membershipLost ??= err;
          batchAbort.abort();
        } else {
          log.warn('heartbeat failed', { error: failureReason(err) });
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
      if (items.length > 0) this.#progress.progressed();
      if (lastResolved !== undefined && !control.isStale()) control.resolveOffset(lastResolved);
    };

    try {
      const decoded: DecodedMessage<T>[] = [];
      const poison: Rejection[] = [];
      for (const message of batch.messages) {
        try {
          decoded.push({ message, value: processor.decode(message) });
        } catch (err) {
          metrics.failed.inc({ ...labels, reason: 'poison' });
          poison.push({ message, error: failureReason(err) });
        }
      }
      if (poison.length > 0) {
        const failures = poison.map((p) => ({ ...p, failure: poisonFailure(p.error) }));
        if (await this.#deadLetter(failures, batchAbort.signal)) complete(poison.map((p) => p.message));
      }

      const groups: DecodedMessage<T>[][] = [];
      for (let i = 0; i < decoded.length; i += settings.batchSize)
        groups.push(decoded.slice(i, i + settings.batchSize));
      await runBounded(groups, settings.concurrency, async (group) => {
        if (batchAbort.signal.aborted) return;
        await this.#runGroup(group, batchAbort.signal, complete);
      });
      membershipLost ??= await this.#commit(control);
    } finally {
      clearInterval(heartbeat);
      this.#stop.signal.removeEventListener('abort', onStop);
      metrics.inFlight.dec({ role: labels.role }, tracker.pending);
      metrics.batchDuration.observe(labels, (performance.now() - started) / 1000);
      const lag = lagAfter(batch, lastResolved);
      metrics.lag.set({ ...labels, partition: String(batch.partition) }, lag);
      this.#progress.setLag(batch.topic, batch.partition, lag);
      log.debug('batch done', {
        partition: batch.partition,
        messages: batch.messages.length,
        pending: tracker.pending,
        lag,
        ms: Math.round(performance.now() - started),
      });
    }
    if (!tracker.allDone) {
      log.info('batch left unfinished; the rest will be redelivered', {
        partition: batch.partition,
        pending: tracker.pending,
        resolvedThrough: lastResolved,
        reason: membershipLost
          ? 'group membership lost'
          : this.#stop.signal.aborted
            ? 'stopping'
            : 'partition revoked',
      });
    }
    if (membershipLost) throw membershipLost;
  }

  /**
   * Commits what the batch resolved before returning. kafkajs commits after a batch too, but
   * drops a commit that fails (broker restarting) and only retries it with the next batch: on an
   * idle partition the group's lag would stay stale, and the HPA would scale on it. A retriable
   * failure is retried a few times; a lost membership (UNKNOWN_MEMBER_ID after an eviction,
   * ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS) or any non-retriable error is returned at once, to
   * be rethrown so kafkajs rejoins the group and re-fetches from the last committed offset.
   */
  async #commit(control: BatchControl): Promise<unknown> {
    const { settings, log, consumer } = this.#o;
    for (let attempt = 1; !control.isStale(); attempt++) {
      try {
        await control.commit();
        return undefined;
      } catch (err) {
        const retriable = (err as { retriable?: unknown }).retriable === true;
        if (consumer.isRebalanceError(err) || !retriable) {
          log.warn('offset commit refused: ending the batch to rejoin the group', {
            error: failureReason(err),
          });
          return err;
        }
        if (this.#stop.signal.aborted && attempt >= 3) {
          log.warn('could not commit before stopping; the next owner redoes the uncommitted messages', {
            error: failureReason(err),
          });
          return undefined;
        }
        if (attempt >= COMMIT_ATTEMPTS) {
          log.warn('offset commit keeps failing: ending the batch so the consumer starts over', {
            attempts: attempt,
            error: failureReason(err),
          });
          return err;
        }
        const delay = backoffDelay(attempt, settings.retryBaseMs, settings.retryMaxMs, this.#o.random);
        log.warn('offset commit failed, retrying', { delay, error: failureReason(err) });
        await sleep(delay);
      }
    }
    return undefined;
  }

  /** The failure's kind, re-read as `unavailable` when the processor reports a store down. */
  async #kindOf(err: unknown): Promise<{ kind: FailureKind; down?: string }> {
    const kind = classifyFailure(err);
    if (kind === 'poison' || kind === 'unavailable' || !this.#o.processor.unavailable) return { kind };
    const down = await this.#o.processor.unavailable().catch((e: unknown) => failureReason(e));
    return down ? { kind: 'unavailable', down } : { kind };
  }

  /**
   * Processes a group until its side effects are durable or the batch is aborted. A group that
   * fails for a reason that may be a message's own (anything but `unavailable`) is split in
   * halves, so the bad message ends up alone and is dead-lettered while its neighbours succeed.
   */
  async #runGroup(
    group: DecodedMessage<T>[],
    signal: AbortSignal,
    complete: (items: InboundMessage[]) => void,
  ): Promise<GroupOutcome> {
    const { processor, settings, metrics, log } = this.#o;
    const labels = this.#labels;
    const counted = { error: 0, transient: 0 };
    let waits = 0;
    for (;;) {
      if (signal.aborted) return 'aborted';
      const t0 = performance.now();
      try {
        const rejected = (await processor.process(group, { signal })) ?? [];
        const seconds = (performance.now() - t0) / 1000;
        metrics.handlerDuration.observe(labels, seconds);
        if (seconds * 1000 > settings.rebalanceTimeoutMs / 2) {
          log.warn(
            'a processor call took more than half the rebalance timeout: raise it or lower the batch size',
            { seconds, messages: group.length, rebalanceTimeoutMs: settings.rebalanceTimeoutMs },
          );
        }
        const refused = new Set(rejected.map((r) => r.message.offset));
        const done = group.filter((g) => !refused.has(g.message.offset)).map((g) => g.message);
        metrics.processed.inc(labels, done.length);
        if (rejected.length > 0) {
          metrics.failed.inc({ ...labels, reason: 'poison' }, rejected.length);
          const failures = rejected.map((r) => ({ ...r, failure: poisonFailure(r.error) }));
          if (!(await this.#deadLetter(failures, signal))) {
            complete(done);
            return 'aborted';
          }
        }
        complete(group.map((g) => g.message));
        return 'done';
      } catch (err) {
        const { kind, down } = await this.#kindOf(err);
        metrics.failed.inc({ ...labels, reason: kind }, group.length);
        const first = group[0]!.message;
        const where = { partition: first.partition, offset: first.offset, messages: group.length };
        if (kind === 'unavailable') {
          waits++;
          const delay = backoffDelay(waits, settings.retryBaseMs, settings.retryMaxMs, this.#o.random);
          log.warn('a dependency is unavailable; retrying without counting it against the messages', {
            ...where,
            delay,
            ...(down && { down }),
            error: failureReason(err),
          });
          if (!(await sleep(delay, signal))) return 'aborted';
          continue;
        }
        waits = 0;
        if (kind !== 'poison') counted[kind]++;
        const splitNow = kind !== 'transient' || counted.transient >= TRANSIENT_SPLIT_AFTER;
        if (group.length > 1 && splitNow) {
          log.warn('group failed, splitting it to isolate the bad message', {
            ...where,
            kind,
            error: failureReason(err),
          });
          const mid = Math.ceil(group.length / 2);
          const left = await this.#runGroup(group.slice(0, mid), signal, complete);
          const right = await this.#runGroup(group.slice(mid), signal, complete);
          return left === 'done' && right === 'done' ? 'done' : 'aborted';
        }
        const exhausted =
          kind === 'poison' ||
          counted.error >= settings.maxAttempts ||
          counted.transient >= settings.maxTransientAttempts;
        if (group.length === 1 && exhausted) {
          const failure: DeadLetterFailure = {
            error: failureReason(err),
            reason: kind === 'poison' ? 'poison' : 'exhausted',
            failure: kind,
            attempts: counted.error + counted.transient + (kind === 'poison' ? 1 : 0),
          };
          if (!(await this.#deadLetter([{ message: first, failure }], signal))) return 'aborted';
          complete([first]);
          return 'done';
        }
        const n = kind === 'transient' ? counted.transient : counted.error;
        const delay = backoffDelay(n, settings.retryBaseMs, settings.retryMaxMs, this.#o.random);
        log.warn('processing failed, retrying', {
          ...where,
          kind,
          attempts: n,
          delay,
          error: failureReason(err),
        });
        if (!(await sleep(delay, signal))) return 'aborted';
      }
    }
  }

  /**
   * Writes dead letters; true once each is durable in the dlq or, if the dlq refuses even its
   * truncated form, logged and counted as dropped (the offset then moves past it). False only
   * when the batch was aborted first.
   */
  async #deadLetter(
    failures: { message: InboundMessage; failure: DeadLetterFailure }[],
    signal: AbortSignal,
  ): Promise<boolean> {
    const { role, groupId, settings, metrics, log } = this.#o;
    const fit = (r: OutboundMessage) =>
      recordBytes(r) <= settings.dlqMaxMessageBytes ? r : truncatedRecord(r);
    const records = failures.map((f) =>
      fit(deadLetterRecord(f.message, f.failure, { role, consumerGroup: groupId })),
    );
    let outcome = await this.#sendDeadLetters(records, signal);
    if (outcome === 'aborted') return false;
    if (outcome === 'sent') {
      for (const [i, r] of records.entries()) this.#deadLettered(r, failures[i]!.failure);
      return true;
    }
    // Refused: one record may be the cause. Send each alone, truncated if it is refused in full.
    for (const [i, full] of records.entries()) {
      const { failure } = failures[i]!;
      let record = full;
      outcome = await this.#sendDeadLetters([record], signal);
      if (outcome === 'refused' && record.headers?.[DLQ_HEADERS.truncated] === undefined) {
        record = truncatedRecord(full);
        outcome = await this.#sendDeadLetters([record], signal);
      }
      if (outcome === 'aborted') return false;
      if (outcome === 'sent') {
        this.#deadLettered(record, failure);
        continue;
      }
      metrics.deadLetterFailures.inc({ ...this.#labels, outcome: 'dropped' });
      log.error('the dlq refused this message even truncated: it is skipped and only this log line remains', {
        sourceTopic: full.headers?.[DLQ_HEADERS.sourceTopic],
        partition: full.headers?.[DLQ_HEADERS.sourcePartition],
        offset: full.headers?.[DLQ_HEADERS.sourceOffset],
        bytes: recordBytes(full),
        sha256: record.headers?.[DLQ_HEADERS.originalSha256],
        reason: failure.reason,
        error: failure.error,
      });
    }
    return true;
  }

  #deadLettered(record: OutboundMessage, failure: DeadLetterFailure): void {
    const h = record.headers ?? {};
    const truncated = h[DLQ_HEADERS.truncated] === 'true';
    this.#o.metrics.deadLettered.inc({ ...this.#labels, reason: failure.reason });
    if (truncated) this.#o.metrics.deadLetterFailures.inc({ ...this.#labels, outcome: 'truncated' });
    const fields = {
      partition: h[DLQ_HEADERS.sourcePartition],
      offset: h[DLQ_HEADERS.sourceOffset],
      reason: failure.reason,
      failure: failure.failure,
      attempts: failure.attempts,
      error: failure.error,
      ...(truncated && { truncated, originalBytes: h[DLQ_HEADERS.originalBytes] }),
    };
    if (truncated)
      this.#o.log.error('message dead-lettered truncated: the dlq could not take it whole', fields);
    else this.#o.log.warn('message dead-lettered', fields);
  }

  /**
   * One produce to the dlq, retried while the failure may pass: forever while Kafka is
   * unreachable, up to maxTransientAttempts for transient errors. A non-retriable refusal
   * (MESSAGE_TOO_LARGE, INVALID_RECORD, ...) is never retried: 'refused'.
   */
  async #sendDeadLetters(records: OutboundMessage[], signal: AbortSignal): Promise<SendOutcome> {
    const { producer, dlqTopic, settings, log } = this.#o;
    let transient = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        await producer.send([{ topic: dlqTopic, messages: records }]);
        return 'sent';
      } catch (err) {
        const kind = classifyFailure(err);
        if (kind === 'transient') transient++;
        if ((kind !== 'unavailable' && kind !== 'transient') || transient >= settings.maxTransientAttempts) {
          log.warn('the dlq refused a produce', { records: records.length, error: failureReason(err) });
          return 'refused';
        }
        const delay = backoffDelay(attempt, settings.retryBaseMs, settings.retryMaxMs, this.#o.random);
        log.warn('dlq produce failed, retrying', { delay, kind, error: failureReason(err) });
        if (!(await sleep(delay, signal))) return 'aborted';
      }
    }
  }
}

function poisonFailure(error: string): DeadLetterFailure {
  return { error, reason: 'poison', failure: 'poison', attempts: 1 };
}

/** Messages of the partition behind the next offset to process. */
function lagAfter(batch: PartitionBatch, lastResolved: string | undefined): number {
  const next = lastResolved === undefined ? BigInt(batch.messages[0]!.offset) : BigInt(lastResolved) + 1n;
  const lag = BigInt(batch.highWatermark) - next;
  return Number(lag < 0n ? 0n : lag);
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
