/**
 * The rules consumer: stream "telemetry" → rule engine → alerts (PostgreSQL) → outbox → topic
 * "alerts". The `rules` role.
 *
 * Durability without a database write per event: the engine is deterministic (./engine), so its
 * state is the last snapshot plus the stream since. Two positions per partition, both in the
 * database:
 * - `rule_snapshots.next_offset` (S): the engine state of the partition's devices as of S, taken
 *   every `snapshotMs` (and at stop);
 * - `consumer_offsets.next_offset` (A ≥ S): alert changes of every record before A are written.
 *   A batch that changes alerts writes them, their events and A in one transaction.
 * On start (and when a partition is assigned) the consumer restores the snapshot and reads from
 * S; records before A only rebuild state (their alert changes were written), records from A on
 * act. So after a `kill -9` no alert change is lost (not acknowledged before its transaction
 * commits) or made twice (A says it was).
 *
 * Heartbeats (missing data) are decided on a clock, not by records: a tick writes its alerts on
 * its own. Since a tick leaves no trace in the stream, after the replay the open heartbeat alerts
 * in the database are marked raised in the engine, and ticks wait until every partition has
 * replayed up to A.
 *
 * Evaluation does not wait for the database: transitions queue for a writer with one transaction
 * in flight, which takes everything queued meanwhile (up to MAX_PENDING_TRANSITIONS, then
 * evaluation waits). Snapshots wait for the queue to drain. Rule and directory reloads,
 * heartbeat ticks and snapshots run on timers, not between reads.
 *
 * Replayed events (`"replay": true`, from `strata replay`) are history, not news: skipped.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { Sleeps, silentLogger, type Logger } from '@strata/core';
import { sql, type Transaction } from 'kysely';
import type { Database, Db } from '@strata/db';
import { partitionFor, type Consumer, type Stream } from '@strata/stream';
import { RULES_DEFAULTS } from './defaults.js';
import { rulesErrors } from './errors.js';
import { applyTransitions } from './alerts/write.js';
import type { OutboxPublisher } from './alerts/publisher.js';
import { decodeEvent, RuleEngine, type DeviceProfile, type EngineSnapshot, type Transition } from './engine/engine.js';
import type { RuleSource } from './definition/subset.js';
import { severityRank, type AlertEvent } from './types.js';

export interface RulesConsumerOptions {
  db: Db;
  stream: Stream;
  /** Where the rules come from (a RuleRegistry or a `ruleSubset` of one); `refresh()` is polled for API changes, `generation` says when they changed. */
  registry: RuleSource;
  publisher: OutboxPublisher;
  topic?: string;
  group?: string;
  maxBatchEvents?: number;
  /** Longest a read waits for records: the latency floor of an alert. Default 5 ms. */
  maxWaitMs?: number;
  /** Heartbeat period. Default 1 s. */
  tickMs?: number;
  /** Snapshot period. Default 30 s: a restart replays at most about that much of the stream. */
  snapshotMs?: number;
  refreshMs?: number;
  directoryMs?: number;
  /** Called with the alert events of each committed change (after the commit). */
  onEvents?: (events: AlertEvent[]) => void;
  /** Clock (Unix ms) for heartbeats and periods. Default Date.now. */
  now?: () => number;
  logger?: Logger;
}

export interface RulesStats {
  events: number;
  invalid: number;
  /** Events skipped because they were replayed history. */
  replayed: number;
  /** Events re-read after a restart to rebuild state (no alert changes). */
  rebuilt: number;
  transitions: number;
  alertEvents: number;
  snapshots: number;
  devices: number;
  retrying: boolean;
  lastError?: string;
}

export interface RulesConsumer {
  stats(): RulesStats;
  /** Resolves once everything appended to the topic before the call is evaluated and its alerts written. */
  caughtUp(): Promise<void>;
  /** Runs the heartbeat now (tests with a controlled clock; the loop ticks every `tickMs`). */
  tick(): Promise<void>;
  /** Takes a snapshot of every partition now. */
  snapshot(): Promise<void>;
  /** Finishes the batch in hand, snapshots, stops. Never rejects. */
  stop(): Promise<void>;
}

