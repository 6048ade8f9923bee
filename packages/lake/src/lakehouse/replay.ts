/**
 * Replay: re-publishes raw-zone events to the stream (backfills, recomputing alerts), keeping
 * their ids so nothing doubles downstream.
 *
 * - Only the partition prefixes covering [since, until) are listed, never the whole raw zone:
 *   whole years, months and days inside the window as one prefix each, hours at its edges.
 * - Every line is parsed; events whose event time is in [since, until) and whose device is in
 *   `devices` (when given) are appended in key (= time) order, `batchSize` at a time, with
 *   key = device, record id = event id and record ts = event time. The stream's dedup window by
 *   (key, id) drops what was appended moments ago, so a replay run twice in a row appends once.
 * - Each value is the raw line with a top-level `"replay": true` added before its closing brace:
 *   every other field keeps its exact text. The state consumer applies such events to devices and
 *   latest values (idempotent) but not to rollups; bronze drops them as duplicate event ids.
 * - Bad data never stops a replay: unparsable lines are counted (`invalid`), unreadable objects
 *   counted (`unreadable`), both logged per object. A failure of the store or the stream (or
 *   `signal` aborting) ends the run with `error` in the report; everything before `resumeSince`
 *   was appended, so running again from there continues.
 */
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { DEFAULT_INGEST_LIMITS, DEVICE_ID_PATTERN, EVENT_ID_PATTERN, silentLogger, StrataError, type Logger } from '@strata/core';
import { streamErrors, type AppendRecord, type Stream } from '@strata/stream';
import type { ObjectStore } from '@strata/storage';
import { lakeErrors } from '../errors.js';
import { hourPrefixes, objectHour } from '../delivery/layout.js';

const gunzipAsync = promisify(gunzip);

const HOUR_MS = 3_600_000;

/** Latest event time with a four-digit year, as in the raw zone. */
const MAX_TS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

export const REPLAY_DEFAULTS = Object.freeze({
  topic: 'telemetry',
  batchSize: 5000,
  /** Without `until`, hours up to now plus ingest's accepted clock skew are listed. */
  horizonMs: DEFAULT_INGEST_LIMITS.maxFutureMs,
  /** How long appends refused with STRATA_ERR_STREAM_FULL are retried (consumers catching up). */
  fullRetryMs: 60_000,
});

export interface ReplayOptions {
  store: ObjectStore;
  stream: Stream;
  /** Raw zone `raw/<topic>/` read and stream topic written. Default `telemetry`. */
  topic?: string;
  /** Unix ms: first event time replayed. */
  since: number;
  /** Unix ms: event times before it are replayed. Default: no upper bound (hours up to now + 24 h are listed). */
  until?: number;
  /** Only these devices (all when absent). */
  devices?: readonly string[];
  /** Records per append. Default 5000. */
  batchSize?: number;
  logger?: Logger;
  /** Stops the replay between objects and batches (server shutdown); its reason goes into the report's error. */
  signal?: AbortSignal;
  now?: () => number;
}

export interface ReplayReport {
  /** Raw objects read. */
  objects: number;
  /** Events selected (in the window, of the devices): `appended + duplicates` once the run is complete. */
  events: number;
  appended: number;
  /** Events the stream already held by (device, id) within its dedup window. */
  duplicates: number;
  /** Valid events outside the window or of other devices. */
  skipped: number;
  /** Lines that are not an event with a valid id, device and time. */
  invalid: number;
  /** Objects that could not be decompressed. */
  unreadable: number;
  /** Set when the run stopped before the end: appending again from `resumeSince` continues it. */
  error?: { code: string; message: string; resumeSince: string };
}

/** A replay window from user text: RFC 3339 times (or `YYYY-MM-DD`, UTC midnight), `until` after `since`. */
export function replayWindow(text: { since: string; until?: string | undefined }): { since: number; until?: number } {
  const since = parseLakeTime(text.since);
  if (since === undefined) throw lakeErrors.STRATA_ERR_LAKE_BAD_OPTION({ option: 'since', reason: `${JSON.stringify(text.since)} is not an RFC 3339 time` });
  if (text.until === undefined) return { since };
  const until = parseLakeTime(text.until);
  if (until === undefined) throw lakeErrors.STRATA_ERR_LAKE_BAD_OPTION({ option: 'until', reason: `${JSON.stringify(text.until)} is not an RFC 3339 time` });
  if (until <= since) throw lakeErrors.STRATA_ERR_LAKE_BAD_OPTION({ option: 'until', reason: 'must be after since' });
  return { since, until };
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?([Zz]|([+-])(\d{2}):(\d{2})))?$/;

