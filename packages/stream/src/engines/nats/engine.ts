/**
 * The NATS JetStream engine: the `Stream` interface on a NATS server or cluster, for running
 * several Strata processes against one log (issue 6).
 *
 * JetStream layout (P = the `prefix` option, default `strata_`; in topic and group names '.' is
 * written '=', see names.ts):
 *
 *   stream  P<topic>-<partition>     one per partition; one subject P<topic>.<partition>; file
 *                                    storage, `replicas` copies; limits: max_age = retentionMs,
 *                                    max_bytes = retentionBytes with discard: new,
 *                                    duplicate_window = dedupWindowMs, deny_delete
 *   message                          one record: payload = envelope (record-codec.ts: key, id, ts,
 *                                    value); header Nats-Msg-Id = (key, id) when it has an id
 *   KV P topics    <topic>                        topic config (JSON), written last at creation
 *   KV P offsets   <topic>.<group>.<partition>    committed offset of a group (text)
 *   KV P members   <topic>.<group>.<coordinator>  membership lease of a process (consumer-group.ts)
 *   consumers                        ephemeral, ack none, R1 in memory, one per partition reader;
 *                                    the server deletes them after 60 s without a pull
 *
 * Invariants:
 * - Offset = JetStream sequence - 1. Sequences are dense because nothing deletes a single
 *   message (deny_delete) and size retention purges only a prefix and never past the last
 *   sequence (a purge beyond it would move the next sequence); age retention (max_age) removes
 *   a prefix too. So startOffset = first_seq - 1 and endOffset = last_seq.
 * - `append` resolves only when JetStream acknowledged every record (PubAck: stored on disk, on
 *   a majority of the replicas for R3). A duplicate PubAck means the (key, id) was already there.
 * - Records are published in call order on one connection, so one key's records keep their order.
 *
 * Recovery: nothing is kept in this process that JetStream does not have. A reader whose pull
 * went unanswered or whose deliveries skipped (reconnect, server restart, consumer deleted)
 * starts a new consumer at the next sequence it needs (fetcher.ts); a group member taking a
 * partition over starts at the committed offset in the offsets bucket; a process that dies
 * loses its leases after `leaseMs` and its consumers after 60 s. An append whose outcome is
 * unknown (timeout, connection lost) is rejected with STRATA_ERR_STREAM_IO; retrying it with the
 * same ids within the dedup window stores each record once.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, StorageType, type JetStreamManager, type StreamInfo } from '@nats-io/jetstream';
import { Kvm, type KV, type KvOptions } from '@nats-io/kv';
import { silentLogger, StrataError, type Logger } from '@strata/core';
import { streamErrors } from '../../errors.js';
import { partitionFor } from '../../partitioner.js';
import type { AppendRecord, AppendResult, Consumer, ConsumerOptions, GroupLag, PartitionInfo, Stream, StreamHealth, StreamRecord, TopicConfig, TopicInfo } from '../../types.js';
import { badRecord, TOPIC_DEFAULTS } from '../../records.js';
import { GROUP_NAME_PATTERN, GroupCoordinator, GroupMember, type GroupEnv } from './consumer-group.js';
import { PartitionFetcher, Readers, type FetcherEnv } from './fetcher.js';
import { bucketNames, encodeName, partitionStream, partitionSubject, PREFIX_PATTERN, splitKey } from './names.js';
import { PublishError, Publisher, type PubAck } from './publisher.js';
import { dedupId, encodeRecord, MAX_FIELD_BYTES } from './record-codec.js';
import { keepFrom, PURGE_HIGH_WATER, purgeTarget } from './retention.js';
import { forEachLimit, TopicRegistry, type TopicRecord } from './topics.js';

const MiB = 1024 * 1024;

export interface NatsStreamOptions {
  /** NATS server URLs (`nats://host:4222`); list several nodes of a cluster. */
  servers: string[];
  /** Copies of every stream and bucket: 1, or 3 on a cluster of at least 3 nodes. Default 1. */
  replicas?: 1 | 3;
  /** Prefix of every JetStream stream, subject and KV bucket name, so environments can share a server. Default `strata_`. */
  prefix?: string;
  logger?: Logger;
  /** Connection name shown by the server's monitoring. Default `strata-stream`. */
  name?: string;
  /** User and password, when the server requires them (secret: never logged). */
  user?: string;
  pass?: string;
  /** Token, when the server requires one (secret: never logged). */
  token?: string;
  /** An append fails with STRATA_ERR_STREAM_IO when a record is not acknowledged within this. Default 5 s. */
  publishTimeoutMs?: number;
  /** Timeout of JetStream API and KV requests. Default 5 s. */
  requestTimeoutMs?: number;
  /** Bytes of appends waiting for acknowledgement beyond which appends fail with STRATA_ERR_STREAM_FULL. Default 64 MiB. */
  maxPendingBytes?: number;
  /** A process whose consumer-group lease was not renewed for this long loses its partitions to the others. Default 10 s. */
  leaseMs?: number;
  /** Records asked for per pull and partition by group members (and buffered at most about twice). Default 1000. */
  readBatch?: number;
  /** Period of the size-retention check. Default 30 s. */
  retentionCheckMs?: number;
}

