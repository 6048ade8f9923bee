/**
 * Delivery: stream → raw zone (the Firehose part of DESIGN.md). A consumer group on one topic
 * buffers records per partition and writes them as gzip NDJSON objects, one per UTC event-time
 * hour, under `raw/<topic>/year=YYYY/month=MM/day=DD/hour=HH/<topic>-<p>-<first>-<last>.ndjson.gz`;
 * values that are not JSON objects go to the same layout under `errors/<topic>/` as
 * `{"offset","partition","reason","raw"}` lines. A partition is flushed when its buffer reaches
 * `flushBytes`, when its oldest record has waited `flushIntervalMs`, on `flush()` and on `stop()`.
 *
 * Vocabulary. A *unit* is one flush of one partition: the offsets [first..last], contiguous,
 * first = the committed offset. Its objects are a pure function of those records (layout.ts):
 * same records ⇒ same keys and same bytes. Its *plan* is the state object
 * `_state/delivery/<group>/<topic>-<p>.json` = {partition, first, last}.
 *
 * Invariants
 * 1. Per partition, a unit goes through: plan durable → every object durable → commit last+1.
 *    Nothing is committed before all of the unit's objects are durable (at least once).
 * 2. Once a unit is frozen its range never changes: a failed write is retried with the same
 *    records (same names, same bytes), with backoff, keeping later records buffered behind it.
 *    Units of one partition are written strictly one after another, so a plan is only ever
 *    replaced after the previous unit was committed.
 * 3. Hence, for each partition, either committed > plan.last (the plan is done) or
 *    committed = plan.first and the unit may be partly written.
 * 4. Records are taken in offset order with no gaps; the position `next` of each partition is
 *    this module's, not the consumer's: records below it are skipped, a gap above it is filled
 *    with `stream.read` (so a consumer redelivering or skipping cannot duplicate or lose).
 *
 * Recovery (on start, and whenever this member is assigned a partition)
 * - Read the plan and the group's committed offset c (the partition's start offset if none).
 * - If a plan exists and plan.first ≤ c ≤ plan.last, re-read exactly [plan.first..plan.last]
 *   (= [c..plan.last] by invariant 3) with `stream.read`, write it as that same unit (same
 *   names, same bytes: the objects a crash may have left are overwritten, not added to),
 *   commit plan.last+1, and continue from there. Exactly once in the raw zone.
 * - If c > plan.last, nothing is pending. If c < plan.first the group's offsets were moved
 *   back on purpose (a replay): the plan is stale and ignored.
 *
 * Several members (fencing)
 * - A member that lost a partition without knowing it yet (a rebalance, a pause longer than the
 *   group's lease) may still be writing. The plan is the fence: it is written compare-and-set
 *   (`putIf`) over the version this member last read or wrote, so plans form one chain per
 *   partition, each starting where the previous ended (or earlier on purpose, for a replay).
 *   A member whose plan write is refused lost the partition: it drops its buffer and writes
 *   nothing more; if the stream still assigns it the partition, it recovers it afresh.
 * - Objects are written only for a plan of the chain: the member's own (after its putIf) or the
 *   one it read at recovery. Two members writing for the same plan write the same names and
 *   bytes, so a stale member finishing late overwrites objects with themselves: nothing is
 *   doubled. Its commit is then refused by the stream (dropped, see writeUnit).
 *
 * Limits: a corrupt plan stops the partition (STRATA_ERR_LAKE_STATE_CORRUPT, logged as error):
 * an operator must look at it. Deleting a plan by hand breaks the chain (and on Ceph RGW 16 an
 * If-Match put recreates a missing object): stop delivery first.
 */
import type { Consumer, Stream, StreamRecord } from '@strata/stream';
import type { ObjectStore } from '@strata/storage';
import { storageErrors, validateKey } from '@strata/storage';
import { Sleeps, StrataError } from '@strata/core';
import { lakeErrors } from '../errors.js';
import { silentLogger, type Logger } from '@strata/core';
import { objectKey, stateKey, UnitLines, type EncodedObject } from './layout.js';
import { encodePlan, parsePlan } from './plan.js';
import type { Delivery, DeliveryOptions, DeliveryStats, FlushReport, FlushUnitReport } from './types.js';

