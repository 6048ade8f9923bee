import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { AppendRecord, StreamRecord } from '../../types.js';
import { isAtomicTempFile } from './atomic-file.js';
import { DedupWindow, dedupKey } from './dedup-window.js';
import { fsyncDir, type FileOps } from './file-ops.js';
import { decodeRecords, encodeFrame, frameDedupKeys } from './frame-codec.js';
import type { Logger } from '@strata/core';
import { loadIndex, parseSegmentName, scanSegment, Segment, writeIndex } from './segment.js';
import type { TailCache } from './tail-cache.js';

/** Frames read at a time while rebuilding the dedup window at open. */
const DEDUP_REBUILD_BYTES = 8 << 20;

export interface PartitionLogOptions {
  topic: string;
  partition: number;
  dir: string;
  ops: FileOps;
  logger: Logger;
  cache: TailCache;
  dedupWindowMs: number;
  maxDedupIds: number;
  now: () => number;
}

/** A frame staged by `stage`, waiting for the writer. */
export interface StagedFrame {
  frame: Buffer;
  baseOffset: number;
  count: number;
  appendTime: number;
  /** Dedup keys entered in the window for this frame (removed again if the write fails). */
  ids: string[] | null;
}

/**
 * One partition's log: its segments (the last one active), offsets, dedup window and reads.
 * Writes go through its PartitionWriter; this class never writes record bytes itself.
 *
 * Offsets: `nextOffset` is the next offset handed out to a staged frame, `durableEnd` the end of
 * what is fsync'd and visible. Between the two are frames queued or in flight in the writer.
 */
export class PartitionLog {
  readonly topic: string;
  readonly partition: number;
  readonly dir: string;
  segments: Segment[] = [];
  nextOffset = 0;
  durableEnd = 0;
  /** Append time of the last staged frame: append times never go back, even if the clock does. */
  lastAppendTime = -Infinity;
  /** Bytes staged but not yet durable. */
  pendingBytes = 0;
  /** Why the partition refuses writes until the stream is reopened, when it does. */
  unwritable: string | null = null;
  /** Set when the last write failed for lack of space; cleared by the next good write. */
  diskFull = false;
  readonly dedup: DedupWindow;

  private constructor(private readonly o: PartitionLogOptions) {
    this.topic = o.topic;
    this.partition = o.partition;
    this.dir = o.dir;
    this.dedup = new DedupWindow(o.dedupWindowMs, o.maxDedupIds);
  }

  get active(): Segment {
    return this.segments[this.segments.length - 1]!;
  }

  get startOffset(): number {
    for (const seg of this.segments) if (seg.endOffset > seg.baseOffset) return seg.baseOffset;
    return this.durableEnd;
  }

  /** Durable bytes on disk. */
  get bytes(): number {
    let total = 0;
    for (const seg of this.segments) total += seg.size;
    return total;
  }

  get ops(): FileOps {
    return this.o.ops;
  }

  get logger(): Logger {
    return this.o.logger;
  }

  get cache(): TailCache {
    return this.o.cache;
  }

  /** Opens (creating when new) a partition directory and recovers it; see segment.ts. */
  static async open(o: PartitionLogOptions): Promise<PartitionLog> {
    const log = new PartitionLog(o);
    await fsp.mkdir(o.dir, { recursive: true });
    const files = await fsp.readdir(o.dir);
    const bases: number[] = [];
    for (const f of files) {
      const base = parseSegmentName(f);
      if (base !== null) bases.push(base);
      else if (isAtomicTempFile(f)) await fsp.rm(join(o.dir, f), { force: true });
    }
    bases.sort((a, b) => a - b);
    for (const f of files) {
      // An .idx without its .log: retention died between the two deletions.
      const m = /^(\d{20})\.idx$/.exec(f);
      if (m && !bases.includes(Number(m[1]))) await fsp.rm(join(o.dir, f), { force: true });
    }
    if (bases.length === 0) {
      const seg = new Segment(o.dir, 0, o.ops);
      await seg.openForAppend(true);
      await fsyncDir(o.dir);
      log.segments.push(seg);
    } else {
      for (let i = 0; i < bases.length; i++) {
        const seg = new Segment(o.dir, bases[i]!, o.ops);
        if (i < bases.length - 1) await log.loadSealed(seg);
        else await log.recoverActive(seg);
        log.segments.push(seg);
      }
    }
    log.durableEnd = log.active.endOffset;
    log.nextOffset = log.durableEnd;
    for (let i = log.segments.length - 1; i >= 0; i--) {
      const t = log.segments[i]!.lastAppendTime;
      if (!Number.isNaN(t)) {
        log.lastAppendTime = t;
        break;
      }
    }
    if (o.dedupWindowMs > 0) await log.rebuildDedup();
    return log;
  }