type Settings = Required<Pick<NatsStreamOptions, 'replicas' | 'prefix' | 'name' | 'publishTimeoutMs' | 'requestTimeoutMs' | 'maxPendingBytes' | 'leaseMs' | 'readBatch' | 'retentionCheckMs'>>;

export const NATS_DEFAULTS: Readonly<Settings> = Object.freeze({
  replicas: 1,
  prefix: 'strata_',
  name: 'strata-stream',
  publishTimeoutMs: 5_000,
  requestTimeoutMs: 5_000,
  maxPendingBytes: 64 * MiB,
  leaseMs: 10_000,
  readBatch: 1_000,
  retentionCheckMs: 30_000,
});

/** The server deletes a reader's consumer after this long without a pull. */
const CONSUMER_IDLE_MS = 60_000;
/** Membership entries of processes that died are garbage-collected after this (leases expire far sooner). */
const MEMBERS_BUCKET_TTL_MS = 60 * 60 * 1000;
/** Replay reads keep their consumer this long for a next read that continues where they stopped. */
const REPLAY_CURSOR_IDLE_MS = 10_000;
const MAX_REPLAY_CURSORS = 64;
/** Pulls a replay read retries while the stream holds records its consumer has not delivered yet. */
const READ_CATCH_UP_TRIES = 10;

const TOPIC_NAME_PATTERN = /^[a-z0-9._-]{1,64}$/;
const MAX_PARTITIONS = 4096;

/** The NATS engine's `Stream`, plus a deterministic trigger for the size-retention check. */
export interface NatsStream extends Stream {
  /** Runs one size-retention check over every topic this process has used (the timer does this every retentionCheckMs). */
  runRetention(): Promise<void>;
}

