/**
 * The notifier: alert events (topic `alerts`) → rows in `notifications` → webhook and email sends.
 *
 * Intake: a consumer group reads AlertEvent JSON. Each `opened`, `escalated` or `resolved` event
 * gets a row per route its severity passes, due now or, for a non-critical event, at the end of
 * the channel's quiet hours; a critical `opened`/`escalated` event of a rule with an escalation
 * also gets a row per escalation channel (event id `<id>:escalation`), due `afterSeconds` after
 * the alert opened (plan.ts). A batch's rows go in with one statement per 1000 rows.
 *
 * Delivery: every `pollMs` (or `runDue()`), a pass claims due pending rows, oldest first, 100 at
 * a time, sends at most 8 at once, and settles each one: delivered; cancelled (an escalation whose
 * alert is no longer open when it comes due; nothing is sent); or a failed attempt.
 *
 * Invariants
 * 1. At-least-once intake: stream offsets are committed only after the batch's rows are in the
 *    database. A crash in between re-reads the batch.
 * 2. Unique rows: (event_id, channel) is unique and inserts are ON CONFLICT DO NOTHING, so a
 *    re-read makes no new rows and sends nothing twice.
 * 3. The stream never blocks on bad data: records that are not AlertEvent JSON and routes to
 *    channels not configured are counted, warned about once per batch and skipped. A failing
 *    `settingsFor` or database retries the same batch (backoff, 200 ms → 30 s), committing nothing.
 * 4. Retry policy: after failed attempt n the row is due at now + min(maxMs, minMs·2^(n-1)) ±20 %
 *    (moved past quiet hours unless critical or an escalation); at maxAttempts it is dead, kept
 *    for `listNotifications` and `retryNotification`.
 * 5. One pass at a time. A pass claims rows by moving their next attempt 10 minutes on (a lease):
 *    if the process dies mid-send, or the database fails before the outcome is written, the row
 *    comes due again then. Sends are therefore at least once; receivers dedupe on the delivery id
 *    (`x-strata-delivery`). A stop gives the claimed rows not yet sent back at once.
 * 6. Scheduling (quiet hours, escalation, retries) uses `now()`; the webhook signature timestamp
 *    is the wall clock, as the receiver checks it against its own.
 */
import { Sleeps, StrataError } from '@strata/core';
import type { NotificationRow } from '@strata/db';
import type { Consumer, StreamRecord } from '@strata/stream';
import type { NotifyChannel, RuleNotifySettings } from '../types.js';
import { EmailSender } from './email.js';
import { notifyErrors } from './errors.js';
import { parseAlertEvent, type NotifyPayload } from './event.js';
import { resolveOptions, type NotifierSettings } from './options.js';
import { Outage, loopBackoff } from './outage.js';
import { notBefore, notifies, planNotifications, type PlannedRow } from './plan.js';
import { alertStatus, claimDue, countPending, insertRows, release, settle } from './store.js';
import type { Notifier, NotifierOptions, NotifierStats } from './types.js';
import { sendWebhook } from './webhook.js';

const READ_BATCH = 500;
const READ_WAIT_MS = 500;
const CLAIM_BATCH = 100;
const CONCURRENCY = 8;
const LEASE_MS = 10 * 60_000;
const LOOP_RETRY = { minMs: 200, maxMs: 30_000 };
const STOP_TIMEOUT_MS = 5_000;
const MAX_ERROR_CHARS = 300;
const MAX_LOGGED_NAMES = 10;

class NotifierImpl implements Notifier {
  private readonly s: Readonly<NotifierSettings>;
  private consumer!: Consumer;
  private readonly email: EmailSender;
  private readonly secrets: string[];
  private readonly counters = { delivered: 0, failedAttempts: 0, dead: 0, cancelled: 0, invalid: 0, unknownChannel: 0 };
  private queued = 0;
  private readonly sleeps = new Sleeps();
  private readonly abort = new AbortController();
  private readonly intakeOutage: Outage;
  private readonly deliveryOutage: Outage;
  private stopping = false;
  /** Set when stop() gave up waiting: sends in flight are aborted and their outcome not written. */
  private abandoned = false;
  private pass: Promise<void> | undefined;
  private nextPass: Promise<void> | undefined;
  private loops: Promise<unknown> = Promise.resolve();
  private stopPromise: Promise<void> | undefined;

  constructor(opts: NotifierOptions) {
    this.s = resolveOptions(opts);
    this.email = new EmailSender(this.s.smtp);
    // Webhook URLs count as secrets too: many carry a token in their path.
    const channelSecrets = Object.values(this.s.channels).flatMap((c) => (c.type === 'webhook' ? [c.url, c.secret] : []));
    this.secrets = [...channelSecrets, this.s.smtp?.password ?? ''].filter((x) => x.length >= 4).sort((a, b) => b.length - a.length);
    this.intakeOutage = new Outage(this.s.logger, 'intake');
    this.deliveryOutage = new Outage(this.s.logger, 'delivery');
  }

