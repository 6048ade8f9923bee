import { describe, expect, it } from 'vitest';
import { keepFrom, purgeTarget } from './retention.js';

// 100 records of 100 bytes at sequences 1..100 (offsets 0..99), cap 10,000 bytes: full.
const full = { firstSeq: 1, lastSeq: 100, messages: 100, bytes: 10_000 };

describe('size retention', () => {
  it('purges from the start down to the low-water mark when no group holds anything', () => {
    // 80% of the cap is 8,000 bytes: 20 records go, sequences 1..20.
    expect(purgeTarget(full, 10_000, null)).toBe(21);
  });

  it('never purges past the lowest committed offset', () => {
    // Committed offset 5: offsets 0..4 (sequences 1..5) are done.
    expect(purgeTarget(full, 10_000, 5)).toBe(6);
    expect(purgeTarget(full, 10_000, 0)).toBeNull();
  });

  it('never purges past the last record, so the next offset stays where it is', () => {
    expect(purgeTarget({ firstSeq: 1, lastSeq: 3, messages: 3, bytes: 3_000 }, 1_000, null)).toBe(4);
    expect(purgeTarget({ firstSeq: 1, lastSeq: 3, messages: 3, bytes: 3_000 }, 1_000, 1_000)).toBe(4);
  });

  it('does nothing below the low-water mark or on an empty partition', () => {
    expect(purgeTarget({ ...full, bytes: 7_000 }, 10_000, null)).toBeNull();
    expect(purgeTarget({ firstSeq: 101, lastSeq: 100, messages: 0, bytes: 0 }, 10_000, null)).toBeNull();
  });

  it('holds everything for a live group that has not committed on the partition', () => {
    expect(keepFrom([40, 12], 0)).toBe(12);
    expect(keepFrom([40], 1)).toBe(0);
    expect(keepFrom([], 0)).toBeNull();
  });
});
