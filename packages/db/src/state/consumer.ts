/**
 * The state consumer: stream "telemetry" → devices, latest_values, rollups_1m, in coalesced
 * batches (DESIGN.md, "Operational store": nothing writes to the database per event).
 *
 * Loop: read up to `maxBatchEvents` records (waiting at most `maxWaitMs` for more) and hand them
 * to the applier (apply.ts, on the database thread in the platform), which coalesces them in
 * memory (coalesce.ts), creates the rollup partitions their days need (partitions.ts), then
 * writes everything and the partitions' next offsets in ONE transaction (write.ts). After the
 * database commit, the same offsets are committed to the stream's consumer group, best effort
 * (for stream retention and `lag()`). The next batch is read while one is being applied (at
 * most one in flight).
 *
 * Invariants
 * 1. `consumer_offsets` (consumer = group, topic, partition) is the truth: a batch's rows and its
 *    offsets commit together or not at all, so each record is applied exactly once.
 * 2. A partition is read from its stored offset: on start and whenever this member is assigned
 *    a partition, it seeks there (the stream's start offset when none is stored). The stream
 *    group's own committed offsets are never trusted for this.
 * 3. Per partition, records are taken in offset order, each once: a record below the partition's
 *    position is a redelivery and skipped; a jump above it means the stream's retention deleted
 *    records unread (logged; nothing can bring them back).
 * 4. Fencing: the offsets update is conditional on the stored value the batch follows. If
 *    another writer moved it, the transaction rolls back and the partition is re-read from the
 *    stored offset.
 * 5. A batch is written only once the one before it is committed, and the partitions change
 *    hands (sync with the group's assignment) only while no write is in flight. A batch that
 *    will not be written (the one before failed for good, an error, a lost partition) is
 *    dropped and its partitions re-read from their stored offsets: nothing read is ever skipped.
 *
 * Failures: a failed write retries the same batch (exponential backoff with jitter, 100 ms →
 * 30 s), warning once per outage; nothing is committed anywhere until it succeeds. Invalid
 * records are counted and skipped (at most one log line per batch). `stop()` gives the batch in
 * flight `stopTimeoutMs` to be written, then closes the stream consumer; what was not written is
 * read again on the next start.
 */
import { Sleeps, StrataError, silentLogger, type Logger } from '@strata/core';
import type { Consumer, Stream, TopicInfo } from '@strata/stream';
import { dbErrors } from '../errors.js';
import type { Db } from '../open.js';
import { localApplier, packRecords, type ApplyResult, type RawRecords, type StateApplier } from './apply.js';
import { firstKeptDay } from './partitions.js';
import { OffsetsMoved, readOffsets, type OffsetAdvance } from './write.js';

export const STATE_DEFAULTS = Object.freeze({
  topic: 'telemetry',
  group: 'state',
  maxBatchEvents: 200_000,
  maxWaitMs: 200,
  rollupRetentionDays: 30,
  retentionCheckMs: 3_600_000,
  retryMinMs: 100,
  retryMaxMs: 30_000,
  stopTimeoutMs: 5_000,
});

/** How soon a failed retention pass is tried again. */
const RETENTION_RETRY_MS = 60_000;
/** How often `stats().lagEvents` is refreshed at most (when nobody waits in `caughtUp`). */
const LAG_REFRESH_MS = 1_000;
/** An outage this long is logged again, as an error: an operator should look. */
const OUTAGE_ERROR_MS = 5 * 60_000;