  async start(): Promise<void> {
    this.consumer = await this.s.stream.consumer({ topic: this.s.topic, group: this.s.group });
    this.loops = Promise.allSettled([this.intakeLoop(), this.deliveryLoop()]);
    this.s.logger.info({ topic: this.s.topic, group: this.s.group, channels: Object.keys(this.s.channels) }, 'notifier started');
  }

  stats(): NotifierStats {
    return { ...this.counters, queued: this.queued };
  }

  runDue(): Promise<void> {
    if (this.stopping) return Promise.resolve();
    if (!this.pass) {
      this.pass = this.runPass().finally(() => (this.pass = undefined));
      return this.pass;
    }
    // A pass is running: one more follows it, for everyone who asks meanwhile.
    this.nextPass ??= this.pass
      .catch(() => undefined)
      .then(() => {
        this.nextPass = undefined;
        return this.runDue();
      });
    return this.nextPass;
  }

  stop(): Promise<void> {
    this.stopPromise ??= this.shutdown();
    return this.stopPromise;
  }

  private async shutdown(): Promise<void> {
    this.stopping = true;
    this.sleeps.wakeAll();
    const all = Promise.allSettled([this.loops, this.pass, this.nextPass]);
    if (!(await settledWithin(all, STOP_TIMEOUT_MS))) {
      this.abandoned = true;
      this.abort.abort();
      this.s.logger.warn({ timeoutMs: STOP_TIMEOUT_MS }, 'notifier stopped with sends in flight; they are retried after their lease');
      await settledWithin(all, 1_000);
    }
    await this.consumer.close().catch((err: unknown) => this.s.logger.debug({ err }, 'stream consumer close failed'));
    this.email.close();
    this.s.logger.info({ ...this.counters }, 'notifier stopped');
  }

  // --- intake ---------------------------------------------------------------------------------

  private async intakeLoop(): Promise<void> {
    let batch: StreamRecord[] | undefined;
    while (!this.stopping) {
      try {
        batch ??= await this.consumer.read({ maxRecords: READ_BATCH, maxWaitMs: READ_WAIT_MS });
        if (batch.length > 0 && !this.stopping) await this.ingest(batch);
        batch = undefined;
        this.intakeOutage.recovered();
      } catch (err) {
        if (this.stopping) break;
        // The batch is kept and ingested again: nothing was committed.
        await this.sleeps.sleep(loopBackoff(this.intakeOutage.failed(err), LOOP_RETRY.minMs, LOOP_RETRY.maxMs));
      }
    }
  }

  /** Rows for a batch of records, inserted, then the offsets committed (invariants 1-3). */
  private async ingest(records: StreamRecord[]): Promise<void> {
    const rows = new Map<string, PlannedRow>();
    const invalid: { partition: number; offset: number; reason: string }[] = [];
    const unknown: string[] = [];
    const ends = new Map<number, number>();
    const settings = new Map<string, RuleNotifySettings | undefined>();
    for (const record of records) {
      ends.set(record.partition, Math.max(ends.get(record.partition) ?? 0, record.offset + 1));
      const parsed = parseAlertEvent(record.value);
      if ('reason' in parsed) {
        invalid.push({ partition: record.partition, offset: record.offset, reason: parsed.reason });
        continue;
      }
      const event = parsed.event;
      if (!notifies(event)) continue;
      const key = `${event.rule_id}@${event.rule_version}`;
      if (!settings.has(key)) settings.set(key, await this.s.settingsFor(event.rule_id, event.rule_version));
      const plan = planNotifications(event, settings.get(key), this.s.channels, this.s.now());
      for (const row of plan.rows) rows.set(`${row.eventId}\n${row.channel}`, row);
      unknown.push(...plan.unknown);
    }
    const inserted = await insertRows(this.s.db, [...rows.values()]);
    this.counters.invalid += invalid.length;
    this.counters.unknownChannel += unknown.length;
    if (invalid.length > 0) {
      const first = invalid[0]!;
      this.s.logger.warn({ topic: this.s.topic, count: invalid.length, ...first }, 'skipped records that are not alert events');
    }
    if (unknown.length > 0) {
      const channels = [...new Set(unknown)].slice(0, MAX_LOGGED_NAMES).map((c) => c.slice(0, 64));
      this.s.logger.warn({ count: unknown.length, channels, code: notifyErrors.STRATA_ERR_NOTIFY_UNKNOWN_CHANNEL.code }, 'skipped notification routes to channels that are not configured');
    }
    const owned = new Set(this.consumer.assignment());
    const positions = [...ends].filter(([p]) => owned.has(p)).map(([partition, offset]) => ({ partition, offset }));
    try {
      await this.consumer.commit(positions);
    } catch (err) {
      this.s.logger.debug({ err }, 'stream commit failed (rows are unique: a re-read adds none)');
    }
    this.s.logger.debug({ records: records.length, rows: rows.size, inserted }, 'alert events taken in');
  }