/** Connects to NATS, opens (creating when missing) the engine's KV buckets and returns the stream. */
export async function openNatsStream(opts: NatsStreamOptions): Promise<NatsStream> {
  const settings = parseOptions(opts);
  const logger = opts.logger ?? silentLogger;
  let nc: NatsConnection;
  try {
    nc = await connect({
      ...(opts.user !== undefined && { user: opts.user }),
      ...(opts.pass !== undefined && { pass: opts.pass }),
      ...(opts.token !== undefined && { token: opts.token }),
      servers: opts.servers,
      name: settings.name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
  } catch (err) {
    throw streamErrors.STRATA_ERR_STREAM_IO({ topic: '*', partition: '*', reason: `cannot connect to NATS at ${opts.servers.join(',')}: ${message(err)}` }, err);
  }
  try {
    const jsm = await jetstreamManager(nc, { timeout: settings.requestTimeoutMs });
    const kvm = new Kvm(jetstream(nc, { timeout: settings.requestTimeoutMs }));
    const names = bucketNames(settings.prefix);
    // No direct gets: a follower may answer those from behind the leader (a stale committed offset).
    const bucket = (name: string, ttl = 0): Promise<KV> =>
      kvm.create(name, { replicas: settings.replicas, history: 1, storage: StorageType.File, ttl, allow_direct: false, timeout: settings.requestTimeoutMs } as Partial<KvOptions>);
    const [topics, offsets, members] = await Promise.all([bucket(names.topics), bucket(names.offsets), bucket(names.members, MEMBERS_BUCKET_TTL_MS)]);
    const engine = new NatsEngine(nc, jsm, { topics: topics!, offsets: offsets!, members: members! }, settings, logger);
    logger.info({ servers: opts.servers, prefix: settings.prefix, replicas: settings.replicas }, 'nats stream open');
    return engine;
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw streamErrors.STRATA_ERR_STREAM_IO({ topic: '*', partition: '*', reason: `cannot open JetStream: ${message(err)}` }, err);
  }
}

function parseOptions(opts: NatsStreamOptions): Settings {
  const bad = (option: string, reason: string): never => {
    throw streamErrors.STRATA_ERR_STREAM_BAD_CONFIG({ option, reason });
  };
  if (!Array.isArray(opts.servers) || opts.servers.length === 0 || !opts.servers.every((s) => typeof s === 'string' && s !== '')) {
    bad('servers', 'must be a non-empty list of NATS URLs');
  }
  const given = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as Partial<Settings>;
  const settings = { ...NATS_DEFAULTS, ...pick(given, Object.keys(NATS_DEFAULTS) as (keyof Settings)[]) } as Settings;
  if (settings.replicas !== 1 && settings.replicas !== 3) bad('replicas', 'must be 1 or 3');
  if (!PREFIX_PATTERN.test(settings.prefix)) bad('prefix', `must match ${PREFIX_PATTERN.source}`);
  for (const key of ['publishTimeoutMs', 'requestTimeoutMs', 'maxPendingBytes', 'leaseMs', 'readBatch', 'retentionCheckMs'] as const) {
    const v = settings[key];
    if (!(typeof v === 'number' && Number.isFinite(v) && v > 0)) bad(key, `${String(v)} is not a positive number`);
  }
  if (!Number.isInteger(settings.readBatch)) bad('readBatch', 'must be an integer');
  return Object.freeze(settings);
}

function pick<T extends object, K extends keyof T>(o: T, keys: K[]): Partial<T> {
  const out: Partial<T> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

interface Buckets {
  topics: KV;
  offsets: KV;
  members: KV;
}

/** One record ready to publish. */
interface Outgoing {
  partition: number;
  payload: Buffer;
  msgId: string | undefined;
}

class NatsEngine implements NatsStream {
  readonly engine = 'nats';
  private closed = false;
  private closing: Promise<void> | null = null;
  private connected = true;
  private pendingBytes = 0;
  private readonly appends = new Set<Promise<unknown>>();
  /** Partition streams that refused appends for size with nothing purgeable → reason. */
  private readonly full = new Map<string, string>();
  private readonly freeing = new Map<string, Promise<boolean>>();
  private readonly groups = new Map<string, GroupCoordinator>();
  private readonly publisher: Publisher;
  private readonly readers = new Readers();
  private readonly fetcherEnv: FetcherEnv;
  private readonly groupEnv: GroupEnv;
  private readonly topics: TopicRegistry;
  private readonly replay = new ReplayCursors();
  private readonly timer: NodeJS.Timeout;
  private retention: Promise<void> | null = null;

  constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly buckets: Buckets,
    private readonly settings: Settings,
    private readonly logger: Logger,
  ) {
    this.publisher = new Publisher(nc, settings.publishTimeoutMs);
    this.fetcherEnv = { nc, jsm, logger, readers: this.readers, pullGraceMs: settings.requestTimeoutMs, consumerIdleMs: CONSUMER_IDLE_MS };
    this.topics = new TopicRegistry({ jsm, kv: buckets.topics, prefix: settings.prefix, replicas: settings.replicas, logger });
    this.groupEnv = {
      fetcher: this.fetcherEnv,
      members: buckets.members,
      offsets: buckets.offsets,
      logger,
      prefix: settings.prefix,
      leaseMs: settings.leaseMs,
      readBatch: settings.readBatch,
      endOffset: async (topic, partition) => (await this.streamInfo(topic, partition)).state.last_seq,
      offsetForTime: (topic, partition, timeMs) => this.offsetForTime(topic, partition, timeMs),
      isEngineClosed: () => this.closed || this.closing !== null,
    };
    this.timer = setInterval(() => void this.runRetention().catch((err: unknown) => this.logger.warn({ err: message(err) }, 'stream retention check failed')), settings.retentionCheckMs);
    this.timer.unref();
    void this.watchConnection();
  }

  private async watchConnection(): Promise<void> {
    void this.nc.closed().then((err) => {
      if (this.closing) return;
      this.connected = false;
      this.logger.error({ err: err ? message(err) : undefined }, 'NATS connection closed; the stream cannot work until reopened');
    });
    for await (const s of this.nc.status()) {
      if (s.type === 'disconnect') {
        this.connected = false;
        if (!this.closing) this.logger.warn({ server: s.server }, 'disconnected from NATS; reconnecting');
      } else if (s.type === 'reconnect') {
        this.connected = true;
        this.readers.resetAll();
        this.logger.info({ server: s.server }, 'reconnected to NATS');
      }
    }
  }

  private checkOpen(): void {
    if (this.closed || this.closing) throw streamErrors.STRATA_ERR_STREAM_CLOSED();
  }

  /** Strata errors pass; anything else from NATS becomes STRATA_ERR_STREAM_IO (or CLOSED once closing). */
  private io(topic: string, partition: number | '*', err: unknown): StrataError {
    if (err instanceof StrataError) return err;
    if (this.closed || this.closing) return streamErrors.STRATA_ERR_STREAM_CLOSED({}, err);
    return streamErrors.STRATA_ERR_STREAM_IO({ topic, partition, reason: message(err) }, err);
  }

  private async topic(name: string): Promise<TopicRecord> {
    this.checkOpen();
    let record: TopicRecord | null;
    try {
      record = await this.topics.get(name);
    } catch (err) {
      throw this.io(name, '*', err);
    }
    if (!record) throw streamErrors.STRATA_ERR_STREAM_UNKNOWN_TOPIC({ topic: name });
    return record;
  }

  private checkPartition(topic: TopicRecord, partition: number): void {
    if (!Number.isInteger(partition) || partition < 0 || partition >= topic.partitions) {
      throw streamErrors.STRATA_ERR_STREAM_BAD_PARTITION({ topic: topic.name, partition });
    }
  }

  private streamInfo(topic: string, partition: number): Promise<StreamInfo> {
    return this.jsm.streams.info(partitionStream(this.settings.prefix, topic, partition));
  }

  async ensureTopic(name: string, config: TopicConfig): Promise<TopicInfo> {
    this.checkOpen();
    if (typeof name !== 'string' || !TOPIC_NAME_PATTERN.test(name)) throw streamErrors.STRATA_ERR_STREAM_BAD_TOPIC_NAME({ topic: name });
    const given = Object.fromEntries(Object.entries(config ?? {}).filter(([, v]) => v !== undefined)) as TopicConfig;
    const full = { ...TOPIC_DEFAULTS, ...given } as Required<TopicConfig>;
    if (!Number.isInteger(full.partitions) || full.partitions < 1 || full.partitions > MAX_PARTITIONS) {
      throw streamErrors.STRATA_ERR_STREAM_BAD_CONFIG({ option: 'partitions', reason: `must be an integer from 1 to ${MAX_PARTITIONS}` });
    }
    for (const key of ['retentionMs', 'retentionBytes'] as const) {
      if (!(full[key] > 0) || !Number.isFinite(full[key])) throw streamErrors.STRATA_ERR_STREAM_BAD_CONFIG({ option: key, reason: 'must be positive' });
    }
    if (!(full.dedupWindowMs >= 0) || !Number.isFinite(full.dedupWindowMs)) throw streamErrors.STRATA_ERR_STREAM_BAD_CONFIG({ option: 'dedupWindowMs', reason: 'must be 0 (off) or more' });
    try {
      return await this.describeRecord(await this.topics.ensure(name, given, full));
    } catch (err) {
      throw this.io(name, '*', err);
    }
  }

  async describe(topic: string): Promise<TopicInfo> {
    const cached = await this.topic(topic);
    try {
      return await this.describeRecord((await this.topics.fresh(topic)) ?? cached);
    } catch (err) {
      throw this.io(topic, '*', err);
    }
  }

  private async describeRecord(record: TopicRecord): Promise<TopicInfo> {
    const partitions: PartitionInfo[] = new Array(record.partitions);
    await forEachLimit(record.partitions, 32, async (p) => {
      partitions[p] = partitionInfo(p, await this.streamInfo(record.name, p));
    });
    const { partitions: n, retentionMs, retentionBytes, dedupWindowMs } = record;
    return { name: record.name, config: { partitions: n, retentionMs, retentionBytes, dedupWindowMs }, partitions };
  }

  append(topic: string, records: AppendRecord[]): Promise<AppendResult> {
    const run = this.appendNow(topic, records);
    this.appends.add(run);
    const untrack = (): void => void this.appends.delete(run);
    run.then(untrack, untrack);
    return run;
  }

  private async appendNow(topicName: string, records: AppendRecord[]): Promise<AppendResult> {
    const topic = await this.topic(topicName);
    if (records.length === 0) return { appended: 0, duplicates: 0 };
    const n = topic.partitions;
    const dedup = topic.dedupWindowMs > 0;
    const maxPayload = (this.nc.info?.max_payload ?? 1024 * 1024) - 512; // room for subject and header
    // Validate and encode everything before the first publish: a rejected call writes nothing.
    const outgoing: Outgoing[] = [];
    const seen = new Set<string>();
    let duplicates = 0;
    let bytes = 0;
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      const reason = badRecord(r, MAX_FIELD_BYTES);
      if (reason) throw streamErrors.STRATA_ERR_STREAM_BAD_RECORD({ topic: topicName, index: i, reason });
      const partition = n === 1 ? 0 : partitionFor(r.key, n);
      const msgId = dedup && r.id !== undefined ? dedupId(r.key, r.id) : undefined;
      if (msgId !== undefined) {
        // Two records with one (key, id) in one call: the second is a duplicate of the first.
        if (seen.has(msgId)) {
          duplicates++;
          continue;
        }
        seen.add(msgId);
      }
      const payload = encodeRecord(r.key, r.id, r.ts, r.value);
      if (payload.length > maxPayload) throw streamErrors.STRATA_ERR_STREAM_BAD_RECORD({ topic: topicName, index: i, reason: `larger than the server's max_payload (${maxPayload} bytes with headers)` });
      bytes += payload.length;
      outgoing.push({ partition, payload, msgId });
    }
    if (!this.connected) throw streamErrors.STRATA_ERR_STREAM_IO({ topic: topicName, partition: '*', reason: 'disconnected from NATS' });
    if (this.pendingBytes + bytes > this.settings.maxPendingBytes) {
      throw streamErrors.STRATA_ERR_STREAM_FULL({ topic: topicName, reason: 'too many writes pending' });
    }
    this.pendingBytes += bytes;
    try {
      let results = await this.publishAll(topic, outgoing);
      // Refused for size: purge what every group has committed past, then try those once more.
      const fullParts = new Set(outgoing.filter((_, k) => isFull(results[k])).map((o) => o.partition));
      if (fullParts.size > 0) {
        const freed = new Set<number>();
        await Promise.all([...fullParts].map(async (p) => (await this.freeSpace(topic, p, 'full').catch(() => false)) && freed.add(p)));
        const retry = outgoing.map((o, k) => (isFull(results[k]) && freed.has(o.partition) ? k : -1)).filter((k) => k >= 0);
        if (retry.length > 0) {
          const again = await this.publishAll(topic, retry.map((k) => outgoing[k]!));
          results = results.slice();
          retry.forEach((k, j) => (results[k] = again[j]!));
        }
      }
      let appended = 0;
      let failed: { partition: number; err: PublishError } | null = null;
      const okParts = new Set<number>();
      for (let k = 0; k < outgoing.length; k++) {
        const res = results[k]!;
        const { partition } = outgoing[k]!;
        if (res instanceof PublishError) {
          failed ??= { partition, err: res };
          continue;
        }
        okParts.add(partition);
        if (res.duplicate) duplicates++;
        else appended++;
      }
      for (const p of okParts) this.full.delete(partitionStream(this.settings.prefix, topicName, p));
      if (failed) throw this.publishFailure(topicName, failed.partition, failed.err);
      return { appended, duplicates };
    } finally {
      this.pendingBytes -= bytes;
    }
  }

  /** Publishes in order (one key's records keep their order), all in flight at once; one result per record. */
  private publishAll(topic: TopicRecord, outgoing: Outgoing[]): Promise<(PubAck | PublishError)[]> {
    const subjects: string[] = [];
    return this.publisher.publish(
      outgoing.map((o) => ({
        subject: (subjects[o.partition] ??= partitionSubject(this.settings.prefix, topic.name, o.partition)),
        payload: o.payload,
        msgId: o.msgId,
      })),
    );
  }

  private publishFailure(topic: string, partition: number, err: PublishError): StrataError {
    switch (err.kind) {
      case 'full': {
        const reason = 'retention cap reached with unread data';
        this.full.set(partitionStream(this.settings.prefix, topic, partition), reason);
        return streamErrors.STRATA_ERR_STREAM_FULL({ topic, reason }, err);
      }
      case 'storage-full':
        return streamErrors.STRATA_ERR_STREAM_FULL({ topic, reason: `JetStream storage full (${err.message})` }, err);
      case 'closed':
        if (this.closed || this.closing) return streamErrors.STRATA_ERR_STREAM_CLOSED({}, err);
        return streamErrors.STRATA_ERR_STREAM_IO({ topic, partition, reason: err.message }, err);
      case 'timeout':
      case 'no-responders':
      case 'rejected':
        return streamErrors.STRATA_ERR_STREAM_IO({ topic, partition, reason: err.message }, err);
    }
  }

  /**
   * Size retention of one partition (retention.ts): purges the oldest records every group has
   * committed past, down to the low-water mark. `check` does nothing below the high-water mark.
   * Returns whether anything was purged. One at a time per partition.
   */
  private freeSpace(topic: TopicRecord, partition: number, trigger: 'check' | 'full'): Promise<boolean> {
    const stream = partitionStream(this.settings.prefix, topic.name, partition);
    const running = this.freeing.get(stream);
    if (running) return running;
    const run = (async () => {
      const info = await this.jsm.streams.info(stream);
      const cap = info.config.max_bytes;
      if (!(cap > 0) || (trigger === 'check' && info.state.bytes < cap * PURGE_HIGH_WATER)) return false;
      const keep = await this.retentionKeep(topic.name, partition);
      const { first_seq: firstSeq, last_seq: lastSeq, messages, bytes } = info.state;
      const target = purgeTarget({ firstSeq, lastSeq, messages, bytes }, cap, keep);
      if (target === null) return false;
      const res = await this.jsm.streams.purge(stream, { seq: target });
      this.full.delete(stream);
      this.logger.info({ topic: topic.name, partition, purged: res.purged, startOffset: target - 1, trigger }, 'purged records every consumer group has committed past (size retention)');
      return res.purged > 0;
    })().finally(() => this.freeing.delete(stream));
    this.freeing.set(stream, run);
    return run;
  }

  /** The lowest offset any group still needs on a partition (null: none holds anything). */
  private async retentionKeep(topic: string, partition: number): Promise<number | null> {
    const filter = `${encodeName(topic)}.*.*`;
    const committedGroups = new Map<string, number>();
    const offsetKeys = (await collect(await this.buckets.offsets.keys(filter))).filter((k) => splitKey(k)?.last === String(partition));
    await Promise.all(
      offsetKeys.map(async (k) => {
        const e = await this.buckets.offsets.get(k);
        if (e && e.operation === 'PUT') committedGroups.set(splitKey(k)!.group, Number(e.string()));
      }),
    );
    const liveGroups = new Set((await collect(await this.buckets.members.keys(filter))).map((k) => splitKey(k)?.group).filter((g): g is string => g !== undefined));
    const withoutCommit = [...liveGroups].filter((g) => !committedGroups.has(g)).length;
    return keepFrom([...committedGroups.values()], withoutCommit);
  }

  runRetention(): Promise<void> {
    this.checkOpen();
    this.retention ??= (async () => {
      for (const topic of this.topics.known()) {
        await forEachLimit(topic.partitions, 4, (p) =>
          this.freeSpace(topic, p, 'check').catch((err: unknown) => this.logger.warn({ topic: topic.name, partition: p, err: message(err) }, 'stream retention check failed')),
        );
      }
    })().finally(() => (this.retention = null));
    return this.retention;
  }

  async read(topic: string, partition: number, offset: number, opts: { maxRecords?: number } = {}): Promise<StreamRecord[]> {
    const t = await this.topic(topic);
    this.checkPartition(t, partition);
    const max = opts.maxRecords ?? 1000;
    if (!Number.isInteger(max) || max < 1) throw streamErrors.STRATA_ERR_STREAM_BAD_CONFIG({ option: 'maxRecords', reason: 'must be a positive integer' });
    const from = Math.max(0, Math.floor(offset));
    const stream = partitionStream(this.settings.prefix, topic, partition);
    const fetcher = this.replay.take(stream, from) ?? new PartitionFetcher(this.fetcherEnv, stream, topic, partition, from + 1, () => undefined);
    try {
      const out = fetcher.take(max);
      for (let attempt = 0; out.length < max; attempt++) {
        const want = max - out.length;
        await fetcher.fetch(want, 0);
        if (fetcher.error) throw streamErrors.STRATA_ERR_STREAM_IO({ topic, partition, reason: fetcher.error.message }, fetcher.error);
        const more = fetcher.take(want);
        for (const r of more) out.push(r);
        if (more.length === want) break;
        // Short: the consumer had no more, but it learns of new messages a moment after their
        // append was acknowledged. The stream's last sequence says whether it is behind.
        if (attempt >= READ_CATCH_UP_TRIES || (await this.jsm.streams.info(stream)).state.last_seq < fetcher.nextSeq) break;
        await new Promise((resolve) => setTimeout(resolve, attempt));
      }
      if (out.length === 0 && fetcher.corrupt) {
        throw streamErrors.STRATA_ERR_STREAM_CORRUPT({ file: stream, position: `sequence ${fetcher.corrupt.seq}`, reason: fetcher.corrupt.reason });
      }
      this.replay.put(stream, out.length > 0 ? out[out.length - 1]!.offset + 1 : from, fetcher);
      return out;
    } catch (err) {
      fetcher.close();
      throw this.io(topic, partition, err);
    }
  }

  async offsetForTime(topic: string, partition: number, timeMs: number): Promise<number> {
    const t = await this.topic(topic);
    this.checkPartition(t, partition);
    const stream = partitionStream(this.settings.prefix, topic, partition);
    try {
      const { state } = await this.jsm.streams.info(stream);
      // Binary search on append times (JetStream's message timestamps) over the held sequences.
      let lo = state.messages === 0 ? state.last_seq + 1 : state.first_seq;
      let hi = state.last_seq + 1;
      while (lo < hi) {
        const mid = Math.floor((lo + hi) / 2);
        const msg = await this.jsm.streams.getMessage(stream, { seq: mid });
        if (msg === null || msg.time.getTime() < timeMs) lo = mid + 1;
        else hi = mid;
      }
      return lo - 1;
    } catch (err) {
      throw this.io(topic, partition, err);
    }
  }

  async consumer(opts: ConsumerOptions): Promise<Consumer> {
    const topic = await this.topic(opts.topic);
    if (typeof opts.group !== 'string' || !GROUP_NAME_PATTERN.test(opts.group)) {
      throw streamErrors.STRATA_ERR_STREAM_BAD_CONFIG({ option: 'group', reason: `${String(opts.group)} must match ${GROUP_NAME_PATTERN.source}` });
    }
    const from = opts.from ?? 'earliest';
    if (from !== 'earliest' && from !== 'latest') throw streamErrors.STRATA_ERR_STREAM_BAD_CONFIG({ option: 'from', reason: 'must be earliest or latest' });
    const key = `${topic.name}\n${opts.group}`;
    let coordinator = this.groups.get(key);
    if (!coordinator) {
      coordinator = new GroupCoordinator(this.groupEnv, topic.name, topic.partitions, opts.group);
      this.groups.set(key, coordinator);
    }
    const member = new GroupMember(this.groupEnv, coordinator, from);
    await coordinator.join(member);
    return member;
  }

  async lag(topicName: string): Promise<GroupLag[]> {
    const topic = await this.topic(topicName);
    try {
      const keys = await collect(await this.buckets.offsets.keys(`${encodeName(topicName)}.*.*`));
      const byGroup = new Map<string, Map<number, number>>();
      await Promise.all(
        keys.map(async (k) => {
          const parts = splitKey(k);
          const e = await this.buckets.offsets.get(k);
          if (!parts || !e || e.operation !== 'PUT') return;
          const partition = Number(parts.last);
          if (!Number.isInteger(partition) || partition >= topic.partitions) return;
          let g = byGroup.get(parts.group);
          if (!g) byGroup.set(parts.group, (g = new Map()));
          g.set(partition, Number(e.string()));
        }),
      );
      if (byGroup.size === 0) return [];
      const infos: PartitionInfo[] = new Array(topic.partitions);
      await forEachLimit(topic.partitions, 32, async (p) => {
        infos[p] = partitionInfo(p, await this.streamInfo(topicName, p));
      });
      return [...byGroup.keys()].sort().map((group) => ({
        group,
        topic: topicName,
        partitions: infos.map((info) => {
          const committed = Math.max(byGroup.get(group)!.get(info.partition) ?? info.startOffset, info.startOffset);
          return { partition: info.partition, committed, endOffset: info.endOffset, lag: Math.max(0, info.endOffset - committed) };
        }),
      }));
    } catch (err) {
      throw this.io(topicName, '*', err);
    }
  }

  health(): StreamHealth {
    if (this.closed || this.closing) return { writable: false, reason: 'closed' };
    if (!this.connected) return { writable: false, reason: 'disconnected from NATS' };
    if (this.pendingBytes >= this.settings.maxPendingBytes) return { writable: false, reason: 'too many writes pending' };
    for (const [stream, reason] of this.full) return { writable: false, reason: `${stream}: ${reason}` };
    return { writable: true };
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    clearInterval(this.timer);
    await Promise.allSettled([...this.appends]);
    await Promise.allSettled([...this.groups.values()].map((g) => g.close()));
    this.groups.clear();
    this.replay.close();
    this.publisher.close();
    this.readers.closeAll();
    // Let the consumer deletes just sent reach the server (bounded: it may be unreachable).
    await Promise.race([this.nc.flush().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 1_000).unref())]);
    await this.nc.close().catch(() => undefined);
    this.closed = true;
    this.logger.info({}, 'nats stream closed');
  }
}

