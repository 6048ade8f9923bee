/**
 * Frame codec of the embedded stream: how one group-commit batch of one partition is laid out in
 * a segment file.
 *
 * FORMAT (little-endian)
 *
 *   frame  = u32 bodyLength | u32 crc32(body) | body
 *   body   = u8 version (=1) | u8 flags (=0) | u16 reserved (=0)
 *          | i64 baseOffset | f64 appendTimeMs | u32 count | record * count
 *   record = f64 ts | u16 keyLen | key (utf8) | u16 idLen | id (utf8, idLen 0 = no id)
 *          | u32 valueLen | value
 *
 *   Record i of a frame has offset baseOffset + i. Every record of a frame shares its append time
 *   (the moment the batch was handed to the writer).
 *
 * WHY A CHECKSUM PER FRAME
 *   A frame is the unit the writer makes durable (one writev + fdatasync covers whole frames),
 *   so it is also the unit a crash can tear. A crc32 over the body lets recovery tell "the tail
 *   of the last write never reached the disk" (short frame) from "bytes on disk changed" (crc
 *   mismatch) without trusting the length field alone; it is checked again on every read from
 *   disk so a flipped bit is reported (STRATA_ERR_STREAM_CORRUPT) and never served. One crc per
 *   batch rather than per record keeps the hot path at one checksum per partition per append.
 *
 * INVARIANTS
 *   - bodyLength >= BODY_HEADER_BYTES and <= MAX_BODY_BYTES.
 *   - In a segment, frame n+1's baseOffset = frame n's baseOffset + count (offsets are dense),
 *     and the first frame's baseOffset is the segment's base offset (its file name).
 *   - appendTimeMs never decreases within a partition (the writer clamps a clock going back), so
 *     a binary search by time over frames is valid.
 *   - Only whole frames that were fsync'd are ever acknowledged to appenders or served to readers.
 *
 * RECOVERY RULES (applied by segment.ts when a partition is opened)
 *   - The active (last) segment is scanned frame by frame. At the first frame that is short (file
 *     ends inside it), has an impossible length, a crc mismatch, an unknown version or a
 *     baseOffset breaking continuity, the file is truncated at that frame's start and appends
 *     continue there. Such a frame was never acknowledged: the writer acknowledges only after
 *     fdatasync, and a failed cycle is truncated away before the next one starts.
 *   - Sealed segments are trusted through their .idx sidecar; a bad frame found later while
 *     reading is reported as corrupt, never skipped silently.
 */

import { crc32 } from 'node:zlib';
import type { AppendRecord, StreamRecord } from '../../types.js';
import { dedupKey } from './dedup-window.js';

export const FRAME_HEADER_BYTES = 8;
export const BODY_HEADER_BYTES = 24;
export const FRAME_OVERHEAD_BYTES = FRAME_HEADER_BYTES + BODY_HEADER_BYTES;
/** Largest body a frame may have: beyond it a length field is taken as corruption. */
export const MAX_BODY_BYTES = 1 << 30;
export const FRAME_VERSION = 1;
/** Keys and ids are stored with a u16 length. */
export const MAX_KEY_BYTES = 0xffff;

/** UTF-8 length of a key or id: a loop for the usual ASCII one, where a native call costs more than the work. */
function utf8Length(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return Buffer.byteLength(s, 'utf8');
  return s.length;
}

/** Writes `s` as UTF-8 at `pos`; returns the bytes written. ASCII is copied in a loop, for the same reason. */
function writeUtf8(buf: Buffer, s: string, pos: number): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return buf.write(s, pos, 'utf8');
    buf[pos + i] = c;
  }
  return s.length;
}

/**
 * Encodes records[indexes[i]] (records of one partition, after dedup) into one frame. Sizes were
 * validated by the caller (keys and ids fit in u16).
 */
export function encodeFrame(
  records: readonly AppendRecord[],
  indexes: readonly number[],
  baseOffset: number,
  appendTime: number,
): Buffer {
  let size = FRAME_OVERHEAD_BYTES;
  for (let i = 0; i < indexes.length; i++) {
    const r = records[indexes[i]!]!;
    size += 16 + utf8Length(r.key) + (r.id === undefined ? 0 : utf8Length(r.id)) + r.value.byteLength;
  }
  const buf = Buffer.allocUnsafe(size);
  buf.writeUInt32LE(size - FRAME_HEADER_BYTES, 0);
  buf.writeUInt32LE(0, 4);
  buf.writeUInt8(FRAME_VERSION, 8);
  buf.writeUInt8(0, 9);
  buf.writeUInt16LE(0, 10);
  buf.writeBigInt64LE(BigInt(baseOffset), 12);
  buf.writeDoubleLE(appendTime, 20);
  buf.writeUInt32LE(indexes.length, 28);
  let p = FRAME_OVERHEAD_BYTES;
  for (let i = 0; i < indexes.length; i++) {
    const r = records[indexes[i]!]!;
    buf.writeDoubleLE(r.ts ?? appendTime, p);
    const keyLen = writeUtf8(buf, r.key, p + 10);
    buf.writeUInt16LE(keyLen, p + 8);
    p += 10 + keyLen;
    const idLen = r.id === undefined ? 0 : writeUtf8(buf, r.id, p + 2);
    buf.writeUInt16LE(idLen, p);
    p += 2 + idLen;
    buf.writeUInt32LE(r.value.byteLength, p);
    buf.set(r.value, p + 4);
    p += 4 + r.value.byteLength;
  }
  buf.writeUInt32LE(crc32(buf.subarray(FRAME_HEADER_BYTES)) >>> 0, 4);
  return buf;
}