export interface StateConsumerOptions {
  db: Db;
  stream: Stream;
  /** Topic of TelemetryEvent JSON values. Default `telemetry`. */
  topic?: string;
  /** Consumer group on the stream, and `consumer_offsets.consumer`. Default `state`. */
  group?: string;
  /** Most records per batch (one transaction). Default 200 000. */
  maxBatchEvents?: number;
  /** Longest a batch waits for more records once it has some (and a read waits when there are none). Default 200 ms. */
  maxWaitMs?: number;
  /** Whole UTC days of rollups kept besides the current one. Default 30. */
  rollupRetentionDays?: number;
  /** Period of the rollup retention pass (also run at start). Default 1 h. */
  retentionCheckMs?: number;
  /** Backoff between retries of a failed write: doubles from `minMs` to `maxMs`, with jitter. Default 100 ms → 30 s. */
  retry?: { minMs?: number; maxMs?: number };
  /** How long `stop()` waits for the batch in flight. Default 5 s. */
  stopTimeoutMs?: number;
  logger?: Logger;
  /**
   * Where batches are decoded, coalesced and written. Default: on this thread, with `db`. The
   * platform passes the database thread's (`openDatabaseThread`), which keeps that work off the
   * thread serving ingest.
   */
  applier?: StateApplier;
  /** Clock for retention (Unix ms). Default `Date.now`. */
  now?: () => number;
}

export interface StateStats {
  /** Batches committed to the database. */
  batches: number;
  /** Valid events applied. */
  events: number;
  /** Records skipped because they are not TelemetryEvent JSON. */
  invalid: number;
  /** Events applied without a rollup: their day is past the rollup retention. */
  tooOld: number;
  /** The last failure (write, offsets read, retention), cleared when the database answers again. */
  lastError?: string;
  /** True while a failed write is being retried. */
  retrying: boolean;
  /** Records in this member's partitions not yet applied (refreshed about once a second). */
  lagEvents?: number;
}

export interface StateConsumer {
  stats(): StateStats;
  /**
   * Resolves once every partition's stored offset has reached the stream's end offset as of
   * this call (everything appended before it is in the database). Rejects with
   * STRATA_ERR_DB_STATE_STOPPED if the consumer stops first.
   */
  caughtUp(): Promise<void>;
  /** Finishes the batch in flight if the database answers (bounded), then closes the stream consumer. Never rejects. */
  stop(): Promise<void>;
}

interface PartitionState {
  partition: number;
  /** The stored offset (undefined: none stored yet): what the next batch's fence checks. */
  stored: number | undefined;
  /** Next offset to take from the stream; above `stored` while a batch is being written. */
  next: number;
}

interface Batch {
  records: RawRecords;
  firstRollupDay: number;
  /** Per partition, the next offset to read once the batch is written. */
  ends: Map<number, number>;
}

interface Waiter {
  targets: Map<number, number>;
  resolve(): void;
  reject(err: Error): void;
}

function positiveInt(option: string, value: number | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) {
    throw dbErrors.STRATA_ERR_DB_BAD_OPTION({ component: 'state', option, reason: `must be an integer >= ${min}, got ${String(value)}` });
  }
  return value;
}

const errorFields = (err: unknown): Record<string, unknown> => (err instanceof StrataError ? { err, code: err.code } : { err });
const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

class StateConsumerImpl implements StateConsumer {
  private readonly db: Db;
  private readonly stream: Stream;
  private readonly topic: string;
  private readonly group: string;
  private readonly maxBatchEvents: number;
  private readonly maxWaitMs: number;
  private readonly retentionDays: number;
  private readonly retentionCheckMs: number;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private readonly stopTimeoutMs: number;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly applier: StateApplier;

  private consumer!: Consumer;
  private readonly parts = new Map<number, PartitionState>();
  private readonly counters = { batches: 0, events: 0, invalid: 0, tooOld: 0 };
  private lastError: string | undefined;
  private outage: { since: number; attempts: number; escalated: boolean } | undefined;
  private lagEvents: number | undefined;
  private lagAt = -Infinity;
  private nextRetentionAt = 0;
  private readonly waiters = new Set<Waiter>();
  private readonly sleeps = new Sleeps();
  private stopping = false;
  /** Set when stop() gave up waiting: the loop drops what it holds. */
  private abandoned = false;
  private stopDeadline = Infinity;
  private loopDone: Promise<void> = Promise.resolve();
  private stopPromise: Promise<void> | undefined;