  private async loadSealed(seg: Segment): Promise<void> {
    seg.sealed = true;
    const st = await fsp.stat(seg.logPath);
    const index = await loadIndex(seg.idxPath, seg.baseOffset, st.size);
    if (index) {
      seg.index = index;
      seg.size = st.size;
      seg.endOffset = index.length > 0 ? index.offset(index.length - 1) + index.count(index.length - 1) : seg.baseOffset;
      return;
    }
    const scan = await scanSegment(this.o.ops, seg.logPath, seg.baseOffset);
    this.adopt(seg, scan.index, scan.validBytes);
    if (scan.stopReason) {
      this.o.logger.error(
        { topic: this.topic, partition: this.partition, file: seg.logPath, position: scan.validBytes, bytesLost: scan.fileBytes - scan.validBytes, reason: scan.stopReason },
        'sealed stream segment is damaged: records after this point are lost',
      );
    } else {
      this.o.logger.info({ file: seg.logPath }, 'rebuilt missing or stale segment index');
    }
    await writeIndex(seg).catch((err: unknown) => this.o.logger.warn({ file: seg.idxPath, err }, 'cannot rewrite segment index'));
  }

  private async recoverActive(seg: Segment): Promise<void> {
    const scan = await scanSegment(this.o.ops, seg.logPath, seg.baseOffset);
    this.adopt(seg, scan.index, scan.validBytes);
    const fd = await seg.openForAppend(false);
    if (scan.validBytes < scan.fileBytes) {
      this.o.logger.warn(
        { topic: this.topic, partition: this.partition, file: seg.logPath, position: scan.validBytes, bytesDropped: scan.fileBytes - scan.validBytes, reason: scan.stopReason },
        'truncated torn or corrupt tail of stream segment',
      );
      await this.o.ops.ftruncate(fd, scan.validBytes);
      await this.o.ops.fsync(fd);
    }
  }

  private adopt(seg: Segment, index: Segment['index'], bytes: number): void {
    seg.index = index;
    seg.size = bytes;
    seg.endOffset = index.length > 0 ? index.offset(index.length - 1) + index.count(index.length - 1) : seg.baseOffset;
  }

  /** Reloads the ids appended within the dedup window, so dedup survives a restart. */
  private async rebuildDedup(): Promise<void> {
    const cutoff = this.o.now() - this.o.dedupWindowMs;
    let first = this.segments.length;
    while (first > 0 && !(this.segments[first - 1]!.lastAppendTime < cutoff)) first--;
    if (first > 0) first--; // the segment straddling the cutoff
    for (let s = first; s < this.segments.length; s++) {
      const seg = this.segments[s]!;
      let i = seg.index.findTime(cutoff);
      while (i < seg.index.length) {
        let j = i;
        let bytes = 0;
        while (j < seg.index.length && (j === i || bytes + seg.index.frameLength(j) <= DEDUP_REBUILD_BYTES)) {
          bytes += seg.index.frameLength(j);
          j++;
        }
        try {
          const { buf, positions } = await seg.readFrameBuffers(i, j);
          for (let k = 0; k < positions.length; k++) {
            const time = seg.index.appendTime(i + k);
            for (const key of frameDedupKeys(buf, positions[k]!)) if (key !== undefined) this.dedup.add(key, time);
          }
        } catch (err) {
          this.o.logger.warn({ topic: this.topic, partition: this.partition, err }, 'cannot reload dedup ids from a damaged frame');
        }
        this.dedup.evict(this.o.now());
        i = j;
      }
    }
  }

