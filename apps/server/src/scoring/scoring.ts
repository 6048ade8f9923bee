/**
 * The `scoring` role: stream "telemetry" → the active model's online scorer → stream
 * "predictions"; feature drift (PSI) → `ml-drift` alerts. See docs/ml.md.
 *
 * Prediction events are telemetry-shaped (so the state consumer, the rules, the lake and the API
 * take them as they are), one per machine and closed bucket, keyed by device:
 * `{id, device, ts, metrics: {failure_probability, failure_predicted}, tags: {ml.model, ml.top},
 * source: "scoring", received_at}`. `id` = `pred-` + 32 hex of sha256(model, device, bucket end):
 * scoring the same bucket again (a replay, a restart) gives the same id, which the topic's dedup
 * window and every consumer downstream (state: latest value by time, rollups by event id never
 * twice in one batch; lake bronze de-duplicates by id) treat as the same event.
 *
 * Offsets (the consumer group `scoring` on `telemetry`, committed in the stream):
 * 1. A batch's predictions are appended (durable) before its offsets are committed: a crash in
 *    between appends them again on restart, with the same ids (at least once, idempotent).
 * 2. The scorer's state (bucket means, rolling windows) is memory only. On start, when a
 *    partition is assigned and when another model version becomes active, each partition is read
 *    again from `offsetForTime(T − warm-up)`, T = the append time of the record before the
 *    committed offset (the newest one already scored), warm-up = the span the model's features look
 *    back over. Anchored on the stream, not the clock: a member down for longer than the warm-up
 *    still rebuilds the bucket that straddles its committed offset. Records before the committed
 *    offset only rebuild state; predictions are published for records from it on. So a restart
 *    neither publishes a bucket twice nor skips one (a bucket is due when the first event of a
 *    later one is read).
 *    Maintenance is older than any warm-up (`hoursSince<Component>` of rolling specs): the first
 *    time the scorer sees a machine (start, partition taken, model switch, after an eviction), the
 *    newest `maint.<component>` before its first event read is seeded from the database
 *    (`latest_values`; `rollups_1m` when the latest one is not older than that event), one query per
 *    batch for the machines new in it. Without it no rolling row could be built until every
 *    component had been serviced again.
 * 3. A group with no committed offset starts at the topic's end (history is not scored on a
 *    first start), and commits that position at once.
 * 4. Without an active model the role reads and commits without scoring (an idle group must not
 *    hold back the stream's retention), logging once; it checks for a model every `refreshMs`.
 *
 * Events ignored: not telemetry JSON (counted as invalid), replayed history (`"replay": true`), the
 * role's own output (`source: "scoring"`), and every device that is not a machine (kind from the
 * devices table, else the event's `kind` tag; unknown is not a machine): health data and plain
 * sensors never go to a machine model, nor take memory in the scorer.
 *
 * Memory: the scorer holds the machines of this member's partitions only. A partition lost to
 * another member forgets its machines; a machine idle for longer than the warm-up (its newest
 * event time against the newest one read, capped by the newest append time) is forgotten at the
 * next refresh (its state would not survive a restart either; its open bucket is dropped
 * unscored). Rows the scorer could not build, of published records, are counted by reason.
 *
 * Drift: every `refreshMs`, `scorer.drift()` (PSI per feature, the artifact's reference vs the
 * last `driftWindow` scored rows of this member) is kept for the `strata_ml_feature_psi` gauges.
 * Only the member holding partition 0 of the telemetry topic decides on the one `ml-drift` alert
 * (others export gauges only): it reads the alert's state from the database, then opens one on the
 * pseudo-device `model.<name>` (kind machine) when a feature is above `driftThreshold` and none is
 * open (so a manual resolve is respected, and drift still present raises a new one), or resolves
 * it (by rule) once every feature is back at or under it. Its events go through the outbox to the
 * `alerts` topic like any rule's.
 */
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { PREDICTION, PREDICTIONS_TOPIC, Sleeps, silentLogger, StrataError, type DeviceKind, type Logger, type TelemetryEvent } from '@strata/core';
import type { Db } from '@strata/db';
import { deviceContext, MAINTENANCE_PREFIX, onlineSpecOf, type DeviceContext, type ModelArtifact, type OnlinePrediction, type OnlineScorer, type OnlineScorerOptions } from '@strata/ml';
import { applySystemAlerts, type OutboxPublisher } from '@strata/rules';
import type { AppendRecord, Consumer, Stream, StreamRecord } from '@strata/stream';