/** Replay readers kept between `read` calls, by the offset the next call would continue at. */
class ReplayCursors {
  private readonly cursors = new Map<string, { fetcher: PartitionFetcher; timer: NodeJS.Timeout }>();

  take(stream: string, offset: number): PartitionFetcher | undefined {
    const key = `${stream}@${offset}`;
    const c = this.cursors.get(key);
    if (!c) return undefined;
    this.cursors.delete(key);
    clearTimeout(c.timer);
    return c.fetcher;
  }

  put(stream: string, offset: number, fetcher: PartitionFetcher): void {
    const key = `${stream}@${offset}`;
    this.take(stream, offset)?.close();
    if (this.cursors.size >= MAX_REPLAY_CURSORS) {
      const [oldest] = this.cursors.keys();
      if (oldest !== undefined) this.drop(oldest);
    }
    const timer = setTimeout(() => this.drop(key), REPLAY_CURSOR_IDLE_MS);
    timer.unref();
    this.cursors.set(key, { fetcher, timer });
  }

  private drop(key: string): void {
    const c = this.cursors.get(key);
    if (!c) return;
    this.cursors.delete(key);
    clearTimeout(c.timer);
    c.fetcher.close();
  }

  close(): void {
    for (const key of [...this.cursors.keys()]) this.drop(key);
  }
}

function partitionInfo(partition: number, info: StreamInfo): PartitionInfo {
  const { first_seq: first, last_seq: last, messages, bytes } = info.state;
  return { partition, startOffset: messages === 0 ? last : first - 1, endOffset: last, bytes };
}

function isFull(res: PubAck | PublishError | undefined): boolean {
  return res instanceof PublishError && res.kind === 'full';
}

async function collect<T>(iter: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of iter) out.push(x);
  return out;
}


function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
