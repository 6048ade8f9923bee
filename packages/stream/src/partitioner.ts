/**
 * Partition of a key: FNV-1a (32-bit) of the key's UTF-16 code units, modulo the partition
 * count. Every engine uses this one function, so a device maps to the same partition on all of
 * them and replays between engines keep per-device order.
 */
export function partitionFor(key: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % partitions;
}
