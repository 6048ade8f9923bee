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
const NEWLINE = Buffer.from('\n');

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

function bounded(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** Why `value` cannot go to raw/, or undefined when it is a JSON object. */
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

/** Buffers fill in offset order, so sorting (a copy) is only needed when they did not. */
function inOffsetOrder(lines: readonly Line[]): readonly Line[] {
  for (let i = 1; i < lines.length; i++) {
    if (lines[i]!.offset < lines[i - 1]!.offset) return [...lines].sort((a, b) => a.offset - b.offset);
  }
  return lines;
}

/**
 * The objects of one flush of `partition`: one per (zone, hour) present in `lines`, named by
 * the smallest and largest offset of that hour's lines, holding the lines in offset order, each
 * followed by `\n`, gzipped. Sorted by key.
 */
export async function encodeObjects(topic: string, partition: number, lines: readonly Line[], gzipLevel: number): Promise<EncodedObject[]> {
  const groups = new Map<string, Line[]>();
  for (const line of inOffsetOrder(lines)) {
    const id = `${line.zone}/${line.hour}`;
    const group = groups.get(id);
    if (group) group.push(line);
    else groups.set(id, [line]);
  }
  const objects: EncodedObject[] = [];
  for (const group of groups.values()) {
    const head = group[0]!;
    const tail = group[group.length - 1]!;
    const parts: Buffer[] = [];
    for (const l of group) parts.push(l.line, NEWLINE);
    const raw = Buffer.concat(parts);
    objects.push({
      key: objectKey(head.zone, topic, head.hour, partition, head.offset, tail.offset),
      zone: head.zone,
      body: await gzipAsync(raw, { level: gzipLevel }),
      records: group.length,
      bytesIn: raw.length,
    });
  }
  return objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Uncompressed size a line adds to its object (the line and its newline). */
export function lineBytes(line: Line): number {
  return line.line.length + 1;
}