  constructor(opts: StateConsumerOptions) {
    this.db = opts.db;
    this.stream = opts.stream;
    this.topic = opts.topic ?? STATE_DEFAULTS.topic;
    this.group = opts.group ?? STATE_DEFAULTS.group;
    this.maxBatchEvents = positiveInt('maxBatchEvents', opts.maxBatchEvents, STATE_DEFAULTS.maxBatchEvents);
    this.maxWaitMs = positiveInt('maxWaitMs', opts.maxWaitMs, STATE_DEFAULTS.maxWaitMs, 0);
    this.retentionDays = positiveInt('rollupRetentionDays', opts.rollupRetentionDays, STATE_DEFAULTS.rollupRetentionDays);
    this.retentionCheckMs = positiveInt('retentionCheckMs', opts.retentionCheckMs, STATE_DEFAULTS.retentionCheckMs);
    this.retryMinMs = positiveInt('retry.minMs', opts.retry?.minMs, STATE_DEFAULTS.retryMinMs);
    this.retryMaxMs = positiveInt('retry.maxMs', opts.retry?.maxMs, Math.max(STATE_DEFAULTS.retryMaxMs, this.retryMinMs), this.retryMinMs);
    this.stopTimeoutMs = positiveInt('stopTimeoutMs', opts.stopTimeoutMs, STATE_DEFAULTS.stopTimeoutMs, 0);
    this.logger = opts.logger ?? silentLogger;
    this.now = opts.now ?? Date.now;
    this.applier = opts.applier ?? localApplier(this.db.kysely);
  }

  async start(): Promise<void> {
    this.consumer = await this.stream.consumer({ topic: this.topic, group: this.group });
    try {
      await this.syncAssignment();
      this.succeeded();
    } catch (err) {
      this.failed(err, 'state consumer could not read its stored offsets; retrying in the background');
    }
    this.logger.info({ topic: this.topic, group: this.group, partitions: [...this.parts.keys()] }, 'state consumer started');
    this.loopDone = this.loop();
  }

  stats(): StateStats {
    return {
      ...this.counters,
      ...(this.lastError !== undefined && { lastError: this.lastError }),
      retrying: this.outage !== undefined,
      ...(this.lagEvents !== undefined && { lagEvents: this.lagEvents }),
    };
  }

  async caughtUp(): Promise<void> {
    if (this.stopping) throw dbErrors.STRATA_ERR_DB_STATE_STOPPED({ topic: this.topic });
    const info = await this.stream.describe(this.topic);
    const targets = new Map(info.partitions.map((p) => [p.partition, p.endOffset]));
    return new Promise<void>((resolve, reject) => {
      if (this.stopping) {
        reject(dbErrors.STRATA_ERR_DB_STATE_STOPPED({ topic: this.topic }));
        return;
      }
      this.waiters.add({ targets, resolve, reject });
      this.lagAt = -Infinity; // check at the next turn of the loop
    });
  }

  stop(): Promise<void> {
    this.stopPromise ??= this.shutdown();
    return this.stopPromise;
  }

