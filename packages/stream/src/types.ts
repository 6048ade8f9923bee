/**
 * The stream interface (DESIGN.md, "Stream"): named topics split into partitions keyed by
 * device, offsets per partition, durable append, consumer groups with committed offsets,
 * replay from an offset or a time, retention by age and size.
 *
 * Every engine (embedded now; NATS JetStream, Kafka, Kinesis later) implements `Stream` and
 * passes the shared contract suite in `./contract`.
 */

export interface TopicConfig {
  partitions: number;
  /** Records older than this (by append time) are deleted. Default 24 h, like Kinesis. */
  retentionMs?: number;
  /**
   * Size cap per partition. Whole old segments are deleted to stay under it, but never data a
   * consumer group has not committed past: when that is all there is, appends fail with
   * STRATA_ERR_STREAM_FULL (HTTP 503) instead of dropping unread data.
   */
  retentionBytes?: number;
  /** Window in which a record `id` seen before is dropped as a duplicate (JetStream's Nats-Msg-Id). */
  dedupWindowMs?: number;
}

export interface AppendRecord {
  /** Partition key (device id): records with one key stay in order in one partition. */
  key: string;
  value: Uint8Array;
  /** Idempotency key: a record whose id was appended with the same `key` within the dedup window is skipped. */
  id?: string;
  /** Event time, Unix ms (Kafka's CreateTime). Defaults to the append time. */
  ts?: number;
}

export interface AppendResult {
  /** Records written (durable). */
  appended: number;
  /** Records skipped as duplicates of an id already in the stream. */
  duplicates: number;
}

export interface StreamRecord {
  topic: string;
  partition: number;
  offset: number;
  key: string;
  value: Buffer;
  id?: string;
  /** Event time, Unix ms. */
  ts: number;
  /** When the stream made it durable, Unix ms. */
  appendTime: number;
}

export interface PartitionInfo {
  partition: number;
  /** First offset still retained. */
  startOffset: number;
  /** Offset the next appended record will get (so `endOffset - startOffset` records are held). */
  endOffset: number;
  bytes: number;
}

export interface TopicInfo {
  name: string;
  config: Required<TopicConfig>;
  partitions: PartitionInfo[];
}

export interface Position {
  partition: number;
  /** The next offset to read: committing N means records before N are done. */
  offset: number;
}

export interface ConsumerOptions {
  topic: string;
  group: string;
  /** Where a group with no committed offset starts. Default `earliest`. */
  from?: 'earliest' | 'latest';
}

export interface ReadOptions {
  /** Most records returned by one read. Default 1000. */
  maxRecords?: number;
  /** How long a read waits for records when none are ready. Default 1000 ms; 0 returns at once. */
  maxWaitMs?: number;
}

/**
 * A member of a consumer group. Members of one group share the topic's partitions; when one
 * closes, the others take its partitions over from the last committed offsets, so records read
 * but not committed are delivered again (at least once).
 */
export interface Consumer {
  readonly topic: string;
  readonly group: string;
  /** Partitions this member owns now. */
  assignment(): number[];
  /** Records from owned partitions, in offset order within each partition. */
  read(opts?: ReadOptions): Promise<StreamRecord[]>;
  /** Durably records progress. Fails with STRATA_ERR_STREAM_NOT_ASSIGNED for partitions it lost. */
  commit(positions: Position[]): Promise<void>;
  /** Moves this member's read position (not the committed one) for replay. */
  seek(position: Position): void;
  /** Moves the read position of every owned partition to the first record appended at or after `timeMs`. */
  seekToTime(timeMs: number): Promise<void>;
  close(): Promise<void>;
}

export interface GroupLag {
  group: string;
  topic: string;
  partitions: { partition: number; committed: number; endOffset: number; lag: number }[];
}

export interface StreamHealth {
  writable: boolean;
  reason?: string;
}

export interface Stream {
  readonly engine: string;
  /**
   * Creates the topic or, when it exists, applies the retention and dedup settings given (so a
   * changed config takes effect). The partition count of an existing topic never changes.
   */
  ensureTopic(name: string, config: TopicConfig): Promise<TopicInfo>;
  describe(topic: string): Promise<TopicInfo>;
  /**
   * Appends records, each to partition `partitionFor(key, partitions)`. Resolves only once every
   * record is durable (fsync'd). Rejects with STRATA_ERR_STREAM_FULL when the stream cannot take
   * more (retention cap reached with unread data, disk full, too many writes pending).
   */
  append(topic: string, records: AppendRecord[]): Promise<AppendResult>;
  /** Replay primitive: records of one partition from `offset` on (clamped to the start offset). */
  read(topic: string, partition: number, offset: number, opts?: { maxRecords?: number }): Promise<StreamRecord[]>;
  /** The first offset whose append time is at or after `timeMs` (endOffset when none). */
  offsetForTime(topic: string, partition: number, timeMs: number): Promise<number>;
  consumer(opts: ConsumerOptions): Promise<Consumer>;
  /** Committed offsets and lag of every group that has committed on the topic. */
  lag(topic: string): Promise<GroupLag[]>;
  health(): StreamHealth;
  close(): Promise<void>;
}
