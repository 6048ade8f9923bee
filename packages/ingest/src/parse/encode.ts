import { uuidv7 } from '@strata/core';
import type { AppendRecord } from '@strata/stream';
import { isoString } from './time.js';
import type { ParsedEvent } from './types.js';

/**
 * Parsed events to stream records: the `TelemetryEvent` JSON (DESIGN.md "Event") with keys in
 * the order id, device, ts, metrics, tags?, received_at, source.
 *
 * The JSON is built by string concatenation and is byte-for-byte what `JSON.stringify` gives
 * for the same object (`encode.test.ts` checks that with fast-check):
 * - a string is copied between quotes when no character needs escaping (nothing below U+0020,
 *   no `"` or `\`, no surrogate); otherwise `JSON.stringify` does it, which also handles lone
 *   surrogates exactly as it would in the whole object;
 * - a finite number is `String(n)`, which is what `JSON.stringify` uses; non-finite is `null`;
 * - keys come from `for…in` over plain objects, the same order as `JSON.stringify`'s
 *   `Object.keys` (integer-like keys first, then insertion order).
 * - times go through `isoString`, a cached equivalent of `Date#toISOString` (which cost
 *   about half of the encoding time).
 * All values are converted into one buffer per call; each record's value is a view of it.
 */

let nonAscii = false;

/** The JSON form of a string; sets `nonAscii` when it holds characters beyond U+007F. */
function str(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 34 || c === 92 || (c >= 0xd800 && c <= 0xdfff)) return escaped(s);
    if (c >= 0x80) nonAscii = true;
  }
  return `"${s}"`;
}

function escaped(s: string): string {
  const json = JSON.stringify(s);
  if (!nonAscii) {
    for (let i = 0; i < json.length; i++) {
      if (json.charCodeAt(i) >= 0x80) {
        nonAscii = true;
        break;
      }
    }
  }
  return json;
}

function num(n: number): string {
  return Number.isFinite(n) ? String(n) : 'null';
}

/** The `TelemetryEvent` JSON of one event. `suffix` is `,"received_at":…,"source":…}`. */
function eventJson(ev: ParsedEvent, id: string, ts: string, suffix: string): string {
  let s = `{"id":${str(id)},"device":${str(ev.device)},"ts":"${ts}","metrics":{`;
  let first = true;
  const m = ev.metrics;
  for (const k in m) {
    s += first ? `${str(k)}:${num(m[k]!)}` : `,${str(k)}:${num(m[k]!)}`;
    first = false;
  }
  s += '}';
  const tags = ev.tags;
  if (tags !== undefined) {
    s += ',"tags":{';
    first = true;
    for (const k in tags) {
      s += first ? `${str(k)}:${str(tags[k]!)}` : `,${str(k)}:${str(tags[k]!)}`;
      first = false;
    }
    s += '}';
  }
  return s + suffix;
}

/**
 * Encodes events for one append. `id` is the client's id or a UUIDv7 of `nowMs`; only client
 * ids go into the record id, so server-assigned ids never enter the stream's dedup window.
 * Expects events as `parseIngestBody` returns them (finite times within the Date range).
 */
export function encodeEvents(events: ParsedEvent[], ctx: { nowMs: number; source: string }): { records: AppendRecord[]; bytes: number } {
  nonAscii = false;
  const suffix = `,"received_at":"${new Date(ctx.nowMs).toISOString()}","source":${str(ctx.source)}}`;
  const sourceNonAscii = nonAscii;
  const n = events.length;
  const json: string[] = new Array<string>(n);
  const sizes: number[] = new Array<number>(n);
  let total = 0;
  let anyNonAscii = false;
  for (let i = 0; i < n; i++) {
    const ev = events[i]!;
    nonAscii = sourceNonAscii;
    const s = eventJson(ev, ev.id ?? uuidv7(ctx.nowMs), isoString(ev.tsMs), suffix);
    const size = nonAscii ? Buffer.byteLength(s, 'utf8') : s.length;
    anyNonAscii ||= nonAscii;
    json[i] = s;
    sizes[i] = size;
    total += size;
  }
  // One conversion for the whole batch: Buffer#write per record costs more in argument
  // handling than in copying. Latin-1 is exact (and faster) when every string is ASCII.
  const buf = Buffer.from(json.join(''), anyNonAscii ? 'utf8' : 'latin1');
  const records: AppendRecord[] = new Array<AppendRecord>(n);
  let off = 0;
  for (let i = 0; i < n; i++) {
    const ev = events[i]!;
    const end = off + sizes[i]!;
    const value = buf.subarray(off, end);
    off = end;
    records[i] = ev.id === undefined ? { key: ev.device, ts: ev.tsMs, value } : { key: ev.device, id: ev.id, ts: ev.tsMs, value };
  }
  return { records, bytes: total };
}
