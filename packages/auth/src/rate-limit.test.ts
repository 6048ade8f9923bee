import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RateLimiter } from './rate-limit.js';

const T = 1_750_000_000_000;

function takeN(limiter: RateLimiter, key: string, n: number, nowMs: number): boolean[] {
  return Array.from({ length: n }, () => limiter.take(key, nowMs).ok);
}

describe('RateLimiter', () => {
  it('allows a burst, then refuses', () => {
    const limiter = new RateLimiter({ perSecond: 1, burst: 3 });
    expect(takeN(limiter, 'a', 4, T)).toEqual([true, true, true, false]);
  });

  it('refills at the sustained rate, never beyond the burst', () => {
    const limiter = new RateLimiter({ perSecond: 10, burst: 5 });
    expect(takeN(limiter, 'a', 6, T)).toEqual([true, true, true, true, true, false]);
    expect(takeN(limiter, 'a', 2, T + 100)).toEqual([true, false]); // 100 ms at 10/s = one token
    expect(takeN(limiter, 'a', 7, T + 60_000)).toEqual([true, true, true, true, true, false, false]);
  });

  it('keeps keys independent', () => {
    const limiter = new RateLimiter({ perSecond: 1, burst: 1 });
    expect(limiter.take('a', T).ok).toBe(true);
    expect(limiter.take('a', T).ok).toBe(false);
    expect(limiter.take('b', T).ok).toBe(true);
  });

  it('says how many whole seconds until the next token, at least 1', () => {
    const slow = new RateLimiter({ perSecond: 0.2, burst: 1 });
    slow.take('a', T);
    expect(slow.take('a', T)).toEqual({ ok: false, retryAfterSeconds: 5 });
    expect(slow.take('a', T + 1_500)).toEqual({ ok: false, retryAfterSeconds: 4 }); // 3.5 s left, rounded up
    expect(slow.take('a', T + 5_000)).toEqual({ ok: true });

    const fast = new RateLimiter({ perSecond: 100, burst: 1 });
    fast.take('a', T);
    expect(fast.take('a', T)).toEqual({ ok: false, retryAfterSeconds: 1 }); // 10 ms, but headers carry whole seconds
  });

  it('does not charge refused requests', () => {
    const limiter = new RateLimiter({ perSecond: 1, burst: 1 });
    limiter.take('a', T);
    for (let i = 0; i < 100; i++) limiter.take('a', T + 500);
    expect(limiter.take('a', T + 1_000).ok).toBe(true);
  });

  it('refills nothing when the clock steps back, and does not credit the interval twice', () => {
    const limiter = new RateLimiter({ perSecond: 1, burst: 2 });
    expect(takeN(limiter, 'a', 2, T)).toEqual([true, true]);
    expect(limiter.take('a', T - 10_000).ok).toBe(false);
    expect(limiter.take('a', T + 1_000).ok).toBe(true);
    expect(limiter.take('a', T + 1_000).ok).toBe(false);
  });

  it('is unlimited at perSecond 0, and keeps no state', () => {
    const limiter = new RateLimiter({ perSecond: 0, burst: 0 });
    expect(takeN(limiter, 'a', 1000, T).every(Boolean)).toBe(true);
    expect(limiter.size).toBe(0);
  });

  it('holds at most maxKeys buckets, dropping the least recently used', () => {
    const limiter = new RateLimiter({ perSecond: 1, burst: 1, maxKeys: 3 });
    for (const key of ['a', 'b', 'c']) limiter.take(key, T);
    limiter.take('a', T); // refused, but touches a: b is now the oldest
    limiter.take('d', T); // evicts b
    expect(limiter.size).toBe(3);
    expect(limiter.take('a', T).ok).toBe(false); // a kept its empty bucket
    expect(limiter.take('c', T).ok).toBe(false);
    expect(limiter.take('b', T).ok).toBe(true); // b was forgotten: full again (evicting d)
    for (let i = 0; i < 10_000; i++) limiter.take(`k${i}`, T);
    expect(limiter.size).toBe(3);
  });

  it('keeps the recency order when a middle bucket and then its newer neighbour are touched', () => {
    const limiter = new RateLimiter({ perSecond: 1, burst: 1, maxKeys: 3 });
    for (const key of ['a', 'b', 'c', 'b', 'c', 'd']) limiter.take(key, T); // recency a b c → a c b → a b c, then d evicts a
    expect(limiter.take('a', T).ok).toBe(true);
  });

  it('agrees with a naive array-based LRU model on random traffic', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', 'd'), fc.oneof(fc.nat(100), fc.nat(3_000))), { maxLength: 200 }), (steps) => {
        // Slow refill keeps buckets low, so a wrongly evicted key shows up as an unexpected full bucket.
        const limiter = new RateLimiter({ perSecond: 1, burst: 1.5, maxKeys: 3 });
        let model: { key: string; tokens: number; lastMs: number }[] = []; // oldest first
        let now = T;
        for (const [key, advanceMs] of steps) {
          now += advanceMs;
          let bucket = model.find((b) => b.key === key);
          if (bucket) {
            bucket.tokens = Math.min(1.5, bucket.tokens + (now - bucket.lastMs) / 1000);
            bucket.lastMs = now;
          } else {
            bucket = { key, tokens: 1.5, lastMs: now };
            if (model.length === 3) model = model.slice(1);
          }
          model = [...model.filter((b) => b !== bucket), bucket];
          const ok = bucket.tokens >= 1;
          if (ok) bucket.tokens -= 1;
          expect(limiter.take(key, now).ok).toBe(ok);
          expect(limiter.size).toBe(model.length);
        }
      }),
      { numRuns: 1_000 }, // cheap, and list-pointer bugs need a particular order of touches to show
    );
  });

  it('refuses nonsense options', () => {
    expect(() => new RateLimiter({ perSecond: -1, burst: 1 })).toThrow(RangeError);
    expect(() => new RateLimiter({ perSecond: Number.NaN, burst: 1 })).toThrow(RangeError);
    expect(() => new RateLimiter({ perSecond: 1, burst: 0 })).toThrow(RangeError);
    expect(() => new RateLimiter({ perSecond: 1, burst: 1, maxKeys: 0 })).toThrow(RangeError);
  });
});