export const DELIVERY_DEFAULTS = Object.freeze({
  group: 'delivery',
  flushBytes: 5 * 1024 * 1024,
  flushIntervalMs: 300_000,
  gzipLevel: 1,
  pollMs: 250,
  retryMinMs: 200,
  retryMaxMs: 5_000,
});

/** Attempts `stop()` gives the final flush before leaving the rest for the next start. */
const STOP_ATTEMPTS = 3;
const READ_BATCH = 1000;

interface Unit {
  partition: number;
  first: number;
  last: number;
  objects: EncodedObject[];
  planWritten: boolean;
  recovered: boolean;
}

interface PartitionState {
  partition: number;
  /** Next offset to take: everything below is buffered, being written, or committed. */
  next: number;
  buffer: UnitLines;
  /** `now()` when the oldest buffered record was taken. */
  oldestAt: number | undefined;
  /** The frozen unit being written, retried until committed. */
  pending: Unit | undefined;
  /** Version of the plan object as this member last read or wrote it (null: none): the fence. */
  planVersion: string | null;
}

class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

function emptyReport(): FlushReport {
  return { units: [], objects: 0, records: 0, errorRecords: 0, bytesIn: 0, bytesOut: 0 };
}

function positiveInt(option: string, value: number | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) {
    throw lakeErrors.STRATA_ERR_LAKE_BAD_OPTION({ option, reason: `must be an integer >= ${min}, got ${String(value)}` });
  }
  return value;
}

/** Log fields for an error: pino serialises `err` (message, stack, cause); `code` for catalogue errors. */
const errorFields = (err: unknown): Record<string, unknown> => (err instanceof StrataError ? { err, code: err.code } : { err });

class DeliveryImpl implements Delivery {
  private readonly stream: Stream;
  private readonly store: ObjectStore;
  private readonly topic: string;
  private readonly group: string;
  private readonly flushBytes: number;
  private readonly flushIntervalMs: number;
  private readonly gzipLevel: number;
  private readonly pollMs: number;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private readonly logger: Logger;
  private readonly now: () => number;

  private consumer!: Consumer;
  private readonly parts = new Map<number, PartitionState>();
  private readonly lock = new Mutex();
  private readonly sleeps = new Sleeps();
  private stopping = false;
  private loopDone: Promise<void> = Promise.resolve();
  private stopPromise: Promise<void> | undefined;
  private readonly counters = { flushes: 0, objects: 0, records: 0, bytesIn: 0, bytesOut: 0, errorRecords: 0, retries: 0 };
  private lastFlushAt: number | null = null;
  /** The report of the flush()/stop() running now: every unit written meanwhile goes into it. */
  private activeReport: FlushReport | undefined;

  constructor(opts: DeliveryOptions) {
    this.stream = opts.stream;
    this.store = opts.store;
    this.topic = opts.topic;
    this.group = opts.group ?? DELIVERY_DEFAULTS.group;
    this.flushBytes = positiveInt('flushBytes', opts.flushBytes, DELIVERY_DEFAULTS.flushBytes);
    this.flushIntervalMs = positiveInt('flushIntervalMs', opts.flushIntervalMs, DELIVERY_DEFAULTS.flushIntervalMs);
    this.gzipLevel = positiveInt('gzipLevel', opts.gzipLevel, DELIVERY_DEFAULTS.gzipLevel, 0);
    if (this.gzipLevel > 9) throw lakeErrors.STRATA_ERR_LAKE_BAD_OPTION({ option: 'gzipLevel', reason: 'must be 0 to 9' });
    this.pollMs = positiveInt('pollMs', opts.pollMs, DELIVERY_DEFAULTS.pollMs);
    this.retryMinMs = positiveInt('retry.minMs', opts.retry?.minMs, DELIVERY_DEFAULTS.retryMinMs);
    this.retryMaxMs = positiveInt('retry.maxMs', opts.retry?.maxMs, Math.max(DELIVERY_DEFAULTS.retryMaxMs, this.retryMinMs), this.retryMinMs);
    this.logger = opts.logger ?? silentLogger;
    this.now = opts.now ?? Date.now;
    if (this.group.includes('/')) throw lakeErrors.STRATA_ERR_LAKE_BAD_OPTION({ option: 'group', reason: 'must not contain "/"' });
    for (const [option, key] of [
      ['topic', objectKey('raw', this.topic, 'year=2000/month=01/day=01/hour=00', 0, 0, 0)],
      ['group', stateKey(this.group, this.topic, 0)],
    ] as const) {
      try {
        validateKey(key);
      } catch (err) {
        throw lakeErrors.STRATA_ERR_LAKE_BAD_OPTION({ option, reason: `makes an invalid object key (${(err as Error).message})` }, err);
      }
    }
  }