/**
 * Unix ms of an RFC 3339 time (seconds optional) or a UTC date, as `strata replay` and `strata
 * lake run --since` take them; undefined when it is not one (no rollover: Feb 30 is refused).
 */
export function parseLakeTime(text: string): number | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h = 0, mi = 0, s = 0] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((v) => (v === undefined ? undefined : Number(v)));
  const ms = m[7] ? Math.floor(Number(m[7]) * 1000) : 0;
  if (h > 23 || mi > 59 || s > 59) return undefined;
  const local = Date.UTC(y!, mo! - 1, d!, h, mi, s, ms);
  const check = new Date(local);
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== mo! - 1 || check.getUTCDate() !== d) return undefined;
  let offsetMs = 0;
  if (m[9] !== undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return undefined;
    offsetMs = (m[9] === '-' ? -1 : 1) * (oh * 60 + om) * 60_000;
  }
  const t = local - offsetMs;
  return t >= 0 && t <= MAX_TS ? t : undefined;
}

type Line = { device: string; id: string; tsMs: number; value: string } | string;

/** One raw line as a replay record, or why it is not an event. */
function parseLine(text: string): Line {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return 'not a JSON object';
  const { id, device, ts, replay } = doc as Record<string, unknown>;
  if (typeof id !== 'string' || !EVENT_ID_PATTERN.test(id)) return 'id missing or invalid';
  if (typeof device !== 'string' || !DEVICE_ID_PATTERN.test(device)) return 'device missing or invalid';
  const tsMs = typeof ts === 'string' ? Date.parse(ts) : NaN;
  if (!Number.isFinite(tsMs)) return 'ts missing or not a time';
  // Splicing the flag in keeps every other field's text (numbers included) exactly as delivered.
  let value: string;
  if (replay === true) value = text;
  else if (replay === undefined) value = `${text.slice(0, -1)},"replay":true}`; // trimmed, and an object: ends with }
  else value = JSON.stringify({ ...(doc as object), replay: true });
  return { device, id, tsMs, value };
}

