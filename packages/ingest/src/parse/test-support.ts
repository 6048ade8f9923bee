/**
 * Test-only helpers shared by the parse tests: fast-check arbitraries for valid events, the
 * serialisers that write them in each payload format, and a checker for parser output.
 */
import fc from 'fast-check';
import { DEFAULT_INGEST_LIMITS, DEVICE_ID_PATTERN, EVENT_ID_PATTERN, METRIC_NAME_PATTERN, TAG_KEY_PATTERN, type IngestLimits } from '@strata/core';
import type { ParsedEvent } from './types.js';

export const NOW_MS = Date.UTC(2025, 11, 4, 12, 30, 0);
export const limits: IngestLimits = { ...DEFAULT_INGEST_LIMITS };
export const ctx = { nowMs: NOW_MS, limits };

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-';
const idChar = fc.constantFrom(...ID_ALPHABET);
const nameChar = fc.constantFrom(...ID_ALPHABET, '/');

export const deviceArb = fc.string({ unit: idChar, minLength: 1, maxLength: 24 });
/** Metric names, including the awkward ones: integer-like keys, Object.prototype names. */
export const metricNameArb = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: nameChar, minLength: 1, maxLength: 20 }) },
  { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', '0', '1', '10', '007') },
);
/** Finite doubles; -0 becomes 0 (JSON has no negative zero). */
export const metricValueArb = fc.double({ noNaN: true, noDefaultInfinity: true }).map((v) => (Object.is(v, -0) ? 0 : v));
/** Any UTF-16 code unit, weighted towards the ones JSON escaping cares about; lone surrogates included. */
const codeUnit = fc.oneof(
  fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 1 }),
  fc.constantFrom('"', '\\', '\n', '\u0000', '\u001f', '\u007f', '\u2028', 'é', '🏥', '\ud800', '\udfff'),
  fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
);
export const anyStringArb = (maxLength: number) => fc.string({ unit: codeUnit, maxLength });

function objectOf<T>(entries: [string, T][]): Record<string, T> {
  return Object.fromEntries(entries) as Record<string, T>;
}

export const metricsArb = (names = metricNameArb) =>
  fc.uniqueArray(fc.tuple(names, metricValueArb), { minLength: 1, maxLength: 8, selector: (e) => e[0] }).map(objectOf);

/** Any text a tag value may hold: everything but control characters and lone surrogates. */
const tagValueArb = anyStringArb(40).map((s) => s.replace(/[\u0000-\u001f\u007f]/g, '').toWellFormed());

export const tagsArb = fc
  .uniqueArray(fc.tuple(fc.string({ unit: nameChar, minLength: 1, maxLength: 20 }), tagValueArb), { minLength: 1, maxLength: 5, selector: (e) => e[0] })
  .map(objectOf);

export const tsArb = fc.integer({ min: limits.minTimestampMs, max: NOW_MS + limits.maxFutureMs });

export interface EventOptions {
  ids?: boolean;
  tags?: boolean;
  metricNames?: fc.Arbitrary<string>;
}

export function eventArb(opts: EventOptions = {}): fc.Arbitrary<ParsedEvent> {
  return fc
    .record({
      id: opts.ids === false ? fc.constant(undefined) : fc.option(fc.string({ unit: idChar, minLength: 1, maxLength: 36 }), { nil: undefined }),
      device: deviceArb,
      tsMs: tsArb,
      metrics: metricsArb(opts.metricNames),
      tags: opts.tags === false ? fc.constant(undefined) : fc.option(tagsArb, { nil: undefined }),
    })
    .map(({ id, device, tsMs, metrics, tags }) => {
      const ev: ParsedEvent = { device, tsMs, metrics };
      if (id !== undefined) ev.id = id;
      if (tags !== undefined) ev.tags = tags;
      return ev;
    });
}

/** Field names the flat shape reserves; a metric with one of these names needs the canonical shape. */
export const FLAT_RESERVED = new Set(['sensorId', 'deviceId', 'device', 'timestamp', 'ts', 'id', 'tags', 'metrics']);