export const SCORING_DEFAULTS = Object.freeze({
  topic: 'telemetry',
  predictionsTopic: PREDICTIONS_TOPIC,
  group: 'scoring',
  maxBatchEvents: 5_000,
  maxWaitMs: 200,
  refreshMs: 5_000,
  directoryMs: 30_000,
  driftThreshold: 0.2,
  driftWindow: 1_000,
  retryMinMs: 100,
  retryMaxMs: 30_000,
});

/** The alert rule id of feature drift, and the pseudo-device it is raised on. */
export const DRIFT_RULE_ID = 'ml-drift';
export const driftDevice = (model: string): string => `model.${model}`;

/** The model version that scores, as the model registry gives it. */
export interface ActiveModel {
  name: string;
  version: number;
  artifact: ModelArtifact;
}

export interface ScoringOptions {
  db: Db;
  stream: Stream;
  /** The active version of the model to score with, undefined when none is active. Polled every `refreshMs`. */
  loadActive: () => Promise<ActiveModel | undefined>;
  /** `createOnlineScorer` (@strata/ml), or a stand-in. */
  createScorer: (artifact: ModelArtifact, opts: OnlineScorerOptions) => OnlineScorer;
  /** Where drift alert events are handed once committed (they are in the outbox either way). */
  publisher?: OutboxPublisher;
  topic?: string;
  predictionsTopic?: string;
  group?: string;
  maxBatchEvents?: number;
  maxWaitMs?: number;
  /** Period of the active-model check and of the drift evaluation. Default 5 s. */
  refreshMs?: number;
  /** Period of the device metadata reload. Default 30 s. */
  directoryMs?: number;
  /** PSI above which a feature has drifted. Default 0.2. */
  driftThreshold?: number;
  driftWindow?: number;
  logger?: Logger;
  /** Wall clock, Unix ms (received_at, warm-up start, alert times). Default Date.now. */
  now?: () => number;
}

export interface ScoringStats {
  /** `name@version` scoring now, if any. */
  model?: string;
  /** Telemetry events scored (from the committed offsets on). */
  events: number;
  /** Events re-read to rebuild the scorer's windows (no prediction published). */
  rebuilt: number;
  /** Records ignored: replayed, the role's own output, devices that are not machines. */
  ignored: number;
  /** Closed buckets of published records the scorer could not turn into a row (rebuilt ones are not counted), and by reason (a feature name: bounded by the schema). */
  skipped: number;
  skippedBy: Readonly<Record<string, number>>;
  /** Machines the scorer holds state for, and how many it forgot (partition lost, idle longer than the warm-up). */
  devices: number;
  evicted: number;
  /** Records that are not telemetry events, or that the scorer refused. */
  invalid: number;
  /** Records read while no model was active. */
  idle: number;
  /** Predictions appended to the predictions topic, and how many of them predicted a failure. */
  predictions: number;
  predictedFailures: number;
  /** Telemetry records in this member's partitions not yet scored (refreshed every refresh period). */
  lagRecords: number;
  /** Latest PSI per feature of the model scoring now (empty until the scorer has enough rows). */
  drift: Readonly<Record<string, number>>;
  /** Whether this member decides on the drift alert (it holds partition 0 of the telemetry topic). */
  driftLeader: boolean;
  /** Whether the drift alert of the model is open (as the leader last read it; false on other members). */
  driftAlertOpen: boolean;
  retrying: boolean;
  lastError?: string;
}

export interface ScoringRole {
  stats(): ScoringStats;
  /** Checks the active model and evaluates drift now (tests; the role does it every `refreshMs`). */
  refresh(): Promise<void>;
  /** Resolves once everything appended to the telemetry topic before the call is scored and its predictions appended. */
  caughtUp(): Promise<void>;
  /** Finishes the batch in hand (its predictions appended, offsets committed), then closes the consumer. Never rejects. */
  stop(): Promise<void>;
}

