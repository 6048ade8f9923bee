import { describe, expect, it } from 'vitest';
import { uuidv7, uuidv7Time } from './id.js';

describe('uuidv7', () => {
  it('has the RFC 9562 layout: version 7, variant 10', () => {
    for (let i = 0; i < 1000; i++) {
      expect(uuidv7()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
  });

  it('never goes back, even when the clock does', () => {
    const now = Date.now();
    const a = uuidv7(now + 10);
    const b = uuidv7(now - 60_000);
    expect(b > a).toBe(true);
  });

  it('encodes its creation time and sorts by it, even many ids in one millisecond', () => {
    const t = Date.now() + 3_600_000; // ahead of every id made so far in this process
    const ids = Array.from({ length: 10_000 }, () => uuidv7(t));
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    expect(uuidv7Time(ids[0]!)).toBe(t);
    const later = uuidv7(t + 60_000);
    expect(later > ids[ids.length - 1]!).toBe(true);
    expect(uuidv7Time(later)).toBe(t + 60_000);
  });
});