  // --- delivery -------------------------------------------------------------------------------

  private async deliveryLoop(): Promise<void> {
    let delay = this.s.pollMs;
    while (!this.stopping) {
      await this.sleeps.sleep(delay);
      if (this.stopping) break;
      try {
        await this.runDue();
        this.deliveryOutage.recovered();
        delay = this.s.pollMs;
      } catch (err) {
        if (this.stopping) break;
        delay = Math.max(this.s.pollMs, loopBackoff(this.deliveryOutage.failed(err), LOOP_RETRY.minMs, LOOP_RETRY.maxMs));
      }
    }
  }

  private async runPass(): Promise<void> {
    for (let full = true; full && !this.stopping; ) {
      const now = this.s.now();
      const rows = await claimDue(this.s.db, now, now + LEASE_MS, CLAIM_BATCH);
      await this.sendAll(rows);
      full = rows.length === CLAIM_BATCH;
    }
    if (!this.abandoned) this.queued = await countPending(this.s.db);
  }

  /** Sends claimed rows, CONCURRENCY at a time; on stop, gives back the ones not started. */
  private async sendAll(rows: NotificationRow[]): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < rows.length && !this.stopping) await this.deliver(rows[next++]!);
    };
    const results = await Promise.allSettled(Array.from({ length: Math.min(CONCURRENCY, rows.length) }, worker));
    if (next < rows.length && !this.abandoned) await release(this.s.db, rows.slice(next).map((r) => r.id), this.s.now());
    const failure = results.find((r) => r.status === 'rejected');
    if (failure) throw failure.reason;
  }

  private async deliver(row: NotificationRow): Promise<void> {
    const payload = row.payload as unknown as NotifyPayload;
    const ch = Object.hasOwn(this.s.channels, row.channel) ? this.s.channels[row.channel] : undefined;
    if (payload.escalation) {
      const status = await alertStatus(this.s.db, row.alert_id);
      if (status !== undefined && status !== 'open') {
        await settle(this.s.db, row.id, { status: 'cancelled', attempts: row.attempts, lastError: `not sent: the alert was ${status} before the escalation was due` });
        this.counters.cancelled++;
        this.s.logger.debug({ notification: row.id, alertId: row.alert_id, channel: row.channel, status }, 'escalation cancelled');
        return;
      }
    }
    const attempt = row.attempts + 1;
    try {
      if (!ch) throw notifyErrors.STRATA_ERR_NOTIFY_UNKNOWN_CHANNEL({ channel: row.channel });
      if (ch.type === 'webhook') await sendWebhook(ch, { id: row.id, attempt, payload }, this.abort.signal);
      else await this.email.send(row.channel, ch, payload);
    } catch (err) {
      if (this.abandoned) return; // stop gave up on it: the lease brings it back
      await this.failedAttempt(row, ch, payload, attempt, this.reason(err));
      return;
    }
    await settle(this.s.db, row.id, { status: 'delivered', attempts: attempt, lastError: null });
    this.counters.delivered++;
    this.s.logger.debug({ notification: row.id, alertId: row.alert_id, channel: row.channel, attempt }, 'notification delivered');
  }

  private async failedAttempt(row: NotificationRow, ch: NotifyChannel | undefined, payload: NotifyPayload, attempt: number, reason: string): Promise<void> {
    this.counters.failedAttempts++;
    const where = { notification: row.id, alertId: row.alert_id, channel: row.channel, attempts: attempt, lastError: reason };
    if (attempt >= this.s.maxAttempts) {
      await settle(this.s.db, row.id, { status: 'dead', attempts: attempt, lastError: reason });
      this.counters.dead++;
      this.s.logger.warn(where, 'notification dead after its last attempt');
      return;
    }
    const base = Math.min(this.s.retryMaxMs, this.s.retryMinMs * 2 ** Math.min(attempt - 1, 30));
    const due = this.s.now() + Math.round(base * (0.8 + Math.random() * 0.4));
    await settle(this.s.db, row.id, { status: 'pending', attempts: attempt, lastError: reason, nextAttempt: ch ? notBefore(ch, payload, due) : due });
    this.s.logger.debug(where, 'notification attempt failed; retrying later');
  }

  /** A failure as stored in last_error and logged: short, secrets masked. */
  private reason(err: unknown): string {
    let text = err instanceof StrataError ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
    for (const secret of this.secrets) text = text.split(secret).join('[redacted]');
    return text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS - 1)}…` : text;
  }
}

async function settledWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const done = await Promise.race([p.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)))]);
  clearTimeout(timer);
  return done;
}

/** Starts the notifier (see the header comment for its guarantees). Rejects on bad options. */
export async function startNotifier(opts: NotifierOptions): Promise<Notifier> {
  const notifier = new NotifierImpl(opts);
  await notifier.start();
  return notifier;
}
