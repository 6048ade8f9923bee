import { streamErrors } from '../../errors.js';
import type { PartitionLog, StagedFrame } from './partition-log.js';

/**
 * Group commit for one partition. Frames staged while a write + fdatasync is in flight queue up;
 * the next cycle writes all of them with one writev and one fdatasync, then acknowledges them
 * all. So the cost of an fsync is shared by every append that arrived during the previous one,
 * and throughput grows with concurrency instead of being capped at one append per fsync.
 *
 * The writer also runs the partition's maintenance tasks (segment roll, retention deletes)
 * between cycles, so nothing else ever changes the segment list under a write.
 *
 * On a failed cycle, the file is truncated back to its size before the cycle (no torn frame may
 * stay between good ones), every frame of the cycle and every frame queued behind it is rejected
 * (their offsets assumed the failed ones), and the offsets and dedup ids they took are handed
 * back. If the truncate fails too, the partition is marked unwritable until the stream reopens
 * (recovery at open truncates the tail).
 */
export interface WriterSettings {
  segmentBytes: number;
  segmentMs: number;
  now: () => number;
  /** After a successful cycle: its frames are durable and readable. */
  onDurable(): void;
  /** `bytes` staged bytes stopped being pending (written or rejected). */
  onSettled(bytes: number): void;
}

interface QueuedFrame {
  staged: StagedFrame;
  done: (err: Error | null) => void;
}

interface Task {
  run: () => Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class PartitionWriter {
  private pending: QueuedFrame[] = [];
  private tasks: Task[] = [];
  private running = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly log: PartitionLog,
    private readonly settings: WriterSettings,
  ) {}

  /** Queues a staged frame; `done` is called once it is durable (null) or has failed. */
  enqueue(staged: StagedFrame, done: (err: Error | null) => void): void {
    this.pending.push({ staged, done });
    this.schedule();
  }

  /** Runs `run` between write cycles. */
  runTask(run: () => Promise<void>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.tasks.push({ run, resolve, reject });
      this.schedule();
    });
  }

  /** Resolves once nothing is queued or in flight. */
  idle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.running) return;
    this.running = true;
    // A microtask later, so every frame staged in the same tick (one multi-partition append,
    // or many appends from one batch of I/O callbacks) goes in the first cycle.
    queueMicrotask(() => void this.loop());
  }

  private async loop(): Promise<void> {
    for (;;) {
      const task = this.tasks.shift();
      if (task) {
        try {
          await task.run();
          task.resolve();
        } catch (err) {
          task.reject(err);
        }
        continue;
      }
      if (this.pending.length === 0) break;
      const batch = this.pending;
      this.pending = [];
      await this.cycle(batch);
    }
    this.running = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private shouldRoll(): boolean {
    const seg = this.log.active;
    if (seg.index.length === 0) return false;
    return seg.size >= this.settings.segmentBytes || this.settings.now() - seg.firstAppendTime >= this.settings.segmentMs;
  }

  private async cycle(batch: QueuedFrame[]): Promise<void> {
    const log = this.log;
    if (log.unwritable !== null) {
      return this.fail(batch, streamErrors.STRATA_ERR_STREAM_IO({ topic: log.topic, partition: log.partition, reason: log.unwritable }), null);
    }
    if (this.shouldRoll()) {
      try {
        await log.roll();
      } catch (err) {
        return this.fail(batch, err, null);
      }
    }
    const seg = log.active;
    const fd = seg.writeFd();
    const before = seg.size;
    const bufs = new Array<Buffer>(batch.length);
    let bytes = 0;
    for (let i = 0; i < batch.length; i++) {
      const frame = batch[i]!.staged.frame;
      bufs[i] = frame;
      bytes += frame.length;
    }
    try {
      const written = await log.ops.writev(fd, bufs, before);
      if (written !== bytes) {
        // libuv reports an error that happens after part of a writev as a short count.
        throw Object.assign(new Error(`short write: ${written} of ${bytes} bytes`), { code: 'ENOSPC' });
      }
      await log.ops.fdatasync(fd);
    } catch (err) {
      return this.fail(batch, err, { fd, before });
    }
    for (const { staged } of batch) {
      seg.addFrame(staged.baseOffset, staged.frame.length, staged.count, staged.appendTime);
      log.cache.add(log.partition, { baseOffset: staged.baseOffset, count: staged.count, buf: staged.frame });
    }
    log.durableEnd = seg.endOffset;
    log.pendingBytes -= bytes;
    log.diskFull = false;
    this.settings.onSettled(bytes);
    this.settings.onDurable();
    for (const q of batch) q.done(null);
  }

  private async fail(batch: QueuedFrame[], err: unknown, truncate: { fd: number; before: number } | null): Promise<void> {
    const log = this.log;
    // Synchronously, before anything else can stage: hand back offsets and dedup ids.
    const rejected = batch.concat(this.pending);
    this.pending = [];
    log.nextOffset = log.durableEnd;
    let bytes = 0;
    for (const { staged } of rejected) {
      bytes += staged.frame.length;
      if (staged.ids) for (const id of staged.ids) log.dedup.remove(id, staged.appendTime);
    }
    log.pendingBytes -= bytes;
    this.settings.onSettled(bytes);
    const error = this.mapError(err);
    if (truncate) {
      try {
        await log.ops.ftruncate(truncate.fd, truncate.before);
        await log.ops.fdatasync(truncate.fd);
        log.logger.warn({ topic: log.topic, partition: log.partition, err, records: rejected.length }, 'stream write failed; appends rejected, file truncated back');
      } catch (truncErr) {
        log.unwritable = `write failed (${(err as Error).message}) and truncating back failed (${(truncErr as Error).message})`;
        log.logger.error({ topic: log.topic, partition: log.partition, err, truncErr }, 'stream partition unwritable until reopened');
      }
    }
    for (const q of rejected) q.done(error);
  }

  private mapError(err: unknown): Error {
    const log = this.log;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      log.diskFull = true;
      return streamErrors.STRATA_ERR_STREAM_FULL({ topic: log.topic, reason: 'disk full' }, err);
    }
    if (streamErrors.STRATA_ERR_STREAM_IO.is(err)) return err;
    return streamErrors.STRATA_ERR_STREAM_IO({ topic: log.topic, partition: log.partition, reason: (err as Error).message }, err);
  }
}