/** RFC 3339 text of `ms` at a UTC offset of `offsetMin` minutes, with 0-3 fraction digits kept. */
export function rfc3339(ms: number, offsetMin: number): string {
  const local = new Date(ms + offsetMin * 60_000).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  const base = local.slice(0, 19);
  const frac = local.slice(20, 23).replace(/0+$/, '');
  if (offsetMin === 0) return `${base}${frac ? '.' + frac : ''}Z`;
  const sign = offsetMin > 0 ? '+' : '-';
  const abs = Math.abs(offsetMin);
  const off = `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
  return `${base}${frac ? '.' + frac : ''}${off}`;
}

export const offsetArb = fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 });

/** One event in the canonical shape, time as Unix ms or RFC 3339. */
export function canonicalItem(ev: ParsedEvent, time: 'ms' | number): Record<string, unknown> {
  const item: Record<string, unknown> = {};
  if (ev.id !== undefined) item.id = ev.id;
  item.device = ev.device;
  item.ts = time === 'ms' ? ev.tsMs : rfc3339(ev.tsMs, time);
  item.metrics = ev.metrics;
  if (ev.tags !== undefined) item.tags = ev.tags;
  return item;
}

/** One event in the seed-002 flat shape (metric names must avoid FLAT_RESERVED). */
export function flatItem(ev: ParsedEvent, deviceField: 'sensorId' | 'deviceId' | 'device', time: 'ms' | number): Record<string, unknown> {
  const entries: [string, unknown][] = [[deviceField, ev.device]];
  entries.push(['timestamp', time === 'ms' ? ev.tsMs : rfc3339(ev.tsMs, time)]);
  if (ev.id !== undefined) entries.push(['id', ev.id]);
  if (ev.tags !== undefined) entries.push(['tags', ev.tags]);
  for (const [k, v] of Object.entries(ev.metrics)) entries.push([k, v]);
  return Object.fromEntries(entries);
}

/** Events without ids and tags as a SenML pack, using base fields where they help. */
export function senmlPack(events: ParsedEvent[]): Record<string, unknown>[] {
  const pack: Record<string, unknown>[] = [];
  let bn: string | undefined;
  for (const ev of events) {
    let first = true;
    for (const [n, v] of Object.entries(ev.metrics)) {
      const rec: Record<string, unknown> = {};
      if (first && bn !== `${ev.device}:`) rec.bn = bn = `${ev.device}:`;
      rec.n = n;
      rec.v = v;
      if (first) rec.bt = ev.tsMs / 1000;
      first = false;
      pack.push(rec);
    }
  }
  return pack;
}

/** Problems with an event the parser returned as valid (empty when it is valid). */
export function eventProblems(ev: ParsedEvent, nowMs: number, lim: IngestLimits): string[] {
  const out: string[] = [];
  if (!DEVICE_ID_PATTERN.test(ev.device)) out.push('device');
  if (ev.id !== undefined && !EVENT_ID_PATTERN.test(ev.id)) out.push('id');
  if (!Number.isInteger(ev.tsMs) || ev.tsMs < lim.minTimestampMs || ev.tsMs > nowMs + lim.maxFutureMs) out.push('tsMs');
  const names = Object.keys(ev.metrics);
  if (names.length < 1 || names.length > lim.maxMetricsPerEvent) out.push('metric count');
  for (const k of names) {
    if (!METRIC_NAME_PATTERN.test(k)) out.push(`metric name ${k}`);
    if (typeof ev.metrics[k] !== 'number' || !Number.isFinite(ev.metrics[k])) out.push(`metric value ${k}`);
  }
  if (ev.tags !== undefined) {
    const keys = Object.keys(ev.tags);
    if (keys.length < 1 || keys.length > lim.maxTagsPerEvent) out.push('tag count');
    for (const k of keys) {
      if (!TAG_KEY_PATTERN.test(k)) out.push(`tag key ${k}`);
      const v = ev.tags[k];
      if (typeof v !== 'string' || v.length > lim.maxTagValueLength) out.push(`tag value ${k}`);
    }
  }
  return out;
}