  /** Joins the group and recovers assigned partitions once; the loop retries what failed. */
  async start(): Promise<void> {
    this.consumer = await this.stream.consumer({ topic: this.topic, group: this.group });
    try {
      await this.lock.run(() => this.syncAssignment());
    } catch (err) {
      if (lakeErrors.STRATA_ERR_LAKE_STATE_CORRUPT.is(err)) {
        await this.consumer.close();
        throw err;
      }
      this.logger.warn(errorFields(err), 'delivery recovery failed; retrying in the background');
    }
    this.logger.info({ topic: this.topic, group: this.group, partitions: [...this.parts.keys()] }, 'delivery started');
    this.loopDone = this.loop();
  }

  stats(): DeliveryStats {
    let bufferedRecords = 0;
    let bufferedBytes = 0;
    for (const part of this.parts.values()) {
      bufferedRecords += part.buffer.records;
      bufferedBytes += part.buffer.bytes;
      if (part.pending) {
        for (const o of part.pending.objects) {
          bufferedRecords += o.records;
          bufferedBytes += o.bytesIn;
        }
      }
    }
    return { ...this.counters, lastFlushAt: this.lastFlushAt, bufferedRecords, bufferedBytes };
  }

  async flush(): Promise<FlushReport> {
    const report = emptyReport();
    for (let attempt = 1; ; attempt++) {
      if (this.stopping) throw lakeErrors.STRATA_ERR_LAKE_DELIVERY_STOPPED({ topic: this.topic, group: this.group });
      try {
        await this.lock.run(() => this.flushEverything(report));
        return report;
      } catch (err) {
        if (this.stopping) throw lakeErrors.STRATA_ERR_LAKE_DELIVERY_STOPPED({ topic: this.topic, group: this.group }, err);
        await this.afterFailure(err, attempt);
      }
    }
  }

  stop(): Promise<void> {
    this.stopPromise ??= this.shutdown();
    return this.stopPromise;
  }

  private async shutdown(): Promise<void> {
    this.stopping = true;
    this.sleeps.wakeAll();
    // The loop takes nothing more once `stopping` is set; the final flush need not wait for its
    // read in flight, which returns when the consumer closes.
    let failure: unknown;
    for (let attempt = 1; attempt <= STOP_ATTEMPTS; attempt++) {
      try {
        await this.lock.run(() => this.flushEverything(emptyReport()));
        failure = undefined;
        break;
      } catch (err) {
        failure = err;
        this.counters.retries++;
        if (attempt < STOP_ATTEMPTS) await new Promise((r) => setTimeout(r, this.backoff(attempt)));
      }
    }
    if (failure !== undefined) {
      this.logger.warn(
        { ...errorFields(failure), undelivered: this.stats().bufferedRecords },
        'delivery stopped with records not written; they stay uncommitted and are delivered on the next start',
      );
    }
    await this.consumer.close();
    await this.loopDone;
    this.logger.info({ topic: this.topic, group: this.group, ...this.counters }, 'delivery stopped');
  }

  // --- the loop -------------------------------------------------------------------------------

  private async loop(): Promise<void> {
    for (let failures = 0; !this.stopping; ) {
      try {
        await this.lock.run(async () => {
          if (this.stopping) return;
          await this.syncAssignment();
          await this.flushDue();
        });
        if (this.stopping) break;
        const records = await this.consumer.read({ maxRecords: READ_BATCH, maxWaitMs: this.waitMs() });
        if (records.length > 0) {
          await this.lock.run(async () => {
            if (!this.stopping) await this.takeAll(records); // else the final flush re-reads them
          });
        }
        failures = 0;
      } catch (err) {
        failures++;
        if (this.stopping) break;
        await this.afterFailure(err, failures);
      }
    }
  }

