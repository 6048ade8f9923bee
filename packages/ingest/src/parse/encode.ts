import { uuidv7 } from '@strata/core';
import type { AppendRecord } from '@strata/stream';
import { recordsFromColumns, type RecordColumns } from './columns.js';
import { isoString } from './time.js';
import type { ParsedEvent } from './types.js';

/**
 * Parsed events to stream records: the `TelemetryEvent` JSON (DESIGN.md "Event") with keys in
 * the order id, device, ts, metrics, tags?, received_at, source.
 *
 * The JSON is written byte by byte into one buffer per batch, and is byte-for-byte the UTF-8 of
 * what `JSON.stringify` gives for the same object (`encode.test.ts` checks that with fast-check):
 * - a string is copied between quotes when it is ASCII and no character needs escaping
 *   (nothing below U+0020, no `"` or `\`); otherwise `JSON.stringify` does it (which also
 *   handles lone surrogates exactly as it would in the whole object) and it is written as UTF-8;
 * - a finite number is `String(n)`, which is what `JSON.stringify` uses; non-finite is `null`;
 * - keys come from `for…in` over plain objects, the same order as `JSON.stringify`'s
 *   `Object.keys` (integer-like keys first, then insertion order).
 * - times go through `isoString`, a cached equivalent of `Date#toISOString`.
 * Writing bytes directly spares building and joining one string per event, and the buffer is
 * the batch's `values` column as it is: a worker transfers it without copying the values again.
 */

const ascii7 = (s: string): Uint8Array => Buffer.from(s, 'latin1');
const ID = ascii7('{"id":');
const DEVICE = ascii7(',"device":');
const TS = ascii7(',"ts":"');
const METRICS = ascii7('","metrics":{');
const TAGS = ascii7('},"tags":{');
/** Room for a typical event; the buffer doubles when a batch needs more. */
const BYTES_PER_EVENT = 256;

// The writers take the buffer and a position and return the new position. They never check
// the end: a typed array ignores writes past it, so an event is written, and only when its end
// is beyond the buffer is the buffer grown and the event written again. Everything stays in
// locals (module-level state cost a memory load and store per byte).

function putRaw(b: Buffer, p: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) b[p++] = bytes[i]!;
  return p;
}

/** A string known to be ASCII (numbers, times, UUIDs). */
function putAscii(b: Buffer, p: number, s: string): number {
  for (let i = 0; i < s.length; i++) b[p++] = s.charCodeAt(i);
  return p;
}

function putStr(b: Buffer, p: number, s: string): number {
  const start = p;
  b[p++] = 0x22;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || c >= 0x80) return putEscaped(b, start, s);
    b[p++] = c;
  }
  b[p++] = 0x22;
  return p;
}

function putEscaped(b: Buffer, p: number, s: string): number {
  const json = JSON.stringify(s);
  // Past the end, an upper bound of the UTF-8 length is enough: the event is written again.
  return p + 3 * json.length <= b.length ? p + b.write(json, p, 'utf8') : p + 3 * json.length;
}

function putNum(b: Buffer, p: number, n: number): number {
  return putAscii(b, p, Number.isFinite(n) ? String(n) : 'null');
}

function putEvent(b: Buffer, p: number, ev: ParsedEvent, id: string, suffix: Uint8Array): number {
  p = putRaw(b, p, ID);
  p = putStr(b, p, id);
  p = putRaw(b, p, DEVICE);
  p = putStr(b, p, ev.device);
  p = putRaw(b, p, TS);
  p = putAscii(b, p, isoString(ev.tsMs));
  p = putRaw(b, p, METRICS);
  let first = true;
  const m = ev.metrics;
  for (const k in m) {
    if (!first) b[p++] = 0x2c;
    p = putStr(b, p, k);
    b[p++] = 0x3a;
    p = putNum(b, p, m[k]!);
    first = false;
  }
  const tags = ev.tags;
  if (tags !== undefined) {
    p = putRaw(b, p, TAGS);
    first = true;
    for (const k in tags) {
      if (!first) b[p++] = 0x2c;
      p = putStr(b, p, k);
      b[p++] = 0x3a;
      p = putStr(b, p, tags[k]!);
      first = false;
    }
  }
  b[p++] = 0x7d;
  return putRaw(b, p, suffix);
}

/**
 * Encodes events for one append, as columns. `id` is the client's id or a UUIDv7 of `nowMs`;
 * only client ids go into the record id, so server-assigned ids never enter the stream's dedup
 * window. Expects events as `parseIngestBody` returns them (finite times within the Date range).
 */
export function encodeColumns(events: ParsedEvent[], ctx: { nowMs: number; source: string }): { columns: RecordColumns; bytes: number } {
  const n = events.length;
  // `,"received_at":…,"source":…}`, the same for every event of the batch.
  const suffix = Buffer.from(`,"received_at":"${new Date(ctx.nowMs).toISOString()}","source":${JSON.stringify(ctx.source)}}`, 'utf8');
  let buf = Buffer.allocUnsafeSlow(Math.max(1, n) * BYTES_PER_EVENT);
  let pos = 0;
  const ends = new Uint32Array(n);
  const ts = new Float64Array(n);
  const keys = new Array<string>(n);
  let ids: (string | undefined)[] | undefined;
  for (let i = 0; i < n; i++) {
    const ev = events[i]!;
    const id = ev.id ?? uuidv7(ctx.nowMs);
    let end = putEvent(buf, pos, ev, id, suffix);
    if (end > buf.length) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(2 * buf.length, end));
      buf.copy(bigger, 0, 0, pos);
      buf = bigger;
      end = putEvent(buf, pos, ev, id, suffix);
    }
    pos = end;
    ends[i] = pos;
    ts[i] = ev.tsMs;
    keys[i] = ev.device;
    if (ev.id !== undefined) (ids ??= new Array<string | undefined>(n))[i] = ev.id;
  }
  const values = new Uint8Array(buf.buffer, 0, pos);
  return { columns: { values, ends, ts, keys, ...(ids && { ids }) }, bytes: values.length };
}

/** `encodeColumns`, as records. */
export function encodeEvents(events: ParsedEvent[], ctx: { nowMs: number; source: string }): { records: AppendRecord[]; bytes: number } {
  const { columns, bytes } = encodeColumns(events, ctx);
  return { records: recordsFromColumns(columns), bytes };
}
