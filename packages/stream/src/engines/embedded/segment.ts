/**
 * Segments: the files one partition's log is split into.
 *
 * LAYOUT
 *   DIR/<topic>/<partition>/<20-digit base offset>.log   frames (see frame-codec.ts), back to back
 *   DIR/<topic>/<partition>/<20-digit base offset>.idx   sidecar index, written when the segment is sealed
 *
 *   .idx = "SIDX" | u32 version (=1) | u32 entryCount | u32 crc32(entries) | entries
 *   entry = f64 baseOffset | f64 position | f64 frameLength | f64 count | f64 appendTimeMs   (LE)
 *
 * INVARIANTS
 *   - Only the last segment of a partition (the active one) is ever written; the others are
 *     sealed and immutable until retention deletes them whole (.log first, then .idx).
 *   - A segment's name is the offset of its first record; segments are contiguous in offsets.
 *   - The in-memory index of a segment covers exactly the bytes [0, size) that are durable.
 *
 * RECOVERY
 *   - Sealed segment: its .idx is loaded when it checks out (magic, crc, entries contiguous from
 *     position 0 and from the base offset, last frame ending exactly at the file size); otherwise
 *     the segment is scanned and the index rebuilt (and rewritten). A scan that finds a bad frame
 *     in a sealed segment keeps the good prefix and logs an error: the records after it are lost.
 *   - Active segment: always scanned; the file is truncated at the first torn or corrupt frame
 *     (frame-codec.ts, "Recovery rules").
 */

import { promises as fsp } from 'node:fs';
import { crc32 } from 'node:zlib';
import { join } from 'node:path';
import { streamErrors } from '../../errors.js';
import type { StreamRecord } from '../../types.js';
import { writeFileAtomic } from './atomic-file.js';
import { readFully, type FileOps } from './file-ops.js';
import { checkFrame, decodeRecords, FRAME_HEADER_BYTES } from './frame-codec.js';
import { FrameIndex } from './frame-index.js';

const IDX_MAGIC = 0x58444953; // "SIDX" read as u32 LE
const IDX_HEADER_BYTES = 16;
const IDX_ENTRY_BYTES = 40;
const SCAN_CHUNK_BYTES = 4 << 20;
/** A read from disk fetches contiguous frames up to about this many bytes. */
const READ_BYTES = 1 << 20;

export function segmentName(baseOffset: number): string {
  return String(baseOffset).padStart(20, '0');
}

export function parseSegmentName(file: string): number | null {
  const m = /^(\d{20})\.log$/.exec(file);
  return m ? Number(m[1]) : null;
}

export interface ScanResult {
  index: FrameIndex;
  /** Bytes of whole, valid, contiguous frames from the start of the file. */
  validBytes: number;
  fileBytes: number;
  /** Why the scan stopped before the end of the file, when it did. */
  stopReason?: string;
}

export class Segment {
  readonly logPath: string;
  readonly idxPath: string;
  index = new FrameIndex();
  /** Durable bytes of the file. */
  size = 0;
  endOffset: number;
  sealed = false;
  deleted = false;
  /** File descriptor: kept open while the segment is active, opened per use once sealed. */
  private fd: number | null = null;
  private opening: Promise<number> | null = null;
  private users = 0;

  constructor(
    readonly dir: string,
    readonly baseOffset: number,
    private readonly ops: FileOps,
  ) {
    this.logPath = join(dir, `${segmentName(baseOffset)}.log`);
    this.idxPath = join(dir, `${segmentName(baseOffset)}.idx`);
    this.endOffset = baseOffset;
  }

  get firstAppendTime(): number {
    return this.index.length > 0 ? this.index.appendTime(0) : Number.NaN;
  }

  get lastAppendTime(): number {
    return this.index.length > 0 ? this.index.appendTime(this.index.length - 1) : Number.NaN;
  }

  /** Records a durable frame written at the end of the file. */
  addFrame(baseOffset: number, frameLength: number, count: number, appendTime: number): void {
    this.index.push(baseOffset, this.size, frameLength, count, appendTime);
    this.size += frameLength;
    this.endOffset = baseOffset + count;
  }