  /** Logs a failure, rewinds the consumer to what is really taken, and sleeps the backoff. */
  private async afterFailure(err: unknown, attempt: number): Promise<void> {
    this.counters.retries++;
    const delayMs = this.backoff(attempt);
    const fields = { ...errorFields(err), attempt, delayMs, topic: this.topic };
    if (lakeErrors.STRATA_ERR_LAKE_STATE_CORRUPT.is(err)) this.logger.error(fields, 'delivery blocked by a corrupt state object; an operator must act');
    else this.logger.warn(fields, 'delivery failed; retrying');
    for (const part of this.parts.values()) this.seek(part);
    await this.sleep(delayMs);
  }

  private backoff(attempt: number): number {
    return Math.min(this.retryMaxMs, this.retryMinMs * 2 ** Math.min(attempt - 1, 30));
  }

  private sleep(ms: number): Promise<void> {
    return this.stopping ? Promise.resolve() : this.sleeps.sleep(ms);
  }

  /** How long the next read may wait: until the earliest time-based flush is due, at most pollMs. */
  private waitMs(): number {
    let wait = this.pollMs;
    const now = this.now();
    for (const part of this.parts.values()) {
      if (part.oldestAt !== undefined) wait = Math.min(wait, Math.max(0, part.oldestAt + this.flushIntervalMs - now));
    }
    return wait;
  }

  private seek(part: PartitionState): void {
    try {
      this.consumer.seek({ partition: part.partition, offset: part.next });
    } catch (err) {
      this.logger.debug({ ...errorFields(err), partition: part.partition }, 'consumer seek failed');
    }
  }

  // --- partitions ----------------------------------------------------------------------------

  /** Drops partitions this member lost and recovers the ones it gained. */
  private async syncAssignment(): Promise<void> {
    const assigned = new Set(this.consumer.assignment());
    for (const [p, part] of this.parts) {
      if (assigned.has(p)) continue;
      this.parts.delete(p);
      this.logger.info(
        { partition: p, dropped: part.buffer.records + (part.pending ? part.pending.last - part.pending.first + 1 : 0) },
        'partition reassigned; its new owner delivers what was not committed',
      );
    }
    for (const p of [...assigned].sort((a, b) => a - b)) if (!this.parts.has(p)) await this.acquire(p);
  }

  /** Registers partition `p` at its committed offset, first redoing a plan a crash left pending. */
  private async acquire(p: number): Promise<PartitionState> {
    const key = stateKey(this.group, this.topic, p);
    const [committed, start, stored] = await Promise.all([this.committedOffset(p), this.startOffset(p), this.store.getVersioned(key)]);
    const from = committed === undefined ? start : Math.max(committed, start);
    const part: PartitionState = { partition: p, next: from, buffer: new UnitLines(), oldestAt: undefined, pending: undefined, planVersion: stored?.version ?? null };
    const plan = stored === undefined ? undefined : parsePlan(key, stored.body, p);
    if (plan && from >= plan.first && from <= plan.last) {
      const records = await this.readRange(p, plan.first, plan.last);
      const lines = new UnitLines();
      for (const r of records) lines.add(r);
      if (records.length !== plan.last - plan.first + 1) {
        this.logger.error(
          { partition: p, first: plan.first, last: plan.last, found: records.length },
          'records of a pending flush expired from the stream before recovery; they are lost',
        );
      }
      part.pending = {
        partition: p,
        first: plan.first,
        last: plan.last,
        objects: await lines.encode(this.topic, p, this.gzipLevel),
        planWritten: true,
        recovered: true,
      };
      part.next = plan.last + 1;
      this.logger.info({ partition: p, first: plan.first, last: plan.last, committed: committed ?? null }, 'redoing a flush left pending by a crash');
    } else if (plan && from < plan.first) {
      this.logger.warn({ partition: p, committed: from, planFirst: plan.first }, 'group offsets moved back before the last plan; replaying without it');
    }
    this.parts.set(p, part);
    this.seek(part);
    if (part.pending) await this.flushPartition(part);
    return part;
  }

