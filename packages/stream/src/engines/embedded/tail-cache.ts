/**
 * The in-memory tail of a topic: the most recent durable frames of every partition, up to a byte
 * budget for the whole topic, so consumers keeping up never touch the disk. Frames leave in
 * the order they came (oldest first, whatever their partition).
 */
export interface CachedFrame {
  baseOffset: number;
  count: number;
  buf: Buffer;
}

/** A FIFO with amortised O(1) shift. */
class Queue<T> {
  private items: T[] = [];
  private head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(item: T): void {
    this.items.push(item);
  }
  at(i: number): T | undefined {
    return this.items[this.head + i];
  }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head++];
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

export class TailCache {
  private readonly frames: Queue<CachedFrame>[];
  private readonly order = new Queue<number>();
  private bytes = 0;

  constructor(
    partitions: number,
    private readonly budgetBytes: number,
  ) {
    this.frames = Array.from({ length: partitions }, () => new Queue<CachedFrame>());
  }

  add(partition: number, frame: CachedFrame): void {
    this.frames[partition]!.push(frame);
    this.order.push(partition);
    this.bytes += frame.buf.length;
    while (this.bytes > this.budgetBytes && this.order.length > 1) {
      const p = this.order.shift()!;
      const old = this.frames[p]!.shift();
      if (old) this.bytes -= old.buf.length;
    }
  }

  /**
   * Cached frames of `partition` from the one holding `offset` on, enough to cover `max` records,
   * or null when `offset` is older than the cache.
   */
  from(partition: number, offset: number, max: number): CachedFrame[] | null {
    const q = this.frames[partition]!;
    const first = q.at(0);
    if (!first || offset < first.baseOffset) return null;
    let lo = 0;
    let hi = q.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (q.at(mid)!.baseOffset <= offset) lo = mid;
      else hi = mid - 1;
    }
    const out: CachedFrame[] = [];
    let covered = 0;
    for (let i = lo; i < q.length && covered < max; i++) {
      const f = q.at(i)!;
      out.push(f);
      covered += f.baseOffset + f.count - Math.max(offset, f.baseOffset);
    }
    return out;
  }
}
