import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { streamErrors } from '../../errors.js';
import { partitionFor } from '../../partitioner.js';
import { badRecord, TOPIC_DEFAULTS } from '../../records.js';
import type {
  AppendRecord,
  AppendResult,
  Consumer,
  ConsumerOptions,
  GroupLag,
  Stream,
  StreamHealth,
  StreamRecord,
  TopicConfig,
  TopicInfo,
} from '../../types.js';
import { GROUP_NAME_PATTERN } from './consumer-group.js';
import { nodeFileOps, type FileOps } from './file-ops.js';
import { MAX_KEY_BYTES } from './frame-codec.js';
import { acquireDirLock, silentLogger, type Logger } from '@strata/core';
import { enforceRetention } from './retention.js';
import { Topic, type TopicEnv } from './topic.js';

const MiB = 1024 * 1024;

export interface EmbeddedStreamOptions {
  /** Data directory; created when missing. One process at a time (DIR/LOCK). */
  dir: string;
  logger?: Logger;
  /** Segment size that triggers a roll. Default 64 MiB. */
  segmentBytes?: number;
  /** Segment age (since its first frame) that triggers a roll. Default 1 h. */
  segmentMs?: number;
  /** Bytes of appends waiting for fsync beyond which appends fail with STRATA_ERR_STREAM_FULL. Default 64 MiB. */
  maxPendingBytes?: number;
  /** Period of the retention pass. Default 60 s. */
  retentionCheckMs?: number;
  /** In-memory tail of recent frames per topic, served to readers without disk reads. Default 32 MiB. */
  tailCacheBytes?: number;
  /** Most ids the dedup window remembers per partition (oldest forgotten first). Default 1,000,000. */
  maxDedupIds?: number;
  /** Clock (Unix ms) for append times, retention and dedup; tests pass a fake one. */
  now?: () => number;
}

type EngineSettings = Required<Pick<EmbeddedStreamOptions, 'segmentBytes' | 'segmentMs' | 'maxPendingBytes' | 'retentionCheckMs' | 'tailCacheBytes' | 'maxDedupIds'>>;

export const EMBEDDED_DEFAULTS: Readonly<EngineSettings> = Object.freeze({
  segmentBytes: 64 * MiB,
  segmentMs: 60 * 60 * 1000,
  maxPendingBytes: 64 * MiB,
  retentionCheckMs: 60 * 1000,
  tailCacheBytes: 32 * MiB,
  maxDedupIds: 1_000_000,
});

const TOPIC_NAME_PATTERN = /^[a-z0-9._-]{1,64}$/;
const MAX_PARTITIONS = 4096;

/** The embedded engine's `Stream`, plus a deterministic trigger for the retention pass. */
export interface EmbeddedStream extends Stream {
  /** Runs one retention pass over every topic now (the timer does this every retentionCheckMs). */
  runRetention(): Promise<void>;
}

/** Opens (creating when new) an embedded stream in `opts.dir`. */
export function openEmbeddedStream(opts: EmbeddedStreamOptions): Promise<EmbeddedStream> {
  return createEmbeddedStream(opts, nodeFileOps);
}

