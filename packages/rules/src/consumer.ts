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
 * Replayed events (`"replay": true`, from `strata replay`) are history, not news: skipped.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { Sleeps, silentLogger, type Logger, type TelemetryEvent } from '@strata/core';
import type { Db } from '@strata/db';
import { partitionFor, type Consumer, type Stream } from '@strata/stream';
import { RULES_DEFAULTS } from './defaults.js';
import { rulesErrors } from './errors.js';
import { applyTransitions } from './alerts/write.js';
import type { OutboxPublisher } from './alerts/publisher.js';
import { RuleEngine, type DeviceProfile, type EngineEvent, type EngineSnapshot, type Transition } from './engine/engine.js';
import { rank } from './engine/compile.js';
import type { VersionedRule } from './engine/compile.js';
import type { AlertEvent } from './types.js';

export interface RulesConsumerOptions {
  db: Db;
  stream: Stream;
  /** Where the rules come from; `refresh()` is polled for API changes, `generation` says when they changed. */
  registry: { current(): VersionedRule[]; refresh(): Promise<boolean>; readonly generation: number };
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

function decode(value: Buffer): { event: EngineEvent; replay: boolean } | undefined {
  let e: TelemetryEvent & { replay?: boolean };
  try {
    e = JSON.parse(value.toString('utf8')) as TelemetryEvent & { replay?: boolean };
  } catch {
    return undefined;
  }
  if (typeof e !== 'object' || e === null || typeof e.device !== 'string' || typeof e.metrics !== 'object' || e.metrics === null) return undefined;
  const ts = Date.parse(e.ts);
  const receivedAt = Date.parse(e.received_at);
  if (!Number.isFinite(ts) || !Number.isFinite(receivedAt)) return undefined;
  return { event: { device: e.device, ts, receivedAt, metrics: e.metrics, tags: e.tags }, replay: e.replay === true };
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
  private due = { tick: 0, snapshot: 0, refresh: 0, directory: 0 };
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
    const now = this.now();
    this.due = { tick: now + this.o.tickMs, snapshot: now + this.o.snapshotMs, refresh: now + this.o.refreshMs, directory: now + this.o.directoryMs };
    this.loopDone = this.loop();
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
        for (const a of open) if (mine(a.device_id)) this.engine.markRaised(a.rule_id, a.device_id, rank(a.severity));
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
        await this.periodic();
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
      const decoded = decode(r.value);
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
    if (out.length > 0) {
      await this.write(out, [...touched]);
      for (const part of touched) part.applied = part.next;
    }
    await this.reconcile();
  }

  /** Writes alert changes (and the offsets they cover) in one transaction, retrying until it commits. */
  private async write(transitions: Transition[], parts: Part[]): Promise<void> {
    let delay = this.o.retryMinMs;
    for (;;) {
      try {
        const events = await this.o.db.kysely.transaction().execute(async (trx) => {
          const events = await applyTransitions(trx, transitions);
          for (const part of parts) {
            await trx
              .insertInto('consumer_offsets')
              .values({ consumer: this.o.group, topic: this.o.topic, partition: part.partition, next_offset: part.next })
              .onConflict((oc) => oc.columns(['consumer', 'topic', 'partition']).doUpdateSet({ next_offset: part.next }))
              .execute();
          }
          return events;
        });
        this.counters.transitions += transitions.length;
        this.counters.alertEvents += events.length;
        if (this.retrying) this.logger.info({}, 'alert writes succeed again');
        this.retrying = false;
        this.lastError = undefined;
        if (events.length > 0) {
          this.o.publisher.poke();
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

  private async periodic(): Promise<void> {
    const now = this.now();
    if (now >= this.due.refresh) {
      this.due.refresh = now + this.o.refreshMs;
      await this.o.registry.refresh();
      if (this.o.registry.generation !== this.generation) {
        this.generation = this.o.registry.generation;
        await this.exclusive(async () => this.engine.setRules(this.o.registry.current()));
        this.logger.info({ rules: this.o.registry.current().length }, 'rules reloaded');
      }
    }
    if (now >= this.due.directory) {
      this.due.directory = now + this.o.directoryMs;
      const directory = await loadDirectory(this.o.db);
      if (profilesChanged(this.directory, directory)) await this.exclusive(async () => this.engine.setDirectory(directory));
      this.directory = directory;
    }
    if (now >= this.due.tick) {
      this.due.tick = now + this.o.tickMs;
      await this.tick();
    }
    if (now >= this.due.snapshot) {
      this.due.snapshot = now + this.o.snapshotMs;
      await this.snapshot();
    }
    if (this.consumer.assignment().length !== this.parts.size || this.consumer.assignment().some((p) => !this.parts.has(p))) await this.exclusive(() => this.syncAssignment());
  }

  tick(): Promise<void> {
    return this.exclusive(async () => {
      if ([...this.parts.values()].some((p) => !p.reconciled)) return;
      const out: Transition[] = [];
      this.engine.tick(this.now(), out);
      if (out.length > 0) await this.write(out, []);
    });
  }

  snapshot(): Promise<void> {
    return this.exclusive(async () => {
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
          await trx
            .insertInto('consumer_offsets')
            .values({ consumer: this.o.group, topic: this.o.topic, partition: part.partition, next_offset: at })
            .onConflict((oc) => oc.columns(['consumer', 'topic', 'partition']).doUpdateSet({ next_offset: at }))
            .execute();
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
        await this.exclusive(async () => undefined); // the batch holding the last records is written
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw rulesErrors.STRATA_ERR_RULES_BAD_OPTION({ option: 'caughtUp', reason: 'the rules consumer stopped' });
  }

  stop(): Promise<void> {
    this.stopPromise ??= (async () => {
      this.stopping = true;
      this.sleeps.wakeAll();
      await this.loopDone;
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
