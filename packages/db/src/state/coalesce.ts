/**
 * Coalescing: many telemetry records in, one row per key out, so a batch of any size is a
 * handful of set-based statements (write.ts) and every key appears once per statement.
 *
 * - device: last_seen = greatest event time; tags merged in stream order (later events win);
 *   kind (used only when the device is new) from the merged tag `kind` when it is a device kind.
 * - (device, metric): the latest value, by greatest event time; on a tie the higher stream offset.
 * - (device, metric, UTC minute of the event time): count, min, max, sum, sum of squares; events
 *   of a day before `firstRollupDay` get none (counted as too old).
 * - Events re-published by `strata replay` (top-level `"replay": true`) update devices and latest
 *   values like any other (both are idempotent) but get no rollup: the original event was counted
 *   when it first came, and adding it again would double its minute's count and sum.
 *
 * Records that are not a well-formed TelemetryEvent are counted and skipped. Validation is
 * strict enough that whatever passes is accepted by PostgreSQL (no NUL, no lone surrogate in
 * text or JSON, finite numbers, times in timestamptz's range): one bad record must never make a
 * whole batch fail over and over.
 */
import { DEVICE_ID_PATTERN, EVENT_ID_PATTERN, METRIC_NAME_PATTERN, TAG_KEY_PATTERN } from '@strata/core';
import { DEVICE_KINDS, type DeviceKind } from '../schema.js';
import { DAY_MS, utcDay } from './partitions.js';

/** The part of a TelemetryEvent the state consumer uses, validated. */
export interface StateEvent {
  id: string;
  device: string;
  tsMs: number;
  metrics: Record<string, number>;
  tags: Record<string, string> | undefined;
  /** Re-published by replay (`"replay": true`): no rollup. */
  replay: boolean;
}

/** 0001-01-01 and 9999-12-31: ISO 8601 without an expanded year, inside timestamptz's range. */
const MIN_TS_MS = -62_135_596_800_000;
const MAX_TS_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
/** NUL, or a UTF-16 surrogate without its pair: PostgreSQL refuses both in text and jsonb. */
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Names already checked against their pattern: a fleet repeats the same few thousand devices and
 * metrics millions of times, and a regex test per name per event was a third of the parse cost.
 * Bounded: cleared when it grows past `NAME_CACHE_MAX`.
 */
const NAME_CACHE_MAX = 100_000;
/** One cache per pattern: a valid metric name (`/` allowed) is not thereby a valid device id. */
function nameChecker(pattern: RegExp): (name: string) => boolean {
  const valid = new Set<string>();
  return (name) => {
    if (valid.has(name)) return true;
    if (!pattern.test(name)) return false;
    if (valid.size >= NAME_CACHE_MAX) valid.clear();
    valid.add(name);
    return true;
  };
}
const validDevice = nameChecker(DEVICE_ID_PATTERN);
const validMetric = nameChecker(METRIC_NAME_PATTERN);

/** Parses one record's value; a string is the reason it is not an event. */
export function parseEvent(value: Uint8Array): StateEvent | string {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8'));
  } catch {
    return 'not JSON';
  }
  if (!isPlainObject(doc)) return 'not a JSON object';
  const { id, device, ts, metrics, tags, replay } = doc;
  if (typeof device !== 'string' || !validDevice(device)) return 'device missing or invalid';
  if (typeof id !== 'string' || !EVENT_ID_PATTERN.test(id)) return 'id missing or invalid';
  const tsMs = typeof ts === 'string' ? Date.parse(ts) : NaN;
  if (!(tsMs >= MIN_TS_MS && tsMs <= MAX_TS_MS)) return 'ts missing or not a time';
  if (!isPlainObject(metrics)) return 'metrics missing or not an object';
  for (const name in metrics) {
    const v = metrics[name];
    if (typeof v !== 'number' || !Number.isFinite(v)) return 'a metric value is not a finite number';
    if (!validMetric(name)) return 'a metric name is invalid';
  }
  if (tags !== undefined) {
    if (!isPlainObject(tags)) return 'tags not an object';
    for (const key in tags) {
      const v = tags[key];
      if (typeof v !== 'string' || UNSTORABLE.test(v)) return 'a tag value is not a storable string';
      if (!TAG_KEY_PATTERN.test(key)) return 'a tag key is invalid';
    }
  }
  return { id, device, tsMs, metrics: metrics as Record<string, number>, tags: tags as Record<string, string> | undefined, replay: replay === true };
}

export interface DeviceRow {
  id: string;
  /** Kind to insert a new device with (an existing device keeps its own). */
  kind: DeviceKind;
  tags: Record<string, string>;
  lastSeenMs: number;
}

export interface LatestRow {
  device: string;
  metric: string;
  tsMs: number;
  value: number;
  eventId: string;
}