  private async committedOffset(p: number): Promise<number | undefined> {
    const lags = await this.stream.lag(this.topic);
    return lags.find((g) => g.group === this.group)?.partitions.find((x) => x.partition === p)?.committed;
  }

  private async startOffset(p: number): Promise<number> {
    const info = await this.stream.describe(this.topic);
    return info.partitions.find((x) => x.partition === p)?.startOffset ?? 0;
  }

  /** Records of [first..last] still in the stream, in order. */
  private async readRange(p: number, first: number, last: number): Promise<StreamRecord[]> {
    const out: StreamRecord[] = [];
    for (let offset = first; offset <= last; ) {
      const batch = await this.stream.read(this.topic, p, offset, { maxRecords: Math.min(READ_BATCH, last - offset + 1) });
      const inRange = batch.filter((r) => r.offset >= offset && r.offset <= last);
      if (inRange.length === 0) break;
      out.push(...inRange);
      offset = inRange[inRange.length - 1]!.offset + 1;
    }
    return out;
  }

  // --- taking records ------------------------------------------------------------------------

  private async takeAll(records: StreamRecord[]): Promise<void> {
    for (const record of records) {
      const part = this.parts.get(record.partition) ?? (await this.acquire(record.partition));
      const wait = this.take(part, record);
      if (wait) await wait;
    }
  }

  /**
   * Buffers `record` if it is the partition's next one, first filling a gap before it from the
   * stream. Returns a promise only when there is something to wait for (a gap, a due flush): this
   * runs per record, and a promise per record was a large part of delivery's cost.
   */
  private take(part: PartitionState, record: StreamRecord): Promise<void> | undefined {
    if (record.offset < part.next) return undefined; // already taken
    if (record.offset === part.next) return this.push(part, record) ? this.flushPartition(part) : undefined;
    return this.takeAfterGap(part, record);
  }

  private async takeAfterGap(part: PartitionState, record: StreamRecord): Promise<void> {
    for (const missed of await this.readRange(part.partition, part.next, record.offset - 1)) {
      this.skipLost(part, missed.offset);
      if (this.push(part, missed)) await this.flushPartition(part);
    }
    this.skipLost(part, record.offset);
    if (this.push(part, record)) await this.flushPartition(part);
  }

  /** Moves `next` up to `offset` when the records between expired from the stream unread. */
  private skipLost(part: PartitionState, offset: number): void {
    if (offset <= part.next) return;
    this.logger.error({ partition: part.partition, from: part.next, to: offset - 1 }, 'records expired from the stream before delivery; they are lost');
    part.next = offset;
  }

  /** Buffers one record (synchronously: this runs per record). True when the buffer is due for a flush. */
  private push(part: PartitionState, record: StreamRecord): boolean {
    part.buffer.add(record);
    part.oldestAt ??= this.now();
    part.next = record.offset + 1;
    return part.buffer.bytes >= this.flushBytes;
  }

  /** Takes everything the stream holds now for the owned partitions (flush and stop deliver it all). */
  private async drain(): Promise<void> {
    const info = await this.stream.describe(this.topic);
    for (const part of [...this.parts.values()]) {
      const end = info.partitions.find((x) => x.partition === part.partition)?.endOffset ?? part.next;
      while (part.next < end && this.parts.get(part.partition) === part) {
        const batch = await this.stream.read(this.topic, part.partition, part.next, { maxRecords: READ_BATCH });
        const fresh = batch.filter((r) => r.offset >= part.next && r.offset < end);
        if (fresh.length === 0) break;
        for (const r of fresh) {
          const wait = this.take(part, r);
          if (wait) await wait;
        }
      }
      this.seek(part);
    }
  }

  // --- flushing ------------------------------------------------------------------------------

  private async flushDue(): Promise<void> {
    const now = this.now();
    for (const part of [...this.parts.values()]) {
      const due = part.pending !== undefined || part.buffer.bytes >= this.flushBytes || (part.oldestAt !== undefined && now - part.oldestAt >= this.flushIntervalMs);
      if (due) await this.flushPartition(part);
    }
  }

