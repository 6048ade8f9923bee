import { describe, expect, it } from 'vitest';
import { assignPartitions } from './assignment.js';

describe('assignPartitions', () => {
  it('deals partitions round-robin over the members of one process', () => {
    expect(assignPartitions(4, [{ id: 'a', members: 1 }], 'a')).toEqual([[0, 1, 2, 3]]);
    expect(assignPartitions(4, [{ id: 'a', members: 2 }], 'a')).toEqual([
      [0, 2],
      [1, 3],
    ]);
  });

  it('gives every process the same view: each partition to exactly one member, whatever the order given', () => {
    const view = [
      { id: 'c', members: 2 },
      { id: 'a', members: 1 },
      { id: 'b', members: 3 },
    ];
    for (const self of ['a', 'b', 'c']) expect(assignPartitions(10, [...view].reverse(), self)).toEqual(assignPartitions(10, view, self));
    const all = ['a', 'b', 'c'].flatMap((self) => assignPartitions(10, view, self).flat()).sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: 10 }, (_, i) => i));
    // Slots ordered by process id: a's only member has slot 0, b's members 1-3, c's 4-5.
    expect(assignPartitions(10, view, 'a')).toEqual([[0, 6]]);
    expect(assignPartitions(10, view, 'b')).toEqual([[1, 7], [2, 8], [3, 9]]);
    expect(assignPartitions(10, view, 'c')).toEqual([[4], [5]]);
  });

  it('leaves members beyond the partition count empty and ignores processes without members', () => {
    expect(assignPartitions(2, [{ id: 'a', members: 3 }, { id: 'b', members: 0 }], 'a')).toEqual([[0], [1], []]);
    expect(assignPartitions(2, [{ id: 'a', members: 1 }, { id: 'b', members: 0 }], 'b')).toEqual([]);
  });

  it('hands a leaving process\'s partitions to the others', () => {
    const before = assignPartitions(4, [{ id: 'a', members: 1 }, { id: 'b', members: 1 }], 'a');
    const after = assignPartitions(4, [{ id: 'a', members: 1 }], 'a');
    expect(before).toEqual([[0, 2]]);
    expect(after).toEqual([[0, 1, 2, 3]]);
  });
});
