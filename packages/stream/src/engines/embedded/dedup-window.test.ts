import { describe, expect, it } from 'vitest';
import { DedupWindow } from './dedup-window.js';

describe('dedup window', () => {
  it('reports ids seen within the window and forgets them after it', () => {
    const w = new DedupWindow(1000, 100);
    expect(w.seenOrAdd('a', 0)).toBe(false);
    expect(w.seenOrAdd('a', 1000)).toBe(true);
    expect(w.seenOrAdd('a', 1001)).toBe(false); // expired: remembered again from 1001
    expect(w.seenOrAdd('a', 2000)).toBe(true);
    w.evict(5000);
    expect(w.size).toBe(0);
  });

  it('keeps at most maxIds ids, forgetting the oldest first', () => {
    const w = new DedupWindow(60_000, 3);
    for (const id of ['a', 'b', 'c', 'd']) w.seenOrAdd(id, 10);
    w.evict(10);
    expect(w.size).toBe(3);
    expect(w.seenOrAdd('b', 11)).toBe(true);
    expect(w.seenOrAdd('a', 11)).toBe(false);
  });

  it('forgets the ids of a failed write so a retry goes through', () => {
    const w = new DedupWindow(60_000, 100);
    w.seenOrAdd('x', 5);
    w.remove('x', 5);
    expect(w.seenOrAdd('x', 6)).toBe(false);
  });
});