interface Part {
  /** Next offset to read. */
  next: number;
  /** Predictions are published for records from here on (the committed offset when the partition was taken or the model swapped). */
  publishFrom: number;
  /** Every record before this is done (scored and appended, or skipped) and committed. */
  done: number;
}

interface Decoded {
  device: string;
  ts: number;
  metrics: Record<string, number>;
  tags: Record<string, string> | undefined;
  skip: boolean;
}

const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;
/** Machines per maintenance query. */
const SEED_CHUNK = 500;

/** How far back a model's features look: the span a partition is re-read over to rebuild them. */
export function warmUpMs(artifact: ModelArtifact): number {
  const spec = onlineSpecOf(artifact);
  const bucket = spec.resolutionSeconds * 1000;
  // latest: the open bucket and the last closed one; rolling: the longest window and the open bucket.
  return spec.kind === 'latest' ? 2 * bucket : Math.max(...spec.windowsHours, spec.errorWindowHours) * HOUR_MS + bucket;
}

/** `pred-` + 32 hex: the same for the same model, device and bucket, whoever scores it and when. */
export function predictionId(model: string, device: string, ts: number): string {
  return `pred-${createHash('sha256').update(`${model}\u0000${device}\u0000${ts}`).digest('hex').slice(0, 32)}`;
}

/**
 * A prediction as the telemetry-shaped event on the predictions topic. `kind` (the machine's, when
 * known) rides along as a tag so the prediction rules' scopes match before their directory knows
 * the device. Tags are namespaced `ml.` because the state consumer merges event tags into the
 * device's: a bare `model` would overwrite a machine's own model tag.
 */
