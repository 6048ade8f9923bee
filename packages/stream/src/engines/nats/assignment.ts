/**
 * Partition assignment of a consumer group spread over processes. Every process (a group
 * "coordinator") announces how many members it has; each computes the same assignment from the
 * same view: member slots ordered by coordinator id, then by join order within the process, and
 * partition p goes to slot p mod (number of slots), the embedded engine's round-robin.
 */

export interface CoordinatorView {
  id: string;
  /** Members of the group in that process (0: it holds no partitions). */
  members: number;
}

/** The partitions of each member of coordinator `self`, in its join order. */
export function assignPartitions(partitions: number, coordinators: CoordinatorView[], self: string): number[][] {
  const ordered = coordinators.filter((c) => c.members > 0).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const mine = ordered.find((c) => c.id === self);
  if (!mine) return [];
  const shares: number[][] = Array.from({ length: mine.members }, () => []);
  let first = 0;
  for (const c of ordered) {
    if (c.id === self) break;
    first += c.members;
  }
  const slots = ordered.reduce((n, c) => n + c.members, 0);
  for (let p = 0; p < partitions; p++) {
    const slot = p % slots;
    if (slot >= first && slot < first + mine.members) shares[slot - first]!.push(p);
  }
  return shares;
}
