/**
 * Topics of the NATS engine: the config record in the topics bucket (key `<topic>`, JSON
 * `TopicRecord`) and one JetStream stream per partition whose limits follow that config.
 *
 * Creation makes the partition streams first and the config record last (with `create`, which
 * fails when the key exists), so a topic is visible only once complete and a concurrent creator
 * in another process loses cleanly and adopts the winner's config. A reconfiguration updates the
 * streams, then the record (compare-and-set on its revision).
 */
import { DiscardPolicy, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { Logger } from '@strata/core';
import type { TopicConfig } from '../../types.js';
import { streamErrors } from '../../errors.js';
import { partitionStream, partitionSubject, topicKey } from './names.js';

export interface TopicRecord extends Required<TopicConfig> {
  name: string;
  createdAt: string;
  updatedAt?: string;
}

export interface TopicsEnv {
  jsm: JetStreamManager;
  kv: KV;
  prefix: string;
  replicas: number;
  logger: Logger;
}

const SETTINGS = ['retentionMs', 'retentionBytes', 'dedupWindowMs'] as const;
/** JSInsufficientResourcesErr ("insufficient storage resources available"). */
const INSUFFICIENT_RESOURCES = 10047;

/** Limits of the stream of one partition (see engine.ts, "JetStream layout"). */
export function partitionStreamConfig(env: Pick<TopicsEnv, 'prefix' | 'replicas'>, topic: string, partition: number, config: Required<TopicConfig>): Partial<StreamConfig> & { name: string } {
  const dedupMs = config.dedupWindowMs > 0 ? config.dedupWindowMs : 1_000; // no ids are sent when off
  return {
    name: partitionStream(env.prefix, topic, partition),
    subjects: [partitionSubject(env.prefix, topic, partition)],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: env.replicas,
    discard: DiscardPolicy.New,
    max_age: config.retentionMs * 1_000_000,
    max_bytes: config.retentionBytes,
    max_msgs: -1,
    duplicate_window: Math.min(dedupMs, config.retentionMs) * 1_000_000,
    // Offsets are sequences: no single message may be deleted (a hole), only a prefix purged.
    deny_delete: true,
    deny_purge: false,
  };
}

export class TopicRegistry {
  private readonly cache = new Map<string, TopicRecord>();
  private readonly creating = new Map<string, Promise<TopicRecord>>();

  constructor(private readonly env: TopicsEnv) {}

  /** Topics this process has used (for the retention pass). */
  known(): TopicRecord[] {
    return [...this.cache.values()];
  }

  /** The config of a topic: cached (partitions never change), else read; null when there is no such topic. */
  async get(name: string): Promise<TopicRecord | null> {
    return this.cache.get(name) ?? (await this.load(name))?.record ?? null;
  }

  /** The config as stored now (retention settings may have been changed by another process). */
  async fresh(name: string): Promise<TopicRecord | null> {
    return (await this.load(name))?.record ?? null;
  }

  private async load(name: string): Promise<{ record: TopicRecord; revision: number } | null> {
    const entry = await this.env.kv.get(topicKey(name));
    if (!entry || entry.operation !== 'PUT') return null;
    const record = entry.json<TopicRecord>();
    this.cache.set(name, record);
    return { record, revision: entry.revision };
  }

  /** Creates the topic, or applies the given settings to the existing one (never its partition count). */
  ensure(name: string, requested: TopicConfig, full: Required<TopicConfig>): Promise<TopicRecord> {
    const inflight = this.creating.get(name);
    // One at a time per name; a later call then finds the topic (or tries again if that failed).
    if (inflight) return inflight.catch(() => undefined).then(() => this.ensure(name, requested, full));
    const run = this.ensureNow(name, requested, full).finally(() => this.creating.delete(name));
    this.creating.set(name, run);
    return run;
  }

  private async ensureNow(name: string, requested: TopicConfig, full: Required<TopicConfig>): Promise<TopicRecord> {
    const existing = await this.load(name);
    if (existing) return this.reconfigure(existing, requested);
    const made: string[] = [];
    try {
      await forEachLimit(full.partitions, 8, async (p) => {
        if (await this.putStream(name, p, full)) made.push(partitionStream(this.env.prefix, name, p));
      });
    } catch (err) {
      // Half a topic is no topic: remove the streams this call made (they reserve storage).
      await Promise.all(made.map((s) => this.env.jsm.streams.delete(s).catch(() => undefined)));
      throw err;
    }
    const record: TopicRecord = { name, ...full, createdAt: new Date().toISOString() };
    try {
      await this.env.kv.create(topicKey(name), JSON.stringify(record));
    } catch (err) {
      const winner = await this.load(name);
      if (!winner) throw err;
      if (winner.record.partitions !== full.partitions) {
        this.env.logger.warn({ topic: name, partitions: winner.record.partitions, requested: full.partitions }, 'topic was created concurrently with another partition count; keeping it');
      }
      return this.reconfigure(winner, requested);
    }
    this.cache.set(name, record);
    this.env.logger.info({ topic: name, partitions: full.partitions }, 'stream topic created');
    return record;
  }

  private async reconfigure(existing: { record: TopicRecord; revision: number }, requested: TopicConfig): Promise<TopicRecord> {
    const { record } = existing;
    if (requested.partitions !== undefined && requested.partitions !== record.partitions) {
      this.env.logger.warn({ topic: record.name, partitions: record.partitions, requested: requested.partitions }, 'partition count of an existing topic is fixed; keeping it');
    }
    const changed: Partial<Record<(typeof SETTINGS)[number], { from: number; to: number }>> = {};
    const next: TopicRecord = { ...record };
    for (const key of SETTINGS) {
      const to = requested[key];
      if (to !== undefined && to !== record[key]) {
        changed[key] = { from: record[key], to };
        next[key] = to;
      }
    }
    if (Object.keys(changed).length === 0) return record;
    next.updatedAt = new Date().toISOString();
    await forEachLimit(record.partitions, 8, (p) => this.putStream(record.name, p, next));
    await this.env.kv.update(topicKey(record.name), JSON.stringify(next), existing.revision);
    this.cache.set(record.name, next);
    this.env.logger.info({ topic: record.name, changed }, 'topic settings updated');
    return next;
  }

  /**
   * Creates the stream of a partition (true), or brings an existing one to the config's limits.
   * JetStream reserves each stream's max_bytes: when the server cannot, that is a config error.
   */
  private async putStream(topic: string, partition: number, config: Required<TopicConfig>): Promise<boolean> {
    const cfg = partitionStreamConfig(this.env, topic, partition, config);
    try {
      try {
        await this.env.jsm.streams.add(cfg);
        return true;
      } catch (err) {
        if (!/already in use/i.test(err instanceof Error ? err.message : '')) throw err;
        const { name, ...limits } = cfg;
        await this.env.jsm.streams.update(name, limits);
        return false;
      }
    } catch (err) {
      if ((err as { code?: unknown }).code === INSUFFICIENT_RESOURCES) {
        throw streamErrors.STRATA_ERR_STREAM_BAD_CONFIG(
          {
            option: 'retentionBytes',
            reason: `JetStream reserves retentionBytes (${config.retentionBytes}) for each of the ${config.partitions} partitions and has not that much storage left (max_file_store); lower retentionBytes`,
          },
          err,
        );
      }
      throw err;
    }
  }
}

/** Runs `fn(0..n-1)` with at most `limit` running at once. */
export async function forEachLimit(n: number, limit: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
}