export function predictionEvent(p: OnlinePrediction, receivedAt: number, kind?: DeviceKind): TelemetryEvent {
  const top = p.contributions.slice(0, 3).map((c) => c.feature);
  return {
    id: predictionId(p.model, p.device, p.ts),
    device: p.device,
    ts: new Date(p.ts).toISOString(),
    metrics: { [PREDICTION.probabilityMetric]: p.probability, [PREDICTION.predictedMetric]: p.label },
    tags: { [PREDICTION.modelTag]: p.model, ...(top.length > 0 && { [PREDICTION.topTag]: top.join(',') }), ...(kind && { kind }) },
    source: PREDICTION.source,
    received_at: new Date(receivedAt).toISOString(),
  };
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function decode(value: Buffer): Decoded | undefined {
  let e: unknown;
  try {
    e = JSON.parse(value.toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isRecord(e) || typeof e.device !== 'string' || typeof e.ts !== 'string' || !isRecord(e.metrics)) return undefined;
  const ts = Date.parse(e.ts);
  if (!Number.isFinite(ts)) return undefined;
  const tags = isRecord(e.tags) ? (e.tags as Record<string, string>) : undefined;
  return { device: e.device, ts, metrics: e.metrics as Record<string, number>, tags, skip: e.replay === true || e.source === PREDICTION.source };
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));
const errorFields = (err: unknown): Record<string, unknown> => (err instanceof StrataError ? { err, code: err.code } : { err });

class ScoringImpl implements ScoringRole {
  private readonly o: Required<Omit<ScoringOptions, 'publisher' | 'logger' | 'now'>> & { retryMinMs: number; retryMaxMs: number };
  private readonly publisher: OutboxPublisher | undefined;
  private readonly logger: Logger;
  private readonly now: () => number;
  private consumer!: Consumer;
  private readonly parts = new Map<number, Part>();
  private scorer: OnlineScorer | undefined;
  private active: (ActiveModel & { ref: string; warmUpMs: number }) | undefined;
  /** The active version that could not score: not tried again until another one is active. */
  private refused: string | undefined;
  private idleLogged = false;
  private readonly counters = { events: 0, rebuilt: 0, ignored: 0, invalid: 0, idle: 0, predictions: 0, predictedFailures: 0, skipped: 0, evicted: 0 };
  /** Rows not built, by reason, of published records; and the scorer's own tally when last looked at. */
  private readonly skippedBy: Record<string, number> = {};
  private skippedSeen: Readonly<Record<string, number>> = {};
  /** Machines the scorer holds, by partition (revocation, first sight). */
  private readonly seen = new Map<string, number>();
  /** Newest event time pushed, and newest append time read: idleness is measured on the first, capped by the second. */
  private eventTime = -Infinity;
  private streamTime = -Infinity;
  private lagRecords = 0;
  private drift: Readonly<Record<string, number>> = {};
  private driftAlertOpen = false;
  private lastError: string | undefined;
  private retrying = false;
  private devices = new Map<string, { kind: DeviceKind; context: DeviceContext }>();
  private unknownSeen = false;
  private directoryAt = -Infinity;
  private refreshAt = -Infinity;
  private readonly sleeps = new Sleeps();
  private stopping = false;
  private loopDone: Promise<void> = Promise.resolve();
  private stopPromise: Promise<void> | undefined;
  /** The loop's batches and `refresh()` take turns. */
  private lock: Promise<unknown> = Promise.resolve();
  /** Goes up at every seek: records read before one are dropped (the seek reads them again). */
  private epoch = 0;

  constructor(opts: ScoringOptions) {
    this.o = { ...SCORING_DEFAULTS, ...opts } as ScoringImpl['o'];
    this.publisher = opts.publisher;
    this.logger = opts.logger ?? silentLogger;
    this.now = opts.now ?? Date.now;
  }

  async start(): Promise<void> {
    this.consumer = await this.o.stream.consumer({ topic: this.o.topic, group: this.o.group, from: 'latest' });
    try {
      await this.loadDirectory();
      await this.checkModel();
      await this.syncAssignment();
    } catch (err) {
      await this.consumer.close().catch(() => undefined);
      throw err;
    }
    this.logger.info({ topic: this.o.topic, group: this.o.group, model: this.active?.ref ?? null, partitions: [...this.parts.keys()] }, 'scoring started');
    this.loopDone = this.loop();
  }

  stats(): ScoringStats {
    return {
      ...this.counters,
      ...(this.active && { model: this.active.ref }),
      skippedBy: { ...this.skippedBy },
      devices: this.scorer?.devices ?? 0,
      lagRecords: this.lagRecords,
      drift: this.drift,
      driftLeader: this.consumer.assignment().includes(0),
      driftAlertOpen: this.driftAlertOpen,
      retrying: this.retrying,
      ...(this.lastError !== undefined && { lastError: this.lastError }),
    };
  }

  refresh(): Promise<void> {
    return this.exclusive(() => this.housekeeping(true));
  }

  async caughtUp(): Promise<void> {
    const info = await this.o.stream.describe(this.o.topic);
    const targets = info.partitions.map((p) => [p.partition, p.endOffset] as const);
    while (!this.stopping) {
      if (targets.every(([p, end]) => (this.parts.get(p)?.done ?? -1) >= end)) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error('the scoring role stopped');
  }

  stop(): Promise<void> {
    this.stopPromise ??= (async () => {
      this.stopping = true;
      this.sleeps.wakeAll();
      await this.loopDone;
      await this.consumer.close().catch(() => undefined);
      this.logger.info({ ...this.counters }, 'scoring stopped');
    })();
    return this.stopPromise;
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  // --- the loop -------------------------------------------------------------------------------

  private async loop(): Promise<void> {
    for (let attempt = 0; !this.stopping; ) {
      try {
        await this.exclusive(() => this.housekeeping(false));
        const epoch = this.epoch;
        const records = await this.consumer.read({ maxRecords: this.o.maxBatchEvents, maxWaitMs: this.o.maxWaitMs });
        if (this.stopping && records.length === 0) break;
        await this.exclusive(async () => {
          if (epoch === this.epoch) return this.process(records);
          // A seek came between: what this read returned is read again, from every partition's position.
          for (const [p, part] of this.parts) this.consumer.seek({ partition: p, offset: part.next });
        });
        if (this.retrying) this.logger.info({}, 'scoring resumed');
        this.retrying = false;
        this.lastError = undefined;
        attempt = 0;
      } catch (err) {
        if (this.stopping) break;
        this.lastError = messageOf(err);
        if (!this.retrying) this.logger.warn(errorFields(err), 'scoring failed; re-reading from the committed offsets');
        this.retrying = true;
        await this.sleeps.sleep(Math.min(this.o.retryMaxMs, this.o.retryMinMs * 2 ** Math.min(++attempt, 20)));
        // What was read but not committed is read again; the scorer's windows are rebuilt from scratch.
        await this.exclusive(async () => {
          this.parts.clear();
          if (this.active) this.useScorer(this.newScorer(this.active));
          await this.syncAssignment();
        }).catch(() => undefined);
      }
    }
  }

  /** Model, directory, assignment, drift and idle machines, each when due (`force`: model and drift now). */
  private async housekeeping(force: boolean): Promise<void> {
    const now = Date.now();
    if (force || now - this.refreshAt >= this.o.refreshMs) {
      this.refreshAt = now;
      if (await this.checkModel()) {
        // Another model: rebuild its windows from history, publish from where scoring is.
        for (const [p, part] of this.parts) await this.warm(p, Math.max(part.next, part.publishFrom));
      }
      this.evictIdle();
      await this.evaluateDrift();
      await this.refreshLag();
    }
    // Devices not in the table yet (new ones) bring the reload forward, at most once a refresh period.
    if (now - this.directoryAt >= this.o.directoryMs || (this.unknownSeen && now - this.directoryAt >= this.o.refreshMs)) await this.loadDirectory();
    const assigned = this.consumer.assignment();
    if (assigned.length !== this.parts.size || assigned.some((p) => !this.parts.has(p))) await this.syncAssignment();
  }

  private async process(records: StreamRecord[]): Promise<void> {
    const scorer = this.scorer;
    const touched = new Set<number>();
    const todo: { e: Decoded; kind: DeviceKind; r: StreamRecord; part: Part }[] = [];
    for (const r of records) {
      const part = this.parts.get(r.partition);
      if (!part || r.offset < part.next) continue; // redelivered, or a partition not synced yet
      if (r.offset > part.next) this.logger.warn({ partition: r.partition, expected: part.next, got: r.offset }, 'telemetry expired from the stream before scoring read it');
      part.next = r.offset + 1;
      touched.add(r.partition);
      if (!scorer) {
        this.counters.idle++;
        continue;
      }
      const e = decode(r.value);
      if (!e) {
        this.counters.invalid++;
        continue;
      }
      const kind = this.kindOf(e.device, e.tags);
      if (e.skip || kind !== 'machine') {
        this.counters.ignored++;
        continue;
      }
      todo.push({ e, kind, r, part });
    }
    if (scorer && todo.length > 0) await this.score(scorer, todo);
    // Never below publishFrom: while rebuilding, the committed offset stays where it is.
    const positions = [...touched].map((p) => ({ partition: p, offset: this.parts.get(p)!.next })).filter((x) => x.offset >= this.parts.get(x.partition)!.publishFrom);
    if (positions.length > 0) await this.consumer.commit(positions);
    for (const p of touched) {
      const part = this.parts.get(p)!;
      if (part.next >= part.publishFrom) part.done = part.next;
    }
  }

  /** Pushes a batch's machine events; appends the predictions due from published records. */
  private async score(scorer: OnlineScorer, todo: readonly { e: Decoded; kind: DeviceKind; r: StreamRecord; part: Part }[]): Promise<void> {
    const spec = scorer.spec;
    if (spec.kind === 'rolling' && spec.components.length > 0) {
      // Machines new to the scorer: their maintenance history, from before their first event here.
      const first = new Map<string, number>();
      for (const { e } of todo) if (!this.seen.has(e.device) && !first.has(e.device)) first.set(e.device, e.ts);
      if (first.size > 0) await this.seedMaintenance(scorer, spec.components, first);
    }
    const out: AppendRecord[] = [];
    const receivedAt = this.now();
    let failures = 0;
    for (const { e, kind, r, part } of todo) {
      if (!this.seen.has(e.device)) this.seen.set(e.device, r.partition);
      if (e.ts > this.eventTime) this.eventTime = e.ts;
      if (r.appendTime > this.streamTime) this.streamTime = r.appendTime;
      const publishing = r.offset >= part.publishFrom;
      const skippedBefore = scorer.skipped;
      let due: readonly OnlinePrediction[];
      try {
        due = scorer.push(e.device, e.ts, e.metrics, e.tags);
      } catch (err) {
        this.counters.invalid++;
        this.logger.debug({ ...errorFields(err), device: e.device }, 'the scorer refused an event');
        continue;
      }
      if (scorer.skipped !== skippedBefore) this.countSkipped(scorer, publishing);
      if (!publishing) {
        this.counters.rebuilt++;
        continue;
      }
      this.counters.events++;
      for (const p of due) {
        const event = predictionEvent(p, receivedAt, kind);
        out.push({ key: event.device, id: event.id, ts: p.ts, value: Buffer.from(JSON.stringify(event)) });
        if (p.label === 1) failures++;
      }
    }
    if (out.length > 0) {
      await this.o.stream.append(this.o.predictionsTopic, out);
      this.counters.predictions += out.length;
      this.counters.predictedFailures += failures;
    }
  }

  /** Adds the scorer's new skipped rows to the counts (of published records only: a rebuild re-reads what was counted). */
  private countSkipped(scorer: OnlineScorer, publishing: boolean): void {
    const by = scorer.skippedBy;
    if (publishing) {
      for (const [reason, n] of Object.entries(by)) {
        const d = n - (this.skippedSeen[reason] ?? 0);
        if (d <= 0) continue;
        this.skippedBy[reason] = (this.skippedBy[reason] ?? 0) + d;
        this.counters.skipped += d;
      }
    }
    this.skippedSeen = by;
  }

  /**
   * Seeds each machine's newest maintenance per component before `first` (its first event read,
   * Unix ms): `latest_values` holds the newest `maint.<component>` with its time; when that one is
   * not older (it is in the stream ahead, read in time), the newest one-minute rollup of it before
   * that minute (as `deviceFeatures`, @strata/ml, does).
   */
  private async seedMaintenance(scorer: OnlineScorer, components: readonly string[], first: ReadonlyMap<string, number>): Promise<void> {
    const componentOf = new Map<string, string>(components.map((c) => [`${MAINTENANCE_PREFIX}${c}`, c]));
    const metrics = [...componentOf.keys()];
    const devices = [...first.keys()];
    const older: { device: string; metric: string; before: Date }[] = [];
    for (let i = 0; i < devices.length; i += SEED_CHUNK) {
      const rows = await this.o.db.kysely.selectFrom('latest_values').select(['device', 'metric', 'ts']).where('device', 'in', devices.slice(i, i + SEED_CHUNK)).where('metric', 'in', metrics).execute();
      for (const r of rows) {
        const ts = new Date(r.ts).getTime();
        const limit = first.get(r.device)!;
        if (ts < limit) scorer.seedMaintenance(r.device, componentOf.get(r.metric)!, ts);
        else older.push({ device: r.device, metric: r.metric, before: new Date(Math.floor(limit / MINUTE_MS) * MINUTE_MS) });
      }
    }
    for (let i = 0; i < older.length; i += SEED_CHUNK) {
      const pairs = older.slice(i, i + SEED_CHUNK).map((o) => sql`(${o.device}::text, ${o.metric}::text, ${o.before.toISOString()}::timestamptz)`);
      const { rows } = await sql<{ device: string; metric: string; minute: Date }>`
        select r.device, r.metric, max(r.minute) as minute from rollups_1m r
        join (values ${sql.join(pairs)}) as v(device, metric, before) on r.device = v.device and r.metric = v.metric and r.minute < v.before
        group by r.device, r.metric`.execute(this.o.db.kysely);
      for (const r of rows) scorer.seedMaintenance(r.device, componentOf.get(r.metric)!, new Date(r.minute).getTime());
    }
  }

  /**
   * Forgets machines whose newest event is older than the warm-up, measured from the newest event
   * read (capped by the newest append time, so one event stamped in the future does not evict the
   * fleet): nothing of them would survive a restart either.
   */
  private evictIdle(): void {
    const scorer = this.scorer;
    if (!scorer || !this.active || this.eventTime === -Infinity) return;
    for (const device of scorer.devicesIdleSince(Math.min(this.eventTime, this.streamTime) - this.active.warmUpMs)) {
      scorer.forget(device);
      this.seen.delete(device);
      this.counters.evicted++;
    }
  }

  // --- partitions and the model ---------------------------------------------------------------

  /** Forgets lost partitions and their machines; takes new ones from their committed offsets (the end of the topic for a new group), rebuilding windows. */
  private async syncAssignment(): Promise<void> {
    const assigned = this.consumer.assignment();
    const lost = [...this.parts.keys()].filter((p) => !assigned.includes(p));
    for (const p of lost) this.parts.delete(p);
    if (lost.length > 0 && this.scorer) {
      for (const [device, partition] of this.seen) {
        if (!lost.includes(partition)) continue;
        this.scorer.forget(device);
        this.seen.delete(device);
        this.counters.evicted++;
      }
    }
    const missing = assigned.filter((p) => !this.parts.has(p));
    if (missing.length === 0) return;
    const committed = new Map((await this.o.stream.lag(this.o.topic)).find((g) => g.group === this.o.group)?.partitions.map((p) => [p.partition, p.committed] as const) ?? []);
    const info = await this.o.stream.describe(this.o.topic);
    const fresh: { partition: number; offset: number }[] = [];
    for (const p of missing) {
      const part = info.partitions.find((x) => x.partition === p);
      let from = committed.get(p);
      if (from === undefined) {
        from = part?.endOffset ?? 0;
        fresh.push({ partition: p, offset: from });
      }
      await this.warm(p, Math.max(from, part?.startOffset ?? 0));
    }
    if (fresh.length > 0) await this.consumer.commit(fresh);
    this.logger.info({ partitions: Object.fromEntries(missing.map((p) => [p, this.parts.get(p)])), ...(lost.length > 0 && { lost }) }, 'scoring partitions taken');
  }

  /**
   * Seeks a partition back over the model's warm-up span, anchored on the append time of the
   * record before `publishFrom` (the newest one scored); predictions are published from
   * `publishFrom` on.
   */
  private async warm(p: number, publishFrom: number): Promise<void> {
    let from = publishFrom;
    if (this.active && this.active.warmUpMs > 0 && publishFrom > 0) {
      const [last] = await this.o.stream.read(this.o.topic, p, publishFrom - 1, { maxRecords: 1 });
      // Not there: expired from the stream, so is everything before it.
      if (last?.offset === publishFrom - 1) from = Math.min(publishFrom, await this.o.stream.offsetForTime(this.o.topic, p, last.appendTime - this.active.warmUpMs));
    }
    this.parts.set(p, { next: from, publishFrom, done: from >= publishFrom ? publishFrom : -1 });
    this.consumer.seek({ partition: p, offset: from });
    this.epoch++;
  }

  /** Loads the active model; true when another one (or none) took over. */
  private async checkModel(): Promise<boolean> {
    let model: ActiveModel | undefined;
    try {
      model = await this.o.loadActive();
    } catch (err) {
      this.logger.warn(errorFields(err), 'could not load the active model; scoring on with the one it has');
      return false;
    }
    if (model?.name === this.active?.name && model?.version === this.active?.version) return false;
    if (!model) {
      this.active = undefined;
      this.scorer = undefined;
      this.refused = undefined;
      this.seen.clear();
      this.drift = {};
      this.driftAlertOpen = false;
      if (!this.idleLogged) this.logger.info({ group: this.o.group }, 'no active model: scoring idles until one is activated');
      this.idleLogged = true;
      return true;
    }
    const ref = `${model.name}@${model.version}`;
    if (ref === this.refused) return false;
    let active: ActiveModel & { ref: string; warmUpMs: number };
    let scorer: OnlineScorer;
    try {
      active = { ...model, ref, warmUpMs: warmUpMs(model.artifact) };
      scorer = this.newScorer(active);
    } catch (err) {
      // Once per version: tried again only when another version becomes active.
      this.refused = ref;
      this.logger.error({ ...errorFields(err), model: ref, scoring: this.active?.ref ?? null }, 'the active model cannot score telemetry (no online spec?); scoring on with the previous one, if any');
      return false;
    }
    this.logger.info({ model: active.ref, previous: this.active?.ref ?? null, warmUpMs: active.warmUpMs }, 'scoring with the active model');
    this.active = active;
    this.refused = undefined;
    this.useScorer(scorer);
    this.drift = {};
    this.idleLogged = false;
    return true;
  }

  private newScorer(active: ActiveModel & { ref: string }): OnlineScorer {
    return this.o.createScorer(active.artifact, { model: active.ref, context: (device) => this.devices.get(device)?.context, driftWindow: this.o.driftWindow });
  }

  /** A new scorer holds no machine: every one is seeded again at first sight. */
  private useScorer(scorer: OnlineScorer): void {
    this.scorer = scorer;
    this.seen.clear();
    this.skippedSeen = {};
  }

  // --- devices --------------------------------------------------------------------------------

  private kindOf(device: string, tags: Record<string, string> | undefined): DeviceKind | undefined {
    const known = this.devices.get(device);
    if (known) return known.kind;
    this.unknownSeen = true;
    const kind = tags?.kind;
    return kind === 'machine' || kind === 'patient' || kind === 'sensor' ? kind : undefined;
  }

  private async loadDirectory(): Promise<void> {
    this.directoryAt = Date.now();
    this.unknownSeen = false;
    const rows = await this.o.db.kysely.selectFrom('devices').select(['id', 'kind', 'metadata', 'tags']).execute();
    const devices = new Map<string, { kind: DeviceKind; context: DeviceContext }>();
    // As the predict route sees a device: metadata, overridden by its latest tags.
    for (const r of rows) devices.set(r.id, { kind: r.kind, context: deviceContext({ id: r.id, metadata: isRecord(r.metadata) ? r.metadata : {}, tags: r.tags }) });
    this.devices = devices;
  }

  // --- drift and lag --------------------------------------------------------------------------

  /**
   * PSI for the gauges on every member; the `ml-drift` alert decided by the member holding
   * partition 0 only, against the alert's state in the database (not a flag of its own: another
   * member or an operator may have changed it).
   */
  private async evaluateDrift(): Promise<void> {
    if (!this.scorer || !this.active) return;
    const drift = this.scorer.drift();
    this.drift = drift;
    if (!this.consumer.assignment().includes(0)) {
      this.driftAlertOpen = false;
      return;
    }
    this.driftAlertOpen = await this.driftAlertIsOpen(this.active.name);
    const entries = Object.entries(drift);
    if (entries.length === 0) return; // not enough rows yet: neither drift nor its absence is known
    const over = entries.filter(([, psi]) => psi > this.o.driftThreshold).sort((a, b) => b[1] - a[1]);
    if (over.length > 0 === this.driftAlertOpen) return;
    const round = (x: number) => Math.round(x * 1000) / 1000;
    const worst = over[0] ?? entries.reduce((a, b) => (b[1] > a[1] ? b : a));
    const { events, seqs } = await applySystemAlerts(this.o.db, [
      {
        kind: over.length > 0 ? 'raise' : 'clear',
        ruleId: DRIFT_RULE_ID,
        title: `Feature drift on model ${this.active.name}`,
        device: driftDevice(this.active.name),
        deviceKind: 'machine',
        severity: 'medium',
        ts: this.now(),
        metric: 'psi',
        value: round(worst[1]),
        details: { model: this.active.ref, threshold: this.o.driftThreshold, window: this.o.driftWindow, features: Object.fromEntries((over.length > 0 ? over : entries).map(([f, psi]) => [f, round(psi)])) },
      },
    ]);
    this.driftAlertOpen = over.length > 0;
    this.publisher?.publish(events, seqs);
    this.logger.warn({ model: this.active.ref, drifted: over.map(([f]) => f), threshold: this.o.driftThreshold }, over.length > 0 ? 'feature drift: ml-drift alert opened' : 'features back under the drift threshold: ml-drift alert resolved');
  }

  private async driftAlertIsOpen(name: string): Promise<boolean> {
    const row = await this.o.db.kysely.selectFrom('alerts').select('id').where('rule_id', '=', DRIFT_RULE_ID).where('device_id', '=', driftDevice(name)).where('status', '<>', 'resolved').executeTakeFirst();
    return row !== undefined;
  }

  private async refreshLag(): Promise<void> {
    const info = await this.o.stream.describe(this.o.topic);
    let lag = 0;
    for (const p of info.partitions) {
      const part = this.parts.get(p.partition);
      if (part) lag += Math.max(0, p.endOffset - Math.max(part.next, part.publishFrom, p.startOffset));
    }
    this.lagRecords = lag;
  }
}

/** Starts the scoring role (see the header comment for its guarantees). */
export async function startScoring(opts: ScoringOptions): Promise<ScoringRole> {
  const role = new ScoringImpl(opts);
  await role.start();
  return role;
}
