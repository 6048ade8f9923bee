import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { TopicConfig, TopicInfo } from '../../types.js';
import { writeFileAtomic } from './atomic-file.js';
import { ConsumerGroup } from './consumer-group.js';
import { fsyncDir, type FileOps } from './file-ops.js';
import type { Logger } from '@strata/core';
import { PartitionLog } from './partition-log.js';
import { PartitionWriter } from './partition-writer.js';
import { TailCache } from './tail-cache.js';

/** What topics share from the engine. */
export interface TopicEnv {
  ops: FileOps;
  logger: Logger;
  now: () => number;
  segmentBytes: number;
  segmentMs: number;
  tailCacheBytes: number;
  maxDedupIds: number;
  /** Called as staged bytes stop being pending (engine-wide back-pressure). */
  onSettled(bytes: number): void;
}

/** Contents of DIR/<topic>/topic.json. */
interface TopicFile extends Required<TopicConfig> {
  name: string;
  createdAt: string;
}

/**
 * One topic: its partitions (log + writer each), the tail cache they share, its consumer groups
 * and the waiters of long-polling reads.
 */
export class Topic {
  readonly groups = new Map<string, ConsumerGroup>();
  /** Bumped after every durable write cycle; long polls compare it to skip a lost wake-up. */
  version = 0;
  /** The retention pass running now, if any (appends over the size cap start one). */
  retention: Promise<void> | null = null;
  private readonly waiters = new Set<() => void>();
  readonly logs: PartitionLog[] = [];
  readonly writers: PartitionWriter[] = [];
  readonly cache: TailCache;

  private constructor(
    readonly name: string,
    readonly dir: string,
    readonly config: Required<TopicConfig>,
    readonly env: TopicEnv,
  ) {
    this.cache = new TailCache(config.partitions, env.tailCacheBytes);
  }

  /** Opens a topic directory holding a topic.json. */
  static async open(dir: string, env: TopicEnv): Promise<Topic> {
    const file = JSON.parse(await fsp.readFile(join(dir, 'topic.json'), 'utf8')) as TopicFile;
    const { name, partitions, retentionMs, retentionBytes, dedupWindowMs } = file;
    const topic = new Topic(name, dir, { partitions, retentionMs, retentionBytes, dedupWindowMs }, env);
    await topic.openPartitions();
    await topic.loadGroups();
    return topic;
  }

  /**
   * Applies changed settings of an existing topic and persists them: retention at once, the dedup
   * window from the next open. The partition count is fixed (keys would move partition).
   */
  async reconfigure(requested: Partial<TopicConfig>): Promise<void> {
    const { logger, now } = this.env;
    if (requested.partitions !== undefined && requested.partitions !== this.config.partitions) {
      logger.warn({ topic: this.name, partitions: this.config.partitions, requested: requested.partitions }, 'partition count of an existing topic is fixed; keeping it');
    }
    const changed: Partial<Record<'retentionMs' | 'retentionBytes' | 'dedupWindowMs', { from: number; to: number }>> = {};
    for (const key of ['retentionMs', 'retentionBytes', 'dedupWindowMs'] as const) {
      const to = requested[key];
      if (to !== undefined && to !== this.config[key]) {
        changed[key] = { from: this.config[key], to };
        this.config[key] = to;
      }
    }
    if (Object.keys(changed).length === 0) return;
    const file = JSON.parse(await fsp.readFile(join(this.dir, 'topic.json'), 'utf8')) as TopicFile;
    await writeFileAtomic(join(this.dir, 'topic.json'), `${JSON.stringify({ ...file, ...this.config, updatedAt: new Date(now()).toISOString() }, null, 2)}\n`);
    logger.info({ topic: this.name, changed }, changed.dedupWindowMs ? 'topic settings updated (dedup window from the next start)' : 'topic settings updated');
  }

