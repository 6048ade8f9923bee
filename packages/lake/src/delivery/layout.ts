/**
 * Raw zone layout and encoding (DESIGN.md, "Raw zone (Firehose layout)"). Pure functions: the
 * same records always give the same keys and the same bytes, which is what makes a replayed
 * flush overwrite its objects instead of adding new ones.
 */
import { isUtf8 } from 'node:buffer';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { StreamRecord } from '@strata/stream';

const gzipAsync = promisify(gzip);

/** Raw copies of bad values in errors/ lines are cut to this many bytes. */
export const MAX_ERROR_RAW_BYTES = 64 * 1024;
/** Latest event time with a four-digit year (9999-12-31T23:59:59.999Z). */
const MAX_TS = 253_402_300_799_999;

export type Zone = 'raw' | 'errors';

/** One record, encoded for its object: the NDJSON line (without the newline), zone and hour. */
export interface Line {
  offset: number;
  zone: Zone;
  /** `year=YYYY/month=MM/day=DD/hour=HH` of the event time, UTC. */
  hour: string;
  line: Buffer;
}

export interface EncodedObject {
  key: string;
  zone: Zone;
  body: Buffer;
  records: number;
  bytesIn: number;
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

const HOUR_MS = 3_600_000;
let cachedHour = NaN;
let cachedPath = '';

/** Hive-style partition path of the UTC hour holding `ts` (Unix ms). Records come mostly in time order, so the last hour is cached. */
export function hourPath(ts: number): string {
  const hour = Math.floor(ts / HOUR_MS);
  if (hour !== cachedHour) {
    const d = new Date(hour * HOUR_MS);
    cachedPath = `year=${pad(d.getUTCFullYear(), 4)}/month=${pad(d.getUTCMonth() + 1)}/day=${pad(d.getUTCDate())}/hour=${pad(d.getUTCHours())}`;
    cachedHour = hour;
  }
  return cachedPath;
}

/** `<zone>/<topic>/<hour>/<topic>-<partition>-<first>-<last>.ndjson.gz` */
export function objectKey(zone: Zone, topic: string, hour: string, partition: number, first: number, last: number): string {
  return `${zone}/${topic}/${hour}/${topic}-${partition}-${first}-${last}.ndjson.gz`;
}

/** Where a partition's flush plan lives (see delivery.ts, "Recovery"). */
export function stateKey(group: string, topic: string, partition: number): string {
  return `_state/delivery/${group}/${topic}-${partition}.json`;
}

const DAY_MS = 24 * HOUR_MS;
const OBJECT_KEY = /\/year=(\d{4})\/month=(\d{2})\/day=(\d{2})\/hour=(\d{2})\/[^/]+\.ndjson\.gz$/;

/** The event hour (Unix ms) an object key of this layout is filed under, or undefined for other keys. */
export function objectHour(key: string): number | undefined {
  const m = OBJECT_KEY.exec(key);
  return m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4])) : undefined;
}

/**
 * The fewest partition prefixes of `<zone>/<topic>/` covering the hours [fromHour, toHour) (Unix
 * ms, hour-aligned): a year, month or day lying wholly inside as one prefix, hours at the edges.
 */
export function hourPrefixes(zone: Zone, topic: string, fromHour: number, toHour: number): string[] {
  const out: string[] = [];
  for (let c = fromHour; c < toHour; ) {
    const d = new Date(c);
    const [y, mo, day, h] = [d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours()];
    const base = `${zone}/${topic}/year=${pad(y, 4)}/`;
    if (h === 0 && day === 1 && mo === 0 && Date.UTC(y + 1, 0, 1) <= toHour) {
      out.push(base);
      c = Date.UTC(y + 1, 0, 1);
    } else if (h === 0 && day === 1 && Date.UTC(y, mo + 1, 1) <= toHour) {
      out.push(`${base}month=${pad(mo + 1)}/`);
      c = Date.UTC(y, mo + 1, 1);
    } else if (h === 0 && c + DAY_MS <= toHour) {
      out.push(`${base}month=${pad(mo + 1)}/day=${pad(day)}/`);
      c += DAY_MS;
    } else {
      out.push(`${base}month=${pad(mo + 1)}/day=${pad(day)}/hour=${pad(h)}/`);
      c += HOUR_MS;
    }
  }
  return out;
}