/** What a frame's header says, read without checking the body. */
export interface FrameHeader {
  bodyLength: number;
  baseOffset: number;
  appendTime: number;
  count: number;
}

export type FrameCheck =
  | { ok: true; header: FrameHeader }
  | { ok: false; torn: boolean; reason: string };

/**
 * Checks the frame starting at `pos` of `buf` (which must hold at least FRAME_HEADER_BYTES from
 * pos to tell anything): length bounds, completeness, crc and version. `available` is how many
 * bytes of the frame exist (in the file), to tell a torn frame from a corrupt one.
 */
export function checkFrame(buf: Buffer, pos: number, available: number): FrameCheck {
  if (available < FRAME_HEADER_BYTES) return { ok: false, torn: true, reason: 'short frame header' };
  const bodyLength = buf.readUInt32LE(pos);
  if (bodyLength < BODY_HEADER_BYTES || bodyLength > MAX_BODY_BYTES) {
    return { ok: false, torn: false, reason: `impossible frame length ${bodyLength}` };
  }
  if (available < FRAME_HEADER_BYTES + bodyLength) return { ok: false, torn: true, reason: 'short frame body' };
  const body = buf.subarray(pos + FRAME_HEADER_BYTES, pos + FRAME_HEADER_BYTES + bodyLength);
  if ((crc32(body) >>> 0) !== buf.readUInt32LE(pos + 4)) return { ok: false, torn: false, reason: 'crc mismatch' };
  if (body[0] !== FRAME_VERSION) return { ok: false, torn: false, reason: `unknown frame version ${body[0]}` };
  return { ok: true, header: readHeader(buf, pos) };
}

/** Header fields of a frame already checked (or built) by this module. */
export function readHeader(buf: Buffer, pos: number): FrameHeader {
  return {
    bodyLength: buf.readUInt32LE(pos),
    baseOffset: Number(buf.readBigInt64LE(pos + 12)),
    appendTime: buf.readDoubleLE(pos + 20),
    count: buf.readUInt32LE(pos + 28),
  };
}

/**
 * Decodes the records of the checked frame at `pos` whose offsets are >= fromOffset, pushing at
 * most `max` of them to `out`. Values are views on `buf` (no copy). Throws a plain Error when the
 * body's structure does not add up, which the caller reports as corruption.
 */
export function decodeRecords(
  buf: Buffer,
  pos: number,
  topic: string,
  partition: number,
  fromOffset: number,
  max: number,
  out: StreamRecord[],
): void {
  const h = readHeader(buf, pos);
  const end = pos + FRAME_HEADER_BYTES + h.bodyLength;
  let p = pos + FRAME_OVERHEAD_BYTES;
  let taken = 0;
  for (let i = 0; i < h.count && taken < max; i++) {
    if (p + 16 > end) throw new Error('record runs past the frame');
    const ts = buf.readDoubleLE(p);
    const keyLen = buf.readUInt16LE(p + 8);
    const keyStart = p + 10;
    const idLenPos = keyStart + keyLen;
    if (idLenPos + 6 > end) throw new Error('record runs past the frame');
    const idLen = buf.readUInt16LE(idLenPos);
    const valLenPos = idLenPos + 2 + idLen;
    if (valLenPos + 4 > end) throw new Error('record runs past the frame');
    const valueLen = buf.readUInt32LE(valLenPos);
    const valueStart = valLenPos + 4;
    const next = valueStart + valueLen;
    if (next > end) throw new Error('record runs past the frame');
    const offset = h.baseOffset + i;
    if (offset >= fromOffset) {
      const rec: StreamRecord = {
        topic,
        partition,
        offset,
        key: buf.toString('utf8', keyStart, keyStart + keyLen),
        value: buf.subarray(valueStart, next),
        ts,
        appendTime: h.appendTime,
      };
      if (idLen > 0) rec.id = buf.toString('utf8', idLenPos + 2, idLenPos + 2 + idLen);
      out.push(rec);
      taken++;
    }
    p = next;
  }
}

/** Dedup keys (key + id) of the records of a checked frame (undefined for records without an id), for the dedup window. */
export function frameDedupKeys(buf: Buffer, pos: number): (string | undefined)[] {
  const h = readHeader(buf, pos);
  const keys: (string | undefined)[] = [];
  let p = pos + FRAME_OVERHEAD_BYTES;
  for (let i = 0; i < h.count; i++) {
    const keyLen = buf.readUInt16LE(p + 8);
    const idLenPos = p + 10 + keyLen;
    const idLen = buf.readUInt16LE(idLenPos);
    keys.push(idLen > 0 ? dedupKey(buf.toString('utf8', p + 10, p + 10 + keyLen), buf.toString('utf8', idLenPos + 2, idLenPos + 2 + idLen)) : undefined);
    const valLenPos = idLenPos + 2 + idLen;
    p = valLenPos + 4 + buf.readUInt32LE(valLenPos);
  }
  return keys;
}