  /** Creates a topic: partitions first, topic.json last, so a half-created topic is not seen. */
  static async create(root: string, name: string, config: Required<TopicConfig>, env: TopicEnv): Promise<Topic> {
    const dir = join(root, name);
    await fsp.mkdir(join(dir, 'groups'), { recursive: true });
    await fsyncDir(root);
    const topic = new Topic(name, dir, config, env);
    await topic.openPartitions();
    await fsyncDir(dir);
    const file: TopicFile = { name, ...config, createdAt: new Date(env.now()).toISOString() };
    await writeFileAtomic(join(dir, 'topic.json'), `${JSON.stringify(file, null, 2)}\n`);
    return topic;
  }

  private async openPartitions(): Promise<void> {
    const env = this.env;
    for (let p = 0; p < this.config.partitions; p++) {
      const log = await PartitionLog.open({
        topic: this.name,
        partition: p,
        dir: join(this.dir, String(p)),
        ops: env.ops,
        logger: env.logger,
        cache: this.cache,
        dedupWindowMs: this.config.dedupWindowMs,
        maxDedupIds: env.maxDedupIds,
        now: env.now,
      });
      this.logs.push(log);
      this.writers.push(
        new PartitionWriter(log, {
          segmentBytes: env.segmentBytes,
          segmentMs: env.segmentMs,
          now: env.now,
          onDurable: () => this.notify(),
          onSettled: (bytes) => env.onSettled(bytes),
        }),
      );
    }
  }

  private async loadGroups(): Promise<void> {
    const dir = join(this.dir, 'groups');
    await fsp.mkdir(dir, { recursive: true });
    for (const f of await fsp.readdir(dir)) {
      if (f.startsWith('.') && f.endsWith('.tmp')) await fsp.rm(join(dir, f), { force: true });
      else if (f.endsWith('.json')) {
        const group = await ConsumerGroup.load(this, f.slice(0, -'.json'.length));
        this.groups.set(group.name, group);
      }
    }
  }

  group(name: string): ConsumerGroup {
    let g = this.groups.get(name);
    if (!g) {
      g = new ConsumerGroup(this, name);
      this.groups.set(name, g);
    }
    return g;
  }

  /** Wakes long-polling reads. */
  notify(): void {
    this.version++;
    for (const w of [...this.waiters]) w();
  }

  /** Resolves at the next notify after `version`, or after `ms`. */
  waitForData(version: number, ms: number): Promise<void> {
    if (this.version !== version) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }

  /**
   * The lowest committed offset of partition `p` over the groups that have committed on this
   * topic or have members now (such a group holds `p` from its start until it commits on `p`),
   * or Infinity when there is no such group: size-based retention may not delete past it.
   */
  minCommitted(p: number): number {
    let min = Infinity;
    for (const g of this.groups.values()) {
      // A group with members holds data from the start until it commits: delivery commits only
      // after its first flush (up to 5 minutes), and nothing it has not read may go for size.
      if (g.committed.size === 0 && !g.hasMembers) continue;
      min = Math.min(min, g.committed.get(p) ?? this.logs[p]!.startOffset);
    }
    return min;
  }

  /** True when partition `p` holds more than its size cap (counting writes in flight). */
  overSizeCap(p: number): boolean {
    const log = this.logs[p]!;
    return log.bytes + log.pendingBytes > this.config.retentionBytes;
  }

  /** True when size-based retention can delete something from partition `p` now. */
  canFreeSpace(p: number): boolean {
    const log = this.logs[p]!;
    const oldest = log.segments.length > 1 ? log.segments[0]! : log.active;
    return oldest.index.length > 0 && this.minCommitted(p) >= oldest.endOffset;
  }

  describe(): TopicInfo {
    return {
      name: this.name,
      config: { ...this.config },
      partitions: this.logs.map((log) => ({
        partition: log.partition,
        startOffset: log.startOffset,
        endOffset: log.durableEnd,
        bytes: log.bytes,
      })),
    };
  }

  /** Waits for in-flight writes and commits, then closes the files. */
  async close(): Promise<void> {
    await Promise.all(this.writers.map((w) => w.idle()));
    if (this.retention) await this.retention;
    await Promise.all([...this.groups.values()].map((g) => g.close()));
    await Promise.all(this.writers.map((w) => w.idle()));
    for (const log of this.logs) await log.close();
    this.notify();
  }
}