export interface RollupRow {
  device: string;
  metric: string;
  minuteMs: number;
  count: number;
  min: number;
  max: number;
  sum: number;
  sumSq: number;
}

export interface InvalidRecord {
  partition: number;
  offset: number;
  reason: string;
}

interface RollupAcc {
  count: number;
  min: number;
  max: number;
  sum: number;
  sumSq: number;
}

interface MetricAcc {
  tsMs: number;
  partition: number;
  offset: number;
  value: number;
  eventId: string;
  minutes: Map<number, RollupAcc>;
}

interface DeviceAcc {
  lastSeenMs: number;
  /** A Map, not an object: a tag named `__proto__` is data here. */
  tags: Map<string, string> | undefined;
  metrics: Map<string, MetricAcc>;
}

const isKind = (v: string | undefined): v is DeviceKind => (DEVICE_KINDS as readonly string[]).includes(v as string);
const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** One batch being coalesced. `add` runs per record and allocates per key, not per event. */
export class Coalescer {
  readonly #devices = new Map<string, DeviceAcc>();
  readonly #firstRollupMs: number;
  events = 0;
  tooOld = 0;
  /** Replayed events: applied to devices and latest values, not to rollups. */
  replayed = 0;
  readonly invalid: InvalidRecord[] = [];
  /** UTC days that get rollups in this batch (their partitions must exist). */
  readonly days = new Set<number>();

  constructor(opts: { firstRollupDay: number }) {
    this.#firstRollupMs = opts.firstRollupDay * DAY_MS;
  }

  add(record: { partition: number; offset: number; value: Uint8Array }): void {
    const ev = parseEvent(record.value);
    if (typeof ev === 'string') {
      this.invalid.push({ partition: record.partition, offset: record.offset, reason: ev });
      return;
    }
    this.addEvent(ev, record.partition, record.offset);
  }

  addEvent(ev: StateEvent, partition: number, offset: number): void {
    this.events++;
    let device = this.#devices.get(ev.device);
    if (!device) {
      device = { lastSeenMs: ev.tsMs, tags: undefined, metrics: new Map() };
      this.#devices.set(ev.device, device);
    } else if (ev.tsMs > device.lastSeenMs) {
      device.lastSeenMs = ev.tsMs;
    }
    if (ev.tags) {
      device.tags ??= new Map();
      for (const key in ev.tags) device.tags.set(key, ev.tags[key]!);
    }
    const rollup = !ev.replay && ev.tsMs >= this.#firstRollupMs;
    if (rollup) this.days.add(utcDay(ev.tsMs));
    else if (ev.replay) this.replayed++;
    else this.tooOld++;
    const minuteMs = Math.floor(ev.tsMs / 60_000) * 60_000;
    for (const name in ev.metrics) {
      const value = ev.metrics[name]!;
      let m = device.metrics.get(name);
      if (!m) {
        m = { tsMs: ev.tsMs, partition, offset, value, eventId: ev.id, minutes: new Map() };
        device.metrics.set(name, m);
      } else if (ev.tsMs > m.tsMs || (ev.tsMs === m.tsMs && (partition !== m.partition || offset > m.offset))) {
        m.tsMs = ev.tsMs;
        m.partition = partition;
        m.offset = offset;
        m.value = value;
        m.eventId = ev.id;
      }
      if (!rollup) continue;
      const r = m.minutes.get(minuteMs);
      if (!r) {
        m.minutes.set(minuteMs, { count: 1, min: value, max: value, sum: value, sumSq: value * value });
      } else {
        r.count++;
        if (value < r.min) r.min = value;
        if (value > r.max) r.max = value;
        r.sum += value;
        r.sumSq += value * value;
      }
    }
  }

  /** Rows, sorted by key (so concurrent writers lock rows in one order). */
  rows(): { devices: DeviceRow[]; latest: LatestRow[]; rollups: RollupRow[] } {
    const devices: DeviceRow[] = [];
    const latest: LatestRow[] = [];
    const rollups: RollupRow[] = [];
    for (const id of [...this.#devices.keys()].sort(byString)) {
      const d = this.#devices.get(id)!;
      const kind = d.tags?.get('kind');
      devices.push({ id, kind: isKind(kind) ? kind : 'sensor', tags: d.tags ? Object.fromEntries(d.tags) : {}, lastSeenMs: d.lastSeenMs });
      for (const metric of [...d.metrics.keys()].sort(byString)) {
        const m = d.metrics.get(metric)!;
        latest.push({ device: id, metric, tsMs: m.tsMs, value: m.value, eventId: m.eventId });
        for (const minuteMs of [...m.minutes.keys()].sort((a, b) => a - b)) {
          const r = m.minutes.get(minuteMs)!;
          rollups.push({ device: id, metric, minuteMs, count: r.count, min: r.min, max: r.max, sum: r.sum, sumSq: r.sumSq });
        }
      }
    }
    return { devices, latest, rollups };
  }
}