interface Part {
  partition: number;
  /** Next offset to evaluate. */
  next: number;
  /** Alert changes of records before this are written. */
  applied: number;
  /** Records evaluated since the last snapshot. */
  dirty: boolean;
  /** Open heartbeat alerts marked in the engine (done once the replay reached `applied`). */
  reconciled: boolean;
}

/** Transitions queued before evaluation waits for the writer (bounds memory when the database lags). */
const MAX_PENDING_TRANSITIONS = 100_000;

/** Records how far alert changes are written; never backwards (a snapshot and a batch may race). */
async function saveApplied(trx: Transaction<Database>, group: string, topic: string, partition: number, next: number): Promise<void> {
  await trx
    .insertInto('consumer_offsets')
    .values({ consumer: group, topic, partition, next_offset: next })
    .onConflict((oc) => oc.columns(['consumer', 'topic', 'partition']).doUpdateSet({ next_offset: sql<number>`greatest(consumer_offsets.next_offset, excluded.next_offset)` }))
    .execute();
}

async function loadDirectory(db: Db): Promise<Map<string, DeviceProfile>> {
  const rows = await db.kysely.selectFrom('devices').select(['id', 'kind', 'tags', 'last_seen']).execute();
  return new Map(rows.map((r) => [r.id, { kind: r.kind, tags: r.tags as Record<string, string>, ...(r.last_seen && { lastSeen: r.last_seen.getTime() }) }]));
}

class RulesConsumerImpl implements RulesConsumer {
  private readonly o: Required<Omit<RulesConsumerOptions, 'onEvents' | 'logger' | 'now'>> & { retryMinMs: number; retryMaxMs: number };
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly onEvents: ((events: AlertEvent[]) => void) | undefined;
  private engine!: RuleEngine;
  private consumer!: Consumer;
  private partitions = 0;
  private readonly parts = new Map<number, Part>();
  private readonly counters = { events: 0, invalid: 0, replayed: 0, rebuilt: 0, transitions: 0, alertEvents: 0, snapshots: 0 };
  private lastError: string | undefined;
  private retrying = false;
  private readonly sleeps = new Sleeps();
  private stopping = false;
  private loopDone: Promise<void> = Promise.resolve();
  private stopPromise: Promise<void> | undefined;
  /** One change to engine or alerts at a time: the loop's batches, ticks and snapshots. */
  private lock: Promise<unknown> = Promise.resolve();
  private readonly timers: NodeJS.Timeout[] = [];
  /** Alert changes evaluated but not yet written, and the offsets they cover. */
  private pending: Transition[] = [];
  private pendingOffsets = new Map<Part, number>();
  private writing: Promise<void> | undefined;
  private directory = new Map<string, DeviceProfile>();
  /** The registry generation the engine runs. */
  private generation = 0;

  constructor(opts: RulesConsumerOptions) {
    this.o = { ...RULES_DEFAULTS, ...opts } as RulesConsumerImpl['o'];
    for (const key of ['maxBatchEvents', 'tickMs', 'snapshotMs', 'refreshMs', 'directoryMs'] as const) {
      if (!Number.isSafeInteger(this.o[key]) || this.o[key] < 1) throw rulesErrors.STRATA_ERR_RULES_BAD_OPTION({ option: key, reason: `must be an integer >= 1, got ${String(this.o[key])}` });
    }
    this.logger = opts.logger ?? silentLogger;
    this.now = opts.now ?? Date.now;
    this.onEvents = opts.onEvents;
  }