  /** The active segment's descriptor (opened read-write), kept open until sealed or closed. */
  async openForAppend(create: boolean): Promise<number> {
    this.fd = await this.ops.open(this.logPath, create ? 'w+' : 'r+');
    return this.fd;
  }

  writeFd(): number {
    if (this.fd === null) throw new Error(`segment ${this.logPath} is not open for append`);
    return this.fd;
  }

  /** Runs `fn` with a descriptor that stays valid until it settles, even if the segment is sealed meanwhile. */
  async withFd<T>(fn: (fd: number) => Promise<T>): Promise<T> {
    this.users++;
    try {
      let fd = this.fd;
      if (fd === null) {
        this.opening ??= this.ops.open(this.logPath, 'r').then((n) => (this.fd = n));
        try {
          fd = await this.opening;
        } finally {
          this.opening = null;
        }
      }
      return await fn(fd);
    } finally {
      this.users--;
      if (this.users === 0 && this.sealed) await this.closeFd();
    }
  }

  /** Seals the segment: writes its .idx and releases the descriptor when no reader uses it. */
  async seal(): Promise<void> {
    this.sealed = true;
    await writeIndex(this);
    if (this.users === 0) await this.closeFd();
  }

  async closeFd(): Promise<void> {
    const fd = this.fd;
    if (fd === null) return;
    this.fd = null;
    await this.ops.close(fd).catch(() => undefined);
  }

  /** Removes the segment's files (retention). */
  async delete(): Promise<void> {
    this.deleted = true;
    if (this.users === 0) await this.closeFd();
    await fsp.rm(this.logPath, { force: true });
    await fsp.rm(this.idxPath, { force: true });
  }

  /**
   * Reads records from `fromOffset` (which this segment holds) on, at most `max`, checking the
   * crc of every frame read. Throws STRATA_ERR_STREAM_CORRUPT on a bad frame.
   */
  async read(topic: string, partition: number, fromOffset: number, max: number, out: StreamRecord[]): Promise<void> {
    const first = this.index.findOffset(fromOffset);
    if (first < 0) return;
    let last = first;
    let records = this.index.offset(first) + this.index.count(first) - fromOffset;
    let bytes = this.index.frameLength(first);
    while (last + 1 < this.index.length && records < max && bytes < READ_BYTES) {
      last++;
      records += this.index.count(last);
      bytes += this.index.frameLength(last);
    }
    const start = this.index.position(first);
    const buf = Buffer.allocUnsafe(bytes);
    const got = await this.withFd((fd) => readFully(this.ops, fd, buf, bytes, start));
    let pos = 0;
    for (let i = first; i <= last && out.length < max; i++) {
      const corrupt = (reason: string) =>
        streamErrors.STRATA_ERR_STREAM_CORRUPT({ file: this.logPath, position: start + pos, reason });
      const check = checkFrame(buf, pos, got - pos);
      if (!check.ok) throw corrupt(check.reason);
      if (check.header.baseOffset !== this.index.offset(i) || check.header.count !== this.index.count(i)) {
        throw corrupt('frame does not match the index');
      }
      try {
        decodeRecords(buf, pos, topic, partition, fromOffset, max - out.length, out);
      } catch (err) {
        throw corrupt((err as Error).message);
      }
      pos += FRAME_HEADER_BYTES + check.header.bodyLength;
    }
  }

  /** Reads whole checked frames [from, to) of the index (used to rebuild the dedup window). */
  async readFrameBuffers(from: number, to: number): Promise<{ buf: Buffer; positions: number[] }> {
    const start = this.index.position(from);
    const end = this.index.position(to - 1) + this.index.frameLength(to - 1);
    const buf = Buffer.allocUnsafe(end - start);
    const got = await this.withFd((fd) => readFully(this.ops, fd, buf, end - start, start));
    const positions: number[] = [];
    for (let i = from; i < to; i++) {
      const pos = this.index.position(i) - start;
      const check = checkFrame(buf, pos, got - pos);
      if (!check.ok) throw streamErrors.STRATA_ERR_STREAM_CORRUPT({ file: this.logPath, position: start + pos, reason: check.reason });
      positions.push(pos);
    }
    return { buf, positions };
  }
}