  private async flushEverything(report: FlushReport): Promise<void> {
    this.activeReport = report;
    try {
      await this.syncAssignment();
      await this.drain();
      for (const part of [...this.parts.values()]) await this.flushPartition(part);
    } finally {
      this.activeReport = undefined;
    }
  }

  /** Finishes the partition's pending unit, then freezes and writes its buffer as the next unit. */
  private async flushPartition(part: PartitionState): Promise<void> {
    if (part.pending) await this.writeUnit(part);
    if (part.buffer.records === 0 || this.parts.get(part.partition) !== part) return;
    const lines = part.buffer;
    part.pending = {
      partition: part.partition,
      first: lines.first,
      last: lines.last,
      objects: await lines.encode(this.topic, part.partition, this.gzipLevel),
      planWritten: false,
      recovered: false,
    };
    part.buffer = new UnitLines();
    part.oldestAt = undefined;
    await this.writeUnit(part);
  }

  /** Plan → objects → commit (invariant 1). Leaves `part.pending` set when anything fails. */
  private async writeUnit(part: PartitionState): Promise<void> {
    const unit = part.pending!;
    if (!unit.planWritten) {
      const plan = { version: 1 as const, group: this.group, topic: this.topic, partition: unit.partition, first: unit.first, last: unit.last, createdAt: new Date(this.now()).toISOString() };
      try {
        part.planVersion = await this.store.putIf(stateKey(this.group, this.topic, unit.partition), encodePlan(plan), part.planVersion, { contentType: 'application/json' });
      } catch (err) {
        if (!storageErrors.STRATA_ERR_STORAGE_CHANGED.is(err)) throw err;
        this.parts.delete(unit.partition);
        this.logger.info({ partition: unit.partition, first: unit.first, last: unit.last }, 'another member wrote this partition\'s plan: it owns the partition now; dropping this flush');
        return;
      }
      unit.planWritten = true;
    }
    await Promise.all(unit.objects.map((o) => this.store.put(o.key, o.body, { contentType: 'application/gzip' })));
    try {
      await this.consumer.commit([{ partition: unit.partition, offset: unit.last + 1 }]);
    } catch (err) {
      if (!(err instanceof StrataError && err.code === 'STRATA_ERR_STREAM_NOT_ASSIGNED')) throw err;
      this.parts.delete(unit.partition);
      this.logger.info({ partition: unit.partition, first: unit.first, last: unit.last }, 'partition reassigned before commit; its new owner redoes this flush');
      return;
    }
    part.pending = undefined;

    const done: FlushUnitReport = { partition: unit.partition, first: unit.first, last: unit.last, keys: [], records: 0, errorRecords: 0, bytesIn: 0, bytesOut: 0, recovered: unit.recovered };
    for (const o of unit.objects) {
      done.keys.push(o.key);
      if (o.zone === 'raw') done.records += o.records;
      else done.errorRecords += o.records;
      done.bytesIn += o.bytesIn;
      done.bytesOut += o.body.length;
    }
    this.counters.flushes++;
    this.counters.objects += done.keys.length;
    this.counters.records += done.records;
    this.counters.errorRecords += done.errorRecords;
    this.counters.bytesIn += done.bytesIn;
    this.counters.bytesOut += done.bytesOut;
    this.lastFlushAt = this.now();
    const report = this.activeReport;
    if (report) {
      report.units.push(done);
      report.objects += done.keys.length;
      report.records += done.records;
      report.errorRecords += done.errorRecords;
      report.bytesIn += done.bytesIn;
      report.bytesOut += done.bytesOut;
    }
    if (done.errorRecords > 0) this.logger.warn({ partition: unit.partition, first: unit.first, last: unit.last, errorRecords: done.errorRecords }, 'records routed to errors/');
    this.logger.debug({ ...done, keys: undefined, objects: done.keys.length }, 'flushed');
  }
}

/** Starts delivering `topic` to the raw zone of `store` (see the header comment for the guarantees). */
export async function startDelivery(opts: DeliveryOptions): Promise<Delivery> {
  const delivery = new DeliveryImpl(opts);
  await delivery.start();
  return delivery;
}