  /**
   * Drops duplicates of `records[indexes]` (same key and id, within the window and within the call), gives
   * the rest offsets and encodes them as one frame. Runs synchronously, so frames are staged in
   * offset order. `frame` is null when every record was a duplicate.
   */
  stage(records: readonly AppendRecord[], indexes: number[], now: number): { staged: StagedFrame | null; duplicates: number } {
    const appendTime = now > this.lastAppendTime ? now : this.lastAppendTime;
    let kept = indexes;
    let ids: string[] | null = null;
    let duplicates = 0;
    if (this.o.dedupWindowMs > 0) {
      this.dedup.evict(appendTime);
      for (let k = 0; k < indexes.length; k++) {
        const record = records[indexes[k]!]!;
        if (record.id !== undefined) {
          const key = dedupKey(record.key, record.id);
          if (this.dedup.seenOrAdd(key, appendTime)) {
            if (kept === indexes) kept = indexes.slice(0, k);
            duplicates++;
            continue;
          }
          (ids ??= []).push(key);
        }
        if (kept !== indexes) kept.push(indexes[k]!);
      }
    }
    if (kept.length === 0) return { staged: null, duplicates };
    this.lastAppendTime = appendTime;
    const frame = encodeFrame(records, kept, this.nextOffset, appendTime);
    const staged: StagedFrame = { frame, baseOffset: this.nextOffset, count: kept.length, appendTime, ids };
    this.nextOffset += kept.length;
    this.pendingBytes += frame.length;
    return { staged, duplicates };
  }

  /** Reads up to `max` durable records from `offset` (clamped to the start offset) on. */
  async read(offset: number, max: number): Promise<StreamRecord[]> {
    const out: StreamRecord[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const from = Math.max(offset, this.startOffset);
      if (from >= this.durableEnd || max <= 0) return out;
      const cached = this.o.cache.from(this.partition, from, max);
      if (cached) {
        for (const f of cached) {
          if (out.length >= max) break;
          decodeRecords(f.buf, 0, this.topic, this.partition, from, max - out.length, out);
        }
        return out;
      }
      const seg = this.segmentFor(from);
      if (!seg) return out;
      try {
        await seg.read(this.topic, this.partition, Math.max(from, seg.baseOffset), max, out);
        return out;
      } catch (err) {
        // Retention deleted the segment while we were reading it: read again from the new start.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        out.length = 0;
      }
    }
    return out;
  }

  /** The segment holding `offset`, or the first one after it when it fell in a gap. */
  private segmentFor(offset: number): Segment | undefined {
    let lo = 0;
    let hi = this.segments.length - 1;
    let found = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.segments[mid]!.baseOffset <= offset) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    for (let i = found; i < this.segments.length; i++) {
      const seg = this.segments[i]!;
      if (seg.endOffset > offset && seg.index.length > 0) return seg;
    }
    return undefined;
  }

  /** The first offset appended at or after `timeMs`, or the end offset when none. */
  offsetForTime(timeMs: number): number {
    for (const seg of this.segments) {
      if (seg.index.length === 0 || seg.lastAppendTime < timeMs) continue;
      const i = seg.index.findTime(timeMs);
      return Math.max(seg.index.offset(i), this.startOffset);
    }
    return this.durableEnd;
  }

  /** Seals the active segment and starts a new one at the end offset (writer tasks only). */
  async roll(): Promise<void> {
    const old = this.active;
    if (old.index.length === 0) return;
    const seg = new Segment(this.dir, this.durableEnd, this.o.ops);
    await seg.openForAppend(true);
    try {
      await fsyncDir(this.dir);
    } catch (err) {
      await seg.closeFd();
      await fsp.rm(seg.logPath, { force: true });
      throw err;
    }
    this.segments.push(seg);
    try {
      await old.seal();
    } catch (err) {
      this.o.logger.warn({ file: old.idxPath, err }, 'cannot write segment index; it will be rebuilt at open');
    }
  }

  /** Deletes the oldest segment, never the active one (writer tasks only). */
  async deleteOldest(): Promise<void> {
    if (this.segments.length < 2) return;
    const seg = this.segments.shift()!;
    await seg.delete();
    await fsyncDir(this.dir);
  }

  async close(): Promise<void> {
    for (const seg of this.segments) {
      seg.sealed = true;
      await seg.closeFd();
    }
  }
}