/**
 * Scans a segment file frame by frame from the start, stopping at the first torn or corrupt
 * frame or offset discontinuity.
 */
export async function scanSegment(ops: FileOps, path: string, baseOffset: number): Promise<ScanResult> {
  const index = new FrameIndex();
  const fd = await ops.open(path, 'r');
  try {
    const st = await fsp.stat(path);
    const fileBytes = st.size;
    let buf = Buffer.allocUnsafe(Math.min(SCAN_CHUNK_BYTES, Math.max(fileBytes, FRAME_HEADER_BYTES)));
    let bufStart = 0;
    let bufLen = 0;
    const ensure = async (pos: number, n: number): Promise<void> => {
      if (pos >= bufStart && pos + n <= bufStart + bufLen) return;
      const want = Math.min(Math.max(n, SCAN_CHUNK_BYTES), fileBytes - pos);
      if (buf.length < want) buf = Buffer.allocUnsafe(want);
      bufLen = await readFully(ops, fd, buf, want, pos);
      bufStart = pos;
    };
    let pos = 0;
    let expected = baseOffset;
    let lastTime = -Infinity;
    while (pos < fileBytes) {
      await ensure(pos, Math.min(FRAME_HEADER_BYTES, fileBytes - pos));
      const available = fileBytes - pos;
      if (available >= FRAME_HEADER_BYTES) {
        const bodyLength = buf.readUInt32LE(pos - bufStart);
        if (bodyLength <= available - FRAME_HEADER_BYTES) await ensure(pos, FRAME_HEADER_BYTES + bodyLength);
      }
      const check = checkFrame(buf, pos - bufStart, available);
      if (!check.ok) return { index, validBytes: pos, fileBytes, stopReason: check.reason };
      const h = check.header;
      if (h.baseOffset !== expected) {
        return { index, validBytes: pos, fileBytes, stopReason: `frame base offset ${h.baseOffset} where ${expected} was expected` };
      }
      if (h.count === 0 || !(h.appendTime >= lastTime)) {
        return { index, validBytes: pos, fileBytes, stopReason: 'frame header out of sequence' };
      }
      const len = FRAME_HEADER_BYTES + h.bodyLength;
      index.push(h.baseOffset, pos, len, h.count, h.appendTime);
      expected += h.count;
      lastTime = h.appendTime;
      pos += len;
    }
    return { index, validBytes: pos, fileBytes };
  } finally {
    await ops.close(fd);
  }
}

/** Writes a sealed segment's .idx atomically. */
export async function writeIndex(seg: Segment): Promise<void> {
  const entries = seg.index.entriesBuffer();
  const header = Buffer.alloc(IDX_HEADER_BYTES);
  header.writeUInt32LE(IDX_MAGIC, 0);
  header.writeUInt32LE(1, 4);
  header.writeUInt32LE(seg.index.length, 8);
  header.writeUInt32LE(crc32(entries) >>> 0, 12);
  await writeFileAtomic(seg.idxPath, Buffer.concat([header, entries]));
}

/** Loads a sealed segment's .idx, or null when it is missing or does not match the .log. */
export async function loadIndex(idxPath: string, baseOffset: number, logBytes: number): Promise<FrameIndex | null> {
  let buf: Buffer;
  try {
    buf = await fsp.readFile(idxPath);
  } catch {
    return null;
  }
  if (buf.length < IDX_HEADER_BYTES || buf.readUInt32LE(0) !== IDX_MAGIC || buf.readUInt32LE(4) !== 1) return null;
  const n = buf.readUInt32LE(8);
  const entries = buf.subarray(IDX_HEADER_BYTES);
  if (entries.length !== n * IDX_ENTRY_BYTES || (crc32(entries) >>> 0) !== buf.readUInt32LE(12) || n === 0) return null;
  const index = FrameIndex.fromEntries(entries);
  let offset = baseOffset;
  let pos = 0;
  let time = -Infinity;
  for (let i = 0; i < n; i++) {
    if (index.offset(i) !== offset || index.position(i) !== pos || index.count(i) <= 0 || index.appendTime(i) < time) return null;
    offset += index.count(i);
    pos += index.frameLength(i);
    time = index.appendTime(i);
  }
  return pos === logBytes ? index : null;
}