  private async shutdown(): Promise<void> {
    this.stopping = true;
    this.stopDeadline = Date.now() + this.stopTimeoutMs;
    this.sleeps.wakeAll();
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      this.loopDone.then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), this.stopTimeoutMs + 100))),
    ]);
    clearTimeout(timer);
    if (!finished) {
      this.abandoned = true;
      this.sleeps.wakeAll();
      this.logger.warn({ topic: this.topic, timeoutMs: this.stopTimeoutMs }, 'state consumer stopped with a batch not written; it is read again on the next start');
    }
    await this.consumer.close().catch((err: unknown) => this.logger.debug(errorFields(err), 'stream consumer close failed'));
    for (const w of this.waiters) w.reject(dbErrors.STRATA_ERR_DB_STATE_STOPPED({ topic: this.topic }));
    this.waiters.clear();
    this.logger.info({ topic: this.topic, group: this.group, ...this.counters }, 'state consumer stopped');
  }

  // --- the loop -------------------------------------------------------------------------------

  /**
   * One batch is written while the next is read and coalesced (the database and this process
   * work at the same time). A batch is written only after the one before it is committed, so
   * its fence is the offsets that commit stored; if that write failed for good (fenced out, or
   * abandoned by stop), the batch read meanwhile is dropped and its partitions re-read.
   */
  private async loop(): Promise<void> {
    let inflight: Promise<boolean> | undefined;
    for (let attempt = 0; !this.stopping; ) {
      let batch: Batch | undefined;
      try {
        batch = await this.readBatch();
        const previousCommitted = inflight ? await inflight : true;
        inflight = undefined;
        if (batch && !previousCommitted) {
          this.forgetPartitions(batch);
          batch = undefined;
        }
        // Only here, with no write in flight, do the partitions change hands.
        await this.syncAssignment();
        await this.retentionIfDue();
        if (batch) inflight = this.writeWithRetry(batch).catch(() => false);
        batch = undefined;
        await this.refreshProgress();
        attempt = 0;
      } catch (err) {
        // A batch read but not handed to a write must be read again, not skipped.
        if (batch) this.forgetPartitions(batch);
        if (this.stopping) break;
        this.failed(err, 'state consumer failed; retrying');
        await this.sleep(this.backoff(++attempt));
      }
    }
    await inflight;
  }

  /** Reads up to maxBatchEvents records, for at most maxWaitMs; undefined when nothing is new. */
  private async readBatch(): Promise<Batch | undefined> {
    const firstRollupDay = firstKeptDay(this.now(), this.retentionDays);
    const picked: { partition: number; offset: number; value: Uint8Array }[] = [];
    const ends = new Map<number, number>();
    const gaps: { partition: number; from: number; to: number }[] = [];
    const deadline = Date.now() + this.maxWaitMs;
    let taken = 0;
    try {
      while (taken < this.maxBatchEvents && !this.stopping) {
        const records = await this.consumer.read({ maxRecords: this.maxBatchEvents - taken, maxWaitMs: Math.max(0, deadline - Date.now()) });
        if (records.length === 0) break;
        taken += records.length;
        for (const record of records) {
          const part = this.parts.get(record.partition);
          // A partition assigned after the last sync: the next sync seeks it to its stored offset.
          if (!part || record.offset < part.next) continue;
          if (record.offset > part.next) gaps.push({ partition: part.partition, from: part.next, to: record.offset - 1 });
          part.next = record.offset + 1;
          ends.set(part.partition, part.next);
          picked.push(record);
        }
      }
    } catch (err) {
      for (const p of ends.keys()) this.parts.delete(p); // what was taken is read again
      throw err;
    }
    if (gaps.length > 0) {
      this.logger.error({ topic: this.topic, gaps: gaps.slice(0, 10), count: gaps.length }, 'records expired from the stream before the state consumer applied them; they are lost');
    }
    return ends.size > 0 ? { records: packRecords(picked), firstRollupDay, ends } : undefined;
  }

  /**
   * Writes a batch, retrying the same batch until it is written (true), fenced out or given up by
   * stop (false). The fence is each partition's stored offset now, which the batch's first
   * record follows: the batch before it is committed.
   */
  private async writeWithRetry(batch: Batch): Promise<boolean> {
    const advances: OffsetAdvance[] = [];
    for (const [partition, to] of batch.ends) {
      const part = this.parts.get(partition);
      if (!part) {
        // Reassigned since it was read: the next sync re-reads it (and the rest) from the stored offsets.
        this.forgetPartitions(batch);
        return false;
      }
      advances.push({ partition, from: part.stored, to });
    }
    let result: ApplyResult;
    for (let attempt = 1; ; attempt++) {
      if (this.abandoned) return false;
      try {
        result = await this.applier.apply({ consumer: this.group, topic: this.topic, advances, firstRollupDay: batch.firstRollupDay, records: batch.records });
        break;
      } catch (err) {
        if (err instanceof OffsetsMoved) {
          this.forgetPartitions(batch);
          this.logger.info({ topic: this.topic, partitions: err.partitions }, 'another writer moved the stored offsets; batch dropped, re-reading from the stored offsets');
          return false;
        }
        this.failed(err, 'state consumer could not write a batch; retrying the same batch until the database answers');
        if (this.stopping && Date.now() >= this.stopDeadline) return false;
        const delay = this.backoff(attempt);
        await this.sleep(this.stopping ? Math.min(delay, Math.max(0, this.stopDeadline - Date.now())) : delay);
      }
    }
    this.succeeded();
    // The stream learns first, so whoever sees the batch as applied (caughtUp) also sees its space freed.
    try {
      await this.consumer.commit(advances.map((a) => ({ partition: a.partition, offset: a.to })));
    } catch (err) {
      this.logger.debug({ ...errorFields(err) }, 'stream commit failed (the database holds the offsets)');
    }
    for (const a of advances) {
      const part = this.parts.get(a.partition);
      if (part) part.stored = a.to;
    }
    this.counters.batches++;
    this.counters.events += result.events;
    this.counters.tooOld += result.tooOld;
    this.counters.invalid += result.invalid.length;
    if (result.invalid.length > 0) {
      const first = result.invalid[0]!;
      this.logger.warn({ topic: this.topic, count: result.invalid.length, partition: first.partition, offset: first.offset, reason: first.reason }, 'skipped records that are not telemetry events');
    }
    this.logger.debug({ events: result.events, ...result.rows }, 'state batch written');
    return true;
  }

  /** Drops a batch that will not be written: its partitions are forgotten, so the next sync re-reads them from the stored offsets. */
  private forgetPartitions(batch: Batch): void {
    for (const p of batch.ends.keys()) this.parts.delete(p);
  }

  // --- partitions ----------------------------------------------------------------------------

  /** Forgets partitions this member lost; seeks the ones it gained to their stored offsets. */
  private async syncAssignment(): Promise<void> {
    const assigned = this.consumer.assignment();
    const owned = new Set(assigned);
    for (const p of this.parts.keys()) if (!owned.has(p)) this.parts.delete(p);
    const missing = assigned.filter((p) => !this.parts.has(p));
    if (missing.length === 0) return;
    const stored = await readOffsets(this.db.kysely, this.group, this.topic, missing);
    const info = await this.stream.describe(this.topic);
    const acquired: Record<number, number> = {};
    for (const p of missing) {
      if (!this.consumer.assignment().includes(p)) continue;
      const start = info.partitions.find((x) => x.partition === p)?.startOffset ?? 0;
      const offset = stored.get(p);
      if (offset !== undefined && offset < start) {
        this.logger.error({ topic: this.topic, partition: p, stored: offset, start, lost: start - offset }, 'records expired from the stream before the state consumer applied them; they are lost');
      }
      const next = Math.max(offset ?? start, start);
      this.parts.set(p, { partition: p, stored: offset, next });
      this.consumer.seek({ partition: p, offset: next });
      acquired[p] = next;
    }
    this.logger.info({ topic: this.topic, offsets: acquired }, 'state consumer reading partitions from their stored offsets');
  }

  // --- retention ------------------------------------------------------------------------------

  private async retentionIfDue(): Promise<void> {
    const now = this.now();
    if (now < this.nextRetentionAt) return;
    try {
      const dropped = await this.applier.dropRollupsBefore(firstKeptDay(now, this.retentionDays));
      this.nextRetentionAt = now + this.retentionCheckMs;
      this.succeeded();
      if (dropped.length > 0) this.logger.info({ dropped, retentionDays: this.retentionDays }, 'dropped rollup partitions past retention');
    } catch (err) {
      this.nextRetentionAt = now + Math.min(this.retentionCheckMs, RETENTION_RETRY_MS);
      this.failed(err, 'rollup retention pass failed; retrying later');
    }
  }

  // --- progress -------------------------------------------------------------------------------

  /** Refreshes the lag and settles `caughtUp` waiters (at once when some wait, else about once a second). */
  private async refreshProgress(): Promise<void> {
    const now = Date.now();
    if (this.waiters.size === 0 && now - this.lagAt < LAG_REFRESH_MS) return;
    this.lagAt = now;
    let info: TopicInfo;
    try {
      info = await this.stream.describe(this.topic);
    } catch (err) {
      this.logger.debug(errorFields(err), 'stream describe failed');
      return;
    }
    const starts = new Map(info.partitions.map((p) => [p.partition, p.startOffset]));
    let lag = 0;
    for (const p of info.partitions) {
      const part = this.parts.get(p.partition);
      if (part) lag += Math.max(0, p.endOffset - Math.max(part.stored ?? p.startOffset, p.startOffset));
    }
    this.lagEvents = lag;
    if (this.waiters.size === 0) return;
    // Partitions owned by other members: their stored offsets are in the database.
    const others = [...starts.keys()].filter((p) => !this.parts.has(p));
    let storedElsewhere = new Map<number, number>();
    if (others.length > 0) {
      try {
        storedElsewhere = await readOffsets(this.db.kysely, this.group, this.topic, others);
      } catch {
        return;
      }
    }
    for (const w of [...this.waiters]) {
      let done = true;
      for (const [p, end] of w.targets) {
        const stored = this.parts.has(p) ? this.parts.get(p)!.stored : storedElsewhere.get(p);
        if (Math.max(stored ?? 0, starts.get(p) ?? 0) < end) {
          done = false;
          break;
        }
      }
      if (done) {
        this.waiters.delete(w);
        w.resolve();
      }
    }
  }

  // --- failures -------------------------------------------------------------------------------

  private failed(err: unknown, message: string): void {
    this.lastError = messageOf(err);
    const now = Date.now();
    if (!this.outage) {
      this.outage = { since: now, attempts: 1, escalated: false };
      this.logger.warn({ ...errorFields(err), topic: this.topic }, message);
      return;
    }
    this.outage.attempts++;
    if (!this.outage.escalated && now - this.outage.since >= OUTAGE_ERROR_MS) {
      this.outage.escalated = true;
      this.logger.error({ ...errorFields(err), topic: this.topic, failingForMs: now - this.outage.since }, 'state consumer still cannot write to the database; telemetry is not reaching it');
    } else {
      this.logger.debug({ ...errorFields(err), attempt: this.outage.attempts }, message);
    }
  }

  private succeeded(): void {
    if (!this.outage) return;
    this.logger.info({ topic: this.topic, attempts: this.outage.attempts, downMs: Date.now() - this.outage.since }, 'state consumer resumed: the database answers again');
    this.outage = undefined;
    this.lastError = undefined;
  }

  /** Exponential backoff with jitter: a random delay in [d/2, d], d doubling from retryMinMs to retryMaxMs. */
  private backoff(attempt: number): number {
    const d = Math.min(this.retryMaxMs, this.retryMinMs * 2 ** Math.min(attempt - 1, 30));
    return Math.round(d / 2 + (Math.random() * d) / 2);
  }

  private sleep(ms: number): Promise<void> {
    return this.abandoned ? Promise.resolve() : this.sleeps.sleep(ms);
  }
}

/** Starts the state consumer (see the header comment for its guarantees). */
export async function startStateConsumer(opts: StateConsumerOptions): Promise<StateConsumer> {
  const consumer = new StateConsumerImpl(opts);
  await consumer.start();
  return consumer;
}