function bounded(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/**
 * Why a value cannot go to raw/, or undefined. A value framed like an object (`{`…`}`, valid
 * UTF-8) passes without a full parse: the ingest encoder produced it, the stream's frame CRC
 * guards its bytes, and parsing every record again here doubled the CPU cost of ingest. The
 * bronze job parses everything and quarantines what fails. Anything else is parsed for a reason.
 */
function valueProblem(value: Buffer): string | undefined {
  if (!isUtf8(value)) return 'value is not valid UTF-8';
  if (value[0] === 0x7b && value[lastNonSpace(value)] === 0x7d) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch (err) {
    return bounded(`value is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (parsed === null || typeof parsed !== 'object') return `value is JSON but not an object (${parsed === null ? 'null' : typeof parsed})`;
  if (Array.isArray(parsed)) return 'value is JSON but not an object (array)';
  return undefined;
}

function lastNonSpace(value: Buffer): number {
  let i = value.length - 1;
  while (i > 0 && (value[i] === 0x20 || value[i] === 0x0a || value[i] === 0x0d || value[i] === 0x09)) i--;
  return i;
}

/** JSON allows raw CR/LF only as insignificant whitespace, so turning them into spaces keeps the value and makes it one line. */
function oneLine(value: Buffer): Buffer {
  if (value.indexOf(0x0a) < 0 && value.indexOf(0x0d) < 0) return value;
  const copy = Buffer.from(value);
  for (let i = 0; i < copy.length; i++) if (copy[i] === 0x0a || copy[i] === 0x0d) copy[i] = 0x20;
  return copy;
}

/** Classifies and encodes one record. Never throws: bad values become errors/ lines with a bounded reason. */
export function encodeRecord(record: StreamRecord): Line {
  const validTs = Number.isInteger(record.ts) && record.ts >= 0 && record.ts <= MAX_TS;
  const problem = validTs ? valueProblem(record.value) : `event time out of range: ${String(record.ts)}`;
  if (problem === undefined) return { offset: record.offset, zone: 'raw', hour: hourPath(record.ts), line: oneLine(record.value) };
  const line = JSON.stringify({
    offset: record.offset,
    partition: record.partition,
    reason: problem,
    raw: record.value.subarray(0, MAX_ERROR_RAW_BYTES).toString('utf8'),
  });
  return { offset: record.offset, zone: 'errors', hour: hourPath(validTs ? record.ts : record.appendTime), line: Buffer.from(line, 'utf8') };
}

/** Lines of one (zone, hour) of a unit: NDJSON bytes, in chunks that grow with the body. */
interface Body {
  zone: Zone;
  hour: string;
  first: number;
  last: number;
  records: number;
  bytes: number;
  full: Buffer[];
  chunk: Buffer;
  used: number;
}

const MIN_CHUNK_BYTES = 16 * 1024;
const MAX_CHUNK_BYTES = 1024 * 1024;

/**
 * The lines of one flush unit of one partition. Each line is copied, as it is added, into the
 * NDJSON body of its (zone, hour): no object per record is held until the flush (up to
 * `flushBytes` of them per partition, old enough to be promoted by the GC), no key string is
 * built per record, and the flush joins a few chunks instead of two buffers per record.
 * Records must be added in offset order.
 */
export class UnitLines {
  private readonly bodies = new Map<string, Body>();
  private current: Body | undefined;
  records = 0;
  /** Uncompressed bytes: each line and its newline. */
  bytes = 0;
  first = -1;
  last = -1;

  add(record: StreamRecord): void {
    if (record.offset <= this.last) throw new Error(`offset ${record.offset} added after ${this.last}`);
    const { zone, hour, line } = encodeRecord(record);
    let body = this.current;
    if (body === undefined || body.hour !== hour || body.zone !== zone) {
      const id = `${zone}/${hour}`;
      body = this.bodies.get(id);
      if (body === undefined) {
        body = { zone, hour, first: record.offset, last: record.offset, records: 0, bytes: 0, full: [], chunk: Buffer.allocUnsafe(MIN_CHUNK_BYTES), used: 0 };
        this.bodies.set(id, body);
      }
      this.current = body;
    }
    const size = line.length + 1;
    if (body.used + size > body.chunk.length) {
      body.full.push(body.chunk.subarray(0, body.used));
      body.chunk = Buffer.allocUnsafe(Math.max(size, Math.min(MAX_CHUNK_BYTES, Math.max(MIN_CHUNK_BYTES, body.bytes))));
      body.used = 0;
    }
    body.chunk.set(line, body.used);
    body.chunk[body.used + line.length] = 0x0a;
    body.used += size;
    body.bytes += size;
    body.records++;
    body.last = record.offset;
    if (this.records === 0) this.first = record.offset;
    this.last = record.offset;
    this.records++;
    this.bytes += size;
  }

  /** The unit's objects: one per (zone, hour), named by that hour's first and last offsets, gzipped; sorted by key. */
  async encode(topic: string, partition: number, gzipLevel: number): Promise<EncodedObject[]> {
    const objects: EncodedObject[] = [];
    for (const b of this.bodies.values()) {
      const tail = b.chunk.subarray(0, b.used);
      const raw = b.full.length === 0 ? tail : Buffer.concat([...b.full, tail], b.bytes);
      objects.push({
        key: objectKey(b.zone, topic, b.hour, partition, b.first, b.last),
        zone: b.zone,
        body: await gzipAsync(raw, { level: gzipLevel }),
        records: b.records,
        bytesIn: b.bytes,
      });
    }
    return objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
}
