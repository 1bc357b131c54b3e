/**
 * What the worker framework needs from a log transport. kafkajs implements it today
 * (runtime/adapters/kafka.ts); a maintained client can replace it without touching a role.
 */

export interface InboundMessage {
  topic: string;
  partition: number;
  /** Offsets stay strings: they are int64 on the wire. */
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
  timestamp: string;
}

export interface OutboundMessage {
  key: string | Buffer | null;
  value: string | Buffer;
  headers?: Record<string, string>;
}

/** The messages of one partition handed over at once, in offset order. */
export interface PartitionBatch {
  topic: string;
  partition: number;
  messages: InboundMessage[];
  highWatermark: string;
}

export interface BatchControl {
  /** Marks everything up to and including `offset` as done; committed by the transport. */
  resolveOffset(offset: string): void;
  /** Keeps the group membership alive during long work; throws when the group is rebalancing. */
  heartbeat(): Promise<void>;
  /** Commits every resolved offset not yet committed, now; throws when the broker refuses. */
  commit(): Promise<void>;
  /** True once this partition was revoked or seeked: its offsets must not be resolved any more. */
  isStale(): boolean;
}

export interface ConsumeOptions {
  groupId: string;
  topics: string[];
  partitionsConcurrently: number;
  /** The fetch returns once it holds minBytes, or after maxWaitMs. */
  fetch: { minBytes: number; maxWaitMs: number };
  onBatch(batch: PartitionBatch, control: BatchControl): Promise<void>;
  /** Called with the partitions this member owns after every rebalance. */
  onAssignment?(assigned: { topic: string; partitions: number[] }[]): void;
  /** The consumer died and will not restart by itself: the process should exit. */
  onFatal(error: Error): void;
}

export interface ConsumerTransport {
  start(options: ConsumeOptions): Promise<void>;
  /** Stops fetching, waits for the batch in hand to return, commits, leaves the group. */
  stop(): Promise<void>;
  /** True while the member is in the group and fetching. */
  isConsuming(): boolean;
  /**
   * Errors meaning "this member's place in the group is gone or changing" (rebalancing, evicted
   * as an unknown member, an old generation): rethrow them so the member rejoins.
   */
  isRebalanceError(error: unknown): boolean;
}

export interface ProducerTransport {
  /**
   * Resolves once every message is acknowledged by all in-sync replicas. Requests are split so
   * that no record batch exceeds what the topics take; a single record larger than its topic's
   * max.message.bytes is refused by the broker (MESSAGE_TOO_LARGE, not retriable).
   */
  send(batches: { topic: string; messages: OutboundMessage[] }[]): Promise<void>;
  /** Why these topics cannot take records right now, or undefined (asked after a failed send). */
  unreachable?(topics: string[]): Promise<string | undefined>;
  close(): Promise<void>;
}

/** Bytes of a key or value as produced (a string in UTF-8). */
export const bytesOf = (v: string | Buffer | null | undefined) =>
  v === null || v === undefined ? 0 : typeof v === 'string' ? Buffer.byteLength(v) : v.length;

/** Bytes a record takes in a record batch, framing included (an upper estimate). */
export function recordBytes(record: OutboundMessage): number {
  let n = 64 + bytesOf(record.key) + bytesOf(record.value);
  for (const [k, v] of Object.entries(record.headers ?? {}))
    n += 8 + Buffer.byteLength(k) + Buffer.byteLength(v);
  return n;
}