/** As `openEmbeddedStream`, with the file calls of the read and write paths supplied (fault-injection tests). */
export async function createEmbeddedStream(opts: EmbeddedStreamOptions, ops: FileOps): Promise<EmbeddedStream> {
  const given = definedOnly(opts);
  const settings = { ...EMBEDDED_DEFAULTS } as EngineSettings;
  for (const key of Object.keys(EMBEDDED_DEFAULTS) as (keyof EngineSettings)[]) {
    if (given[key] !== undefined) settings[key] = given[key];
    const v = settings[key];
    if (!(typeof v === 'number' && v > 0)) throw streamErrors.STRATA_ERR_STREAM_BAD_CONFIG({ option: key, reason: `${String(v)} is not a positive number` });
  }
  const logger = opts.logger ?? silentLogger;
  await fsp.mkdir(opts.dir, { recursive: true });
  const release = await acquireDirLock(opts.dir, { logger, locked: streamErrors.STRATA_ERR_STREAM_LOCKED });
  const engine = new EmbeddedEngine(opts.dir, settings, logger, opts.now ?? Date.now, ops, release);
  try {
    await engine.load();
  } catch (err) {
    await engine.close().catch(() => undefined);
    throw err;
  }
  return engine;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

class EmbeddedEngine implements EmbeddedStream {
  readonly engine = 'embedded';
  private readonly topics = new Map<string, Topic>();
  private readonly creating = new Map<string, Promise<Topic>>();
  private readonly env: TopicEnv;
  private pendingBytes = 0;
  private closed = false;
  private closing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly dir: string,
    private readonly settings: EngineSettings,
    private readonly logger: Logger,
    private readonly now: () => number,
    ops: FileOps,
    private readonly releaseLock: () => Promise<void>,
  ) {
    this.env = {
      ops,
      logger,
      now,
      segmentBytes: settings.segmentBytes,
      segmentMs: settings.segmentMs,
      tailCacheBytes: settings.tailCacheBytes,
      maxDedupIds: settings.maxDedupIds,
      onSettled: (bytes) => {
        this.pendingBytes -= bytes;
      },
    };
  }

  async load(): Promise<void> {
    for (const entry of await fsp.readdir(this.dir, { withFileTypes: true })) {
      if (!entry.isDirectory() || !TOPIC_NAME_PATTERN.test(entry.name)) continue;
      const dir = join(this.dir, entry.name);
      const hasConfig = await fsp.access(join(dir, 'topic.json')).then(() => true, () => false);
      if (!hasConfig) {
        this.logger.warn({ dir }, 'ignoring a topic directory without topic.json (creation was interrupted)');
        continue;
      }
      this.topics.set(entry.name, await Topic.open(dir, this.env));
    }
    this.timer = setInterval(() => {
      this.runRetention().catch((err: unknown) => this.logger.error({ err }, 'stream retention pass failed'));
    }, this.settings.retentionCheckMs);
    this.timer.unref();
    this.logger.info({ dir: this.dir, topics: [...this.topics.keys()] }, 'embedded stream open');
  }

  private checkOpen(): void {
    if (this.closed) throw streamErrors.STRATA_ERR_STREAM_CLOSED();
  }

  private topic(name: string): Topic {
    this.checkOpen();
    const t = this.topics.get(name);
    if (!t) throw streamErrors.STRATA_ERR_STREAM_UNKNOWN_TOPIC({ topic: name });
    return t;
  }

  private partitionOf(topic: Topic, partition: number) {
    const log = Number.isInteger(partition) ? topic.logs[partition] : undefined;
    if (!log) throw streamErrors.STRATA_ERR_STREAM_BAD_PARTITION({ topic: topic.name, partition });
    return log;
  }

  async ensureTopic(name: string, config: TopicConfig): Promise<TopicInfo> {
    this.checkOpen();
    if (typeof name !== 'string' || !TOPIC_NAME_PATTERN.test(name)) throw streamErrors.STRATA_ERR_STREAM_BAD_TOPIC_NAME({ topic: name });
    // No await before `creating` is set, so concurrent calls for one name create it once.
    const full = { ...TOPIC_DEFAULTS, ...definedOnly(config) } as Required<TopicConfig>;
    if (!Number.isInteger(full.partitions) || full.partitions < 1 || full.partitions > MAX_PARTITIONS) {
      throw streamErrors.STRATA_ERR_STREAM_BAD_CONFIG({ option: 'partitions', reason: `must be an integer from 1 to ${MAX_PARTITIONS}` });
    }
    for (const key of ['retentionMs', 'retentionBytes'] as const) {
      if (!(full[key] > 0)) throw streamErrors.STRATA_ERR_STREAM_BAD_CONFIG({ option: key, reason: 'must be positive' });
    }
    if (!(full.dedupWindowMs >= 0)) throw streamErrors.STRATA_ERR_STREAM_BAD_CONFIG({ option: 'dedupWindowMs', reason: 'must be 0 (off) or more' });
    const existing = this.topics.get(name);
    if (existing) {
      await existing.reconfigure(definedOnly(config));
      return existing.describe();
    }
    const inflight = this.creating.get(name);
    if (inflight) return (await inflight).describe();
    const creation = Topic.create(this.dir, name, full, this.env);
    this.creating.set(name, creation);
    try {
      const topic = await creation;
      this.topics.set(name, topic);
      this.logger.info({ topic: name, partitions: full.partitions }, 'stream topic created');
      return topic.describe();
    } finally {
      this.creating.delete(name);
    }
  }

  async describe(topic: string): Promise<TopicInfo> {
    return this.topic(topic).describe();
  }

  append(topicName: string, records: AppendRecord[]): Promise<AppendResult> {
    let topic: Topic;
    try {
      topic = this.topic(topicName);
      if (this.closing) throw streamErrors.STRATA_ERR_STREAM_CLOSED();
    } catch (err) {
      return Promise.reject(err);
    }
    if (records.length === 0) return Promise.resolve({ appended: 0, duplicates: 0 });
    const n = topic.config.partitions;
    // Validate and group by partition before anything is staged: a rejected call writes nothing.
    const byPartition: (number[] | undefined)[] = new Array(n);
    let bytes = 0;
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      const reason = badRecord(r, MAX_KEY_BYTES);
      if (reason) return Promise.reject(streamErrors.STRATA_ERR_STREAM_BAD_RECORD({ topic: topicName, index: i, reason }));
      const p = n === 1 ? 0 : partitionFor(r.key, n);
      (byPartition[p] ??= []).push(i);
      bytes += 16 + r.key.length + (r.id?.length ?? 0) + r.value.byteLength;
    }
    if (this.pendingBytes + bytes > this.settings.maxPendingBytes) {
      return Promise.reject(streamErrors.STRATA_ERR_STREAM_FULL({ topic: topicName, reason: 'too many writes pending' }));
    }
    for (let p = 0; p < n; p++) {
      if (!byPartition[p]) continue;
      const log = topic.logs[p]!;
      if (log.unwritable !== null) {
        return Promise.reject(streamErrors.STRATA_ERR_STREAM_IO({ topic: topicName, partition: p, reason: log.unwritable }));
      }
      if (topic.overSizeCap(p)) {
        if (!topic.canFreeSpace(p)) {
          return Promise.reject(streamErrors.STRATA_ERR_STREAM_FULL({ topic: topicName, reason: 'retention cap reached with unread data' }));
        }
        this.startRetention(topic);
      }
    }
    return new Promise<AppendResult>((resolve, reject) => {
      const result: AppendResult = { appended: 0, duplicates: 0 };
      let remaining = 1; // released after staging, so an early failure cannot settle the call
      let error: Error | null = null;
      const done = (err: Error | null): void => {
        if (err && !error) error = err;
        if (--remaining === 0) {
          if (error) reject(error);
          else resolve(result);
        }
      };
      const now = this.now();
      for (let p = 0; p < n; p++) {
        const indexes = byPartition[p];
        if (!indexes) continue;
        const { staged, duplicates } = topic.logs[p]!.stage(records, indexes, now);
        result.duplicates += duplicates;
        if (!staged) continue;
        result.appended += staged.count;
        this.pendingBytes += staged.frame.length;
        remaining++;
        topic.writers[p]!.enqueue(staged, done);
      }
      done(null);
    });
  }

  private startRetention(topic: Topic): void {
    topic.retention ??= enforceRetention(topic, this.now(), this.logger)
      .catch((err: unknown) => this.logger.error({ topic: topic.name, err }, 'stream retention pass failed'))
      .finally(() => {
        topic.retention = null;
      });
  }

  async runRetention(): Promise<void> {
    this.checkOpen();
    for (const topic of this.topics.values()) {
      if (topic.retention) await topic.retention;
      await enforceRetention(topic, this.now(), this.logger);
    }
  }

  async read(topic: string, partition: number, offset: number, opts: { maxRecords?: number } = {}): Promise<StreamRecord[]> {
    const log = this.partitionOf(this.topic(topic), partition);
    return log.read(Math.max(0, Math.floor(offset)), opts.maxRecords ?? 1000);
  }

  async offsetForTime(topic: string, partition: number, timeMs: number): Promise<number> {
    return this.partitionOf(this.topic(topic), partition).offsetForTime(timeMs);
  }

  async consumer(opts: ConsumerOptions): Promise<Consumer> {
    const topic = this.topic(opts.topic);
    if (!GROUP_NAME_PATTERN.test(opts.group)) {
      throw streamErrors.STRATA_ERR_STREAM_BAD_CONFIG({ option: 'group', reason: `${opts.group} must match ${GROUP_NAME_PATTERN.source}` });
    }
    return topic.group(opts.group).join(opts, () => this.closed);
  }

  async lag(topicName: string): Promise<GroupLag[]> {
    const topic = this.topic(topicName);
    const out: GroupLag[] = [];
    for (const g of [...topic.groups.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      if (g.committed.size === 0) continue;
      out.push({
        group: g.name,
        topic: topicName,
        partitions: topic.logs.map((log) => {
          const committed = Math.max(g.committed.get(log.partition) ?? log.startOffset, log.startOffset);
          return { partition: log.partition, committed, endOffset: log.durableEnd, lag: Math.max(0, log.durableEnd - committed) };
        }),
      });
    }
    return out;
  }

  health(): StreamHealth {
    if (this.closed || this.closing) return { writable: false, reason: 'closed' };
    if (this.pendingBytes >= this.settings.maxPendingBytes) return { writable: false, reason: 'too many writes pending' };
    for (const topic of this.topics.values()) {
      for (const log of topic.logs) {
        const where = `${topic.name}/${log.partition}`;
        if (log.unwritable !== null) return { writable: false, reason: `${where} unwritable: ${log.unwritable}` };
        if (log.diskFull) return { writable: false, reason: `${where}: disk full` };
        if (topic.overSizeCap(log.partition) && !topic.canFreeSpace(log.partition)) {
          return { writable: false, reason: `${where}: retention cap reached with unread data` };
        }
      }
    }
    return { writable: true };
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    for (const creation of this.creating.values()) await creation.catch(() => undefined);
    try {
      await Promise.all([...this.topics.values()].map((t) => t.close()));
    } finally {
      this.closed = true;
      for (const t of this.topics.values()) t.notify();
      await this.releaseLock();
      this.logger.info({ dir: this.dir }, 'embedded stream closed');
    }
  }
}

