/**
 * The sparse index of one segment: one entry per frame (base offset, file position, frame length,
 * record count, append time), held in one growable Float64Array rather than an object per frame,
 * so a partition with millions of frames stays cheap. Entries are in offset order and, because
 * append times never decrease within a partition, in time order too.
 */
const STRIDE = 5;

export class FrameIndex {
  private data = new Float64Array(STRIDE * 64);
  length = 0;

  push(offset: number, position: number, frameLength: number, count: number, appendTime: number): void {
    if ((this.length + 1) * STRIDE > this.data.length) {
      const grown = new Float64Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    const i = this.length * STRIDE;
    this.data[i] = offset;
    this.data[i + 1] = position;
    this.data[i + 2] = frameLength;
    this.data[i + 3] = count;
    this.data[i + 4] = appendTime;
    this.length++;
  }

  offset(i: number): number {
    return this.data[i * STRIDE]!;
  }
  position(i: number): number {
    return this.data[i * STRIDE + 1]!;
  }
  frameLength(i: number): number {
    return this.data[i * STRIDE + 2]!;
  }
  count(i: number): number {
    return this.data[i * STRIDE + 3]!;
  }
  appendTime(i: number): number {
    return this.data[i * STRIDE + 4]!;
  }

  /** Index of the frame holding `offset` (the last frame starting at or before it), or -1. */
  findOffset(offset: number): number {
    let lo = 0;
    let hi = this.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.offset(mid) <= offset) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /** Index of the first frame appended at or after `timeMs`, or `length` when none. */
  findTime(timeMs: number): number {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.appendTime(mid) < timeMs) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Serialised entries for the .idx sidecar (see segment.ts). */
  entriesBuffer(): Buffer {
    return Buffer.from(this.data.buffer, this.data.byteOffset, this.length * STRIDE * 8);
  }

  static fromEntries(buf: Buffer): FrameIndex {
    const idx = new FrameIndex();
    const n = Math.floor(buf.length / (STRIDE * 8));
    idx.data = new Float64Array(Math.max(n, 64) * STRIDE);
    for (let i = 0; i < n * STRIDE; i++) idx.data[i] = buf.readDoubleLE(i * 8);
    idx.length = n;
    return idx;
  }
}