  async start(): Promise<void> {
    this.directory = await loadDirectory(this.o.db);
    this.generation = this.o.registry.generation;
    this.engine = new RuleEngine({ rules: this.o.registry.current(), directory: this.directory, heartbeatFrom: this.now() });
    this.partitions = (await this.o.stream.describe(this.o.topic)).partitions.length;
    this.consumer = await this.o.stream.consumer({ topic: this.o.topic, group: this.o.group });
    try {
      await this.syncAssignment();
    } catch (err) {
      await this.consumer.close().catch(() => undefined);
      throw err;
    }
    this.loopDone = this.loop();
    this.startHousekeeping();
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  private readonly inPartition = (p: number) => (device: string) => partitionFor(device, this.partitions) === p;

  /** Restores newly assigned partitions from their snapshots; drops the state of lost ones. */
  private async syncAssignment(): Promise<void> {
    const assigned = new Set(this.consumer.assignment());
    for (const p of [...this.parts.keys()]) {
      if (assigned.has(p)) continue;
      this.parts.delete(p);
      this.engine.forget(this.inPartition(p));
    }
    for (const p of assigned) {
      if (this.parts.has(p)) continue;
      const { db } = this.o;
      const snap = await db.kysely.selectFrom('rule_snapshots').select(['next_offset', 'state']).where('consumer', '=', this.o.group).where('topic', '=', this.o.topic).where('partition', '=', p).executeTakeFirst();
      const applied = await db.kysely.selectFrom('consumer_offsets').select('next_offset').where('consumer', '=', this.o.group).where('topic', '=', this.o.topic).where('partition', '=', p).executeTakeFirst();
      this.engine.forget(this.inPartition(p));
      if (snap) this.engine.restore(JSON.parse(gunzipSync(snap.state).toString('utf8')) as EngineSnapshot);
      const start = snap?.next_offset ?? 0;
      this.parts.set(p, { partition: p, next: start, applied: Math.max(start, applied?.next_offset ?? start), dirty: false, reconciled: false });
      this.consumer.seek({ partition: p, offset: start });
      this.logger.info({ partition: p, snapshot: start, applied: applied?.next_offset ?? null }, 'rules partition restored');
    }
    await this.reconcile();
  }

  /** Marks open heartbeat alerts raised for partitions whose replay is done. */
  private async reconcile(): Promise<void> {
    const ready = [...this.parts.values()].filter((p) => !p.reconciled && p.next >= p.applied);
    if (ready.length === 0) return;
    const heartbeatRules = this.o.registry.current().filter((r) => r.rule.condition.type === 'missing').map((r) => r.rule.id);
    if (heartbeatRules.length > 0) {
      const open = await this.o.db.kysely.selectFrom('alerts').select(['rule_id', 'device_id', 'severity']).where('status', '<>', 'resolved').where('rule_id', 'in', heartbeatRules).execute();
      for (const part of ready) {
        const mine = this.inPartition(part.partition);
        for (const a of open) if (mine(a.device_id)) this.engine.markRaised(a.rule_id, a.device_id, severityRank(a.severity));
      }
    }
    for (const part of ready) part.reconciled = true;
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      try {
        const records = await this.consumer.read({ maxRecords: this.o.maxBatchEvents, maxWaitMs: Math.min(this.o.maxWaitMs, this.o.tickMs) });
        if (this.stopping) break;
        await this.exclusive(() => this.process(records));
        // A database slower than the stream holds back evaluation only this far.
        if (this.pending.length > MAX_PENDING_TRANSITIONS) await this.writesDone();
      } catch (err) {
        if (this.stopping) break;
        this.lastError = err instanceof Error ? err.message : String(err);
        this.logger.error({ err }, 'rules consumer failed; restarting from the last snapshot');
        await this.sleeps.sleep(this.o.retryMaxMs / 10);
        // State may be half-updated: throw it away and rebuild from snapshots and the stream.
        await this.exclusive(async () => {
          this.parts.clear();
          this.engine = new RuleEngine({ rules: this.o.registry.current(), directory: this.directory, heartbeatFrom: this.now() });
          await this.syncAssignment();
        }).catch(() => undefined);
      }
    }
  }

