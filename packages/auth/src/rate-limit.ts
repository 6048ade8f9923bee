/**
 * Token buckets per key (client address, user, API key id): each key holds up to `burst` tokens,
 * refilled continuously at `perSecond`; a request takes one or is refused with the wait until the
 * next. Buckets are computed lazily on `take`, so there are no timers.
 *
 * Memory is bounded by `maxKeys`: buckets also form a doubly linked list in recency order, and
 * past the bound the least recently used one is dropped. (Not a Map's insertion order with
 * delete + re-set: V8 leaves deleted entries in place, so finding the oldest live one scans them
 * all, which measured ~50 µs per request at 100k keys.) A dropped key comes back with a full
 * bucket, so `maxKeys` must exceed the number of keys active at once.
 */

export interface RateLimiterOptions {
  /** Sustained rate; 0 turns limiting off. */
  perSecond: number;
  /** Requests allowed at once after a quiet spell; ignored when `perSecond` is 0. */
  burst: number;
  /** Buckets kept; default 100 000 (about 20 MB with 30-character keys). */
  maxKeys?: number;
}

export type TakeResult = { ok: true } | { ok: false; retryAfterSeconds: number };

interface Bucket {
  readonly key: string;
  tokens: number;
  lastMs: number;
  /** Towards the least recently used end. */
  older: Bucket | undefined;
  newer: Bucket | undefined;
}

const OK: TakeResult = Object.freeze({ ok: true });

export class RateLimiter {
  readonly #perSecond: number;
  readonly #burst: number;
  readonly #maxKeys: number;
  readonly #buckets = new Map<string, Bucket>();
  #oldest: Bucket | undefined;
  #newest: Bucket | undefined;

  constructor(opts: RateLimiterOptions) {
    const { perSecond, burst, maxKeys = 100_000 } = opts;
    if (!Number.isFinite(perSecond) || perSecond < 0) throw new RangeError('perSecond must be a finite number ≥ 0');
    if (perSecond > 0 && !(Number.isFinite(burst) && burst >= 1)) throw new RangeError('burst must be a finite number ≥ 1');
    if (!Number.isSafeInteger(maxKeys) || maxKeys < 1) throw new RangeError('maxKeys must be a positive integer');
    this.#perSecond = perSecond;
    this.#burst = burst;
    this.#maxKeys = maxKeys;
  }

  /** Buckets currently held (for tests and a gauge). */
  get size(): number {
    return this.#buckets.size;
  }

  take(key: string, nowMs: number = Date.now()): TakeResult {
    if (this.#perSecond === 0) return OK;
    let bucket = this.#buckets.get(key);
    if (bucket) {
      this.#unlink(bucket);
      // A clock that steps back refills nothing, and must not credit the same interval twice later.
      const elapsedMs = Math.max(0, nowMs - bucket.lastMs);
      bucket.tokens = Math.min(this.#burst, bucket.tokens + (elapsedMs * this.#perSecond) / 1000);
      bucket.lastMs = Math.max(bucket.lastMs, nowMs);
    } else {
      if (this.#buckets.size >= this.#maxKeys && this.#oldest) {
        this.#buckets.delete(this.#oldest.key);
        this.#unlink(this.#oldest);
      }
      bucket = { key, tokens: this.#burst, lastMs: nowMs, older: undefined, newer: undefined };
      this.#buckets.set(key, bucket);
    }
    this.#pushNewest(bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return OK;
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.#perSecond)) };
  }

  #unlink(bucket: Bucket): void {
    if (bucket.older) bucket.older.newer = bucket.newer;
    else this.#oldest = bucket.newer;
    if (bucket.newer) bucket.newer.older = bucket.older;
    else this.#newest = bucket.older;
    bucket.older = bucket.newer = undefined;
  }

  #pushNewest(bucket: Bucket): void {
    bucket.older = this.#newest;
    if (this.#newest) this.#newest.newer = bucket;
    else this.#oldest = bucket;
    this.#newest = bucket;
  }
}
