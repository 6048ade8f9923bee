/**
 * What the window remembers of a record: its key (device) and id together, so two devices that
 * happen to use the same id in one partition are not taken for duplicates of each other.
 */
export function dedupKey(key: string, id: string): string {
  return `${key}\u0000${id}`;
}

/**
 * The ids a partition has appended recently, for idempotent appends (JetStream's duplicate window).
 * A Map keeps insertion order, which is append-time order because append times never decrease in
 * a partition, so evicting expired ids (and, past `maxIds`, the oldest ones) pops from the front.
 */
export class DedupWindow {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly windowMs: number,
    private readonly maxIds: number,
  ) {}

  get size(): number {
    return this.seen.size;
  }

  /**
   * True when `id` was appended at or after `now - windowMs` (a duplicate); otherwise remembers
   * it as appended at `now`. One lookup in the common case of a new id (the hot path).
   */
  seenOrAdd(id: string, now: number): boolean {
    const t = this.seen.get(id);
    if (t === undefined) {
      this.seen.set(id, now);
      return false;
    }
    if (t >= now - this.windowMs) return true;
    this.add(id, now);
    return false;
  }

  add(id: string, appendTime: number): void {
    // Delete first so a re-added id (after its window ran out) moves to the back.
    this.seen.delete(id);
    this.seen.set(id, appendTime);
  }

  /** Forgets ids of a write that failed, so a retry is not taken for a duplicate. */
  remove(id: string, appendTime: number): void {
    if (this.seen.get(id) === appendTime) this.seen.delete(id);
  }

  evict(now: number): void {
    const cutoff = now - this.windowMs;
    for (const [id, t] of this.seen) {
      if (t >= cutoff && this.seen.size <= this.maxIds) break;
      this.seen.delete(id);
    }
  }
}