  private async process(records: Awaited<ReturnType<Consumer['read']>>): Promise<void> {
    const out: Transition[] = [];
    const scratch: Transition[] = [];
    const touched = new Set<Part>();
    for (const r of records) {
      const part = this.parts.get(r.partition);
      if (!part || r.offset < part.next) continue; // redelivered
      if (r.offset > part.next) this.logger.warn({ partition: r.partition, expected: part.next, got: r.offset }, 'records expired from the stream before the rules read them');
      part.next = r.offset + 1;
      part.dirty = true;
      const decoded = decodeEvent(r.value);
      if (!decoded) {
        this.counters.invalid++;
        continue;
      }
      if (decoded.replay) {
        this.counters.replayed++;
        continue;
      }
      if (r.offset < part.applied) {
        this.engine.evaluate(decoded.event, scratch);
        scratch.length = 0;
        this.counters.rebuilt++;
        continue;
      }
      this.counters.events++;
      const before = out.length;
      this.engine.evaluate(decoded.event, out);
      if (out.length > before) touched.add(part);
    }
    if (out.length > 0) this.queue(out, touched);
    await this.reconcile();
  }

  /**
   * Queues alert changes (with the offsets they cover) for the writer: evaluation goes on while a
   * write waits for the database, and the next write takes everything queued meanwhile.
   */
  private queue(transitions: Transition[], parts: Iterable<Part>): void {
    for (const t of transitions) this.pending.push(t);
    for (const part of parts) this.pendingOffsets.set(part, part.next);
    this.writing ??= this.drain();
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const transitions = this.pending;
        const offsets = this.pendingOffsets;
        this.pending = [];
        this.pendingOffsets = new Map();
        await this.write(transitions, offsets);
      }
    } finally {
      this.writing = undefined;
    }
  }

  /** Resolves once every queued alert change is written. */
  private async writesDone(): Promise<void> {
    while (this.writing) await this.writing;
  }

  /** Writes alert changes (and the offsets they cover) in one transaction, retrying until it commits. */
  private async write(transitions: Transition[], offsets: ReadonlyMap<Part, number>): Promise<void> {
    let delay = this.o.retryMinMs;
    for (;;) {
      try {
        const { events, seqs } = await this.o.db.kysely.transaction().execute(async (trx) => {
          const written = await applyTransitions(trx, transitions);
          for (const [part, next] of offsets) await saveApplied(trx, this.o.group, this.o.topic, part.partition, next);
          return written;
        });
        for (const [part, next] of offsets) part.applied = Math.max(part.applied, next);
        this.counters.transitions += transitions.length;
        this.counters.alertEvents += events.length;
        if (this.retrying) this.logger.info({}, 'alert writes succeed again');
        this.retrying = false;
        this.lastError = undefined;
        if (events.length > 0) {
          this.o.publisher.publish(events, seqs);
          this.onEvents?.(events);
        }
        return;
      } catch (err) {
        if (this.stopping) throw err;
        if (!this.retrying) this.logger.warn({ err }, 'writing alerts failed; retrying');
        this.retrying = true;
        this.lastError = err instanceof Error ? err.message : String(err);
        await this.sleeps.sleep(delay * (0.8 + Math.random() * 0.4));
        delay = Math.min(delay * 2, this.o.retryMaxMs);
      }
    }
  }

  /** Rules, directory, heartbeat, snapshots and assignment, each on its own period, off the read loop. */
  private startHousekeeping(): void {
    const every = (ms: number, what: string, job: () => Promise<void>) => {
      let running = false;
      const timer = setInterval(() => {
        if (running || this.stopping) return;
        running = true;
        job()
          .catch((err: unknown) => this.logger.warn({ err, job: what }, 'rules housekeeping failed; retried at the next period'))
          .finally(() => (running = false));
      }, ms);
      this.timers.push(timer);
    };
    every(this.o.refreshMs, 'rules', async () => {
      await this.o.registry.refresh();
      if (this.o.registry.generation === this.generation) return;
      this.generation = this.o.registry.generation;
      await this.exclusive(async () => this.engine.setRules(this.o.registry.current()));
      this.logger.info({ rules: this.o.registry.current().length }, 'rules reloaded');
    });
    every(this.o.directoryMs, 'directory', async () => {
      const directory = await loadDirectory(this.o.db);
      if (profilesChanged(this.directory, directory)) await this.exclusive(async () => this.engine.setDirectory(directory));
      this.directory = directory;
    });
    every(this.o.tickMs, 'heartbeat', () => this.tick());
    every(this.o.snapshotMs, 'snapshot', () => this.snapshot());
    every(1000, 'assignment', async () => {
      const assigned = this.consumer.assignment();
      if (assigned.length !== this.parts.size || assigned.some((p) => !this.parts.has(p))) await this.exclusive(() => this.syncAssignment());
    });
  }

  tick(): Promise<void> {
    return this.exclusive(async () => {
      if ([...this.parts.values()].some((p) => !p.reconciled)) return;
      const out: Transition[] = [];
      this.engine.tick(this.now(), out);
      if (out.length > 0) this.queue(out, []);
    });
  }

  snapshot(): Promise<void> {
    return this.exclusive(async () => {
      await this.writesDone(); // a snapshot at P needs every alert change before P written
      for (const part of this.parts.values()) {
        if (!part.dirty || part.next < part.applied) continue;
        const state = gzipSync(JSON.stringify(this.engine.snapshot(this.inPartition(part.partition))), { level: 1 });
        const at = part.next;
        await this.o.db.kysely.transaction().execute(async (trx) => {
          await trx
            .insertInto('rule_snapshots')
            .values({ consumer: this.o.group, topic: this.o.topic, partition: part.partition, next_offset: at, state, taken: new Date() })
            .onConflict((oc) => oc.columns(['consumer', 'topic', 'partition']).doUpdateSet({ next_offset: at, state, taken: new Date() }))
            .execute();
          await saveApplied(trx, this.o.group, this.o.topic, part.partition, at);
        });
        part.applied = at;
        part.dirty = false;
        this.counters.snapshots++;
        // The stream may now drop what precedes the snapshot: nothing before it is read again.
        await this.consumer.commit([{ partition: part.partition, offset: at }]).catch(() => undefined);
      }
    });
  }

  stats(): RulesStats {
    return { ...this.counters, devices: this.engine.size, retrying: this.retrying, ...(this.lastError !== undefined && { lastError: this.lastError }) };
  }

  async caughtUp(): Promise<void> {
    const info = await this.o.stream.describe(this.o.topic);
    const targets = info.partitions.map((p) => [p.partition, p.endOffset] as const);
    while (!this.stopping) {
      if (targets.every(([p, end]) => (this.parts.get(p)?.next ?? 0) >= end)) {
        await this.exclusive(async () => undefined); // the batch holding the last records is evaluated
        await this.writesDone();
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw rulesErrors.STRATA_ERR_RULES_BAD_OPTION({ option: 'caughtUp', reason: 'the rules consumer stopped' });
  }

  stop(): Promise<void> {
    this.stopPromise ??= (async () => {
      this.stopping = true;
      for (const timer of this.timers) clearInterval(timer);
      this.sleeps.wakeAll();
      await this.loopDone;
      await this.writesDone().catch(() => undefined);
      await this.snapshot().catch((err: unknown) => this.logger.warn({ err }, 'final rules snapshot failed; the next start replays a little more'));
      await this.consumer.close().catch(() => undefined);
    })();
    return this.stopPromise;
  }
}

function profilesChanged(a: ReadonlyMap<string, DeviceProfile>, b: ReadonlyMap<string, DeviceProfile>): boolean {
  if (a.size !== b.size) return true;
  for (const [id, p] of b) {
    const q = a.get(id);
    if (!q || q.kind !== p.kind || JSON.stringify(q.tags) !== JSON.stringify(p.tags)) return true;
  }
  return false;
}

export async function startRulesConsumer(opts: RulesConsumerOptions): Promise<RulesConsumer> {
  const consumer = new RulesConsumerImpl(opts);
  await consumer.start();
  return consumer;
}