function errorOf(err: unknown): { code: string; message: string } {
  if (err instanceof StrataError) return { code: err.code, message: err.message };
  return { code: 'STRATA_ERR_LAKE_JOB_FAILED', message: err instanceof Error ? err.message : String(err) };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Re-publishes the raw events of [since, until) to the stream; see the header for the rules. */
export async function replayRaw(opts: ReplayOptions): Promise<ReplayReport> {
  const { store, stream, signal } = opts;
  const topic = opts.topic ?? REPLAY_DEFAULTS.topic;
  const batchSize = opts.batchSize ?? REPLAY_DEFAULTS.batchSize;
  const logger = opts.logger ?? silentLogger;
  const now = opts.now ?? Date.now;
  const bad = (option: string, reason: string) => lakeErrors.STRATA_ERR_LAKE_BAD_OPTION({ option, reason });
  if (!(Number.isInteger(opts.since) && opts.since >= 0 && opts.since <= MAX_TS)) throw bad('since', 'must be a time from 1970 to 9999');
  if (opts.until !== undefined && !(Number.isInteger(opts.until) && opts.until > opts.since)) throw bad('until', 'must be after since');
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw bad('batchSize', 'must be an integer ≥ 1');
  if (!/^[a-z0-9._-]{1,64}$/.test(topic)) throw bad('topic', `${JSON.stringify(topic)} is not a topic name`);

  const since = opts.since;
  const until = opts.until ?? Infinity;
  const devices = opts.devices ? new Set(opts.devices) : undefined;
  const fromHour = Math.floor(since / HOUR_MS) * HOUR_MS;
  const listUntil = Math.min(opts.until ?? now() + REPLAY_DEFAULTS.horizonMs, MAX_TS + 1);
  const toHour = Math.ceil(listUntil / HOUR_MS) * HOUR_MS;
  const prefixes = hourPrefixes('raw', topic, fromHour, toHour);
  const report: ReplayReport = { objects: 0, events: 0, appended: 0, duplicates: 0, skipped: 0, invalid: 0, unreadable: 0 };
  logger.info({ topic, since: new Date(since).toISOString(), until: opts.until === undefined ? null : new Date(opts.until).toISOString(), devices: devices?.size ?? 'all', prefixes: prefixes.length }, 'replay started');

  let batch: AppendRecord[] = [];
  /** Hour of the earliest object whose events are not all appended yet. */
  let pendingHour: number | undefined;

  const append = async (): Promise<void> => {
    const records = batch;
    const retryUntil = now() + REPLAY_DEFAULTS.fullRetryMs;
    for (let wait = 100; ; wait = Math.min(wait * 2, 5000)) {
      signal?.throwIfAborted();
      try {
        const r = await stream.append(topic, records);
        report.appended += r.appended;
        report.duplicates += r.duplicates;
        break;
      } catch (err) {
        if (!streamErrors.STRATA_ERR_STREAM_FULL.is(err) || now() >= retryUntil) throw err;
        logger.warn({ err: err.message, retryInMs: wait }, 'replay: the stream is full; waiting for consumers');
        await sleep(wait);
      }
    }
    batch = [];
    pendingHour = undefined;
  };

  const readObject = async (key: string, hour: number, body: Buffer | undefined): Promise<void> => {
    if (body === undefined) return; // deleted since it was listed (retention)
    report.objects++;
    let text: string;
    try {
      text = (await gunzipAsync(body)).toString('utf8');
    } catch (err) {
      report.unreadable++;
      logger.warn({ key, err: (err as Error).message }, 'replay: raw object unreadable; skipped');
      return;
    }
    let invalid = 0;
    let firstProblem: { line: number; reason: string } | undefined;
    let lineNo = 0;
    for (let start = 0; start < text.length; ) {
      let end = text.indexOf('\n', start);
      if (end < 0) end = text.length;
      const raw = text.slice(start, end).trim();
      start = end + 1;
      lineNo++;
      if (raw === '') continue;
      const line = parseLine(raw);
      if (typeof line === 'string') {
        invalid++;
        firstProblem ??= { line: lineNo, reason: line };
        continue;
      }
      if (line.tsMs < since || line.tsMs >= until || (devices && !devices.has(line.device))) {
        report.skipped++;
        continue;
      }
      report.events++;
      pendingHour ??= hour;
      batch.push({ key: line.device, id: line.id, ts: line.tsMs, value: Buffer.from(line.value, 'utf8') });
      if (batch.length >= batchSize) await append();
    }
    if (invalid > 0) {
      report.invalid += invalid;
      logger.warn({ key, invalid, first: firstProblem }, 'replay: invalid lines in a raw object; not replayed');
    }
  };

  let currentHour = fromHour;
  try {
    for (const prefix of prefixes) {
      // One object is fetched while the one before it is parsed and appended.
      let ahead: { key: string; hour: number; body: Promise<Buffer | undefined> } | undefined;
      for await (const info of store.list(prefix)) {
        const hour = objectHour(info.key);
        if (hour === undefined || hour < fromHour || hour >= toHour) continue;
        signal?.throwIfAborted();
        const next = { key: info.key, hour, body: store.get(info.key) };
        next.body.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile
        if (ahead) {
          currentHour = ahead.hour;
          await readObject(ahead.key, ahead.hour, await ahead.body);
        }
        ahead = next;
      }
      if (ahead) {
        currentHour = ahead.hour;
        await readObject(ahead.key, ahead.hour, await ahead.body);
      }
    }
    if (batch.length > 0) await append();
  } catch (err) {
    const stopped = signal?.aborted === true && err === signal.reason;
    const resumeSince = new Date(Math.max(since, pendingHour ?? currentHour)).toISOString();
    if (stopped) {
      const reason: unknown = signal.reason;
      report.error = { code: 'STRATA_ERR_LAKE_JOB_FAILED', message: `replay stopped: ${reason instanceof Error ? reason.message : String(reason)}`, resumeSince };
      logger.warn({ ...report }, 'replay stopped before the end; run it again from resumeSince');
    } else {
      report.error = { ...errorOf(err), resumeSince };
      logger.error({ ...report }, 'replay failed before the end; run it again from resumeSince');
    }
    return report;
  }
  logger.info({ ...report }, 'replay done');
  return report;
}
