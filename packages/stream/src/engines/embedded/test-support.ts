import type { AppendRecord, Stream, StreamRecord } from '../../types.js';

/** Test helpers for the embedded engine's own tests (not part of the package API). */

export { memoryLogger } from '@strata/testkit';

export function records(prefix: string, n: number, key = 'device-1', valueBytes = 40): AppendRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    key,
    id: `${prefix}-${i}`,
    value: Buffer.from(`${prefix}-${i}:`.padEnd(valueBytes, 'x')),
  }));
}

/** Every record of one partition from its start offset. */
export async function readPartition(stream: Stream, topic: string, partition = 0): Promise<StreamRecord[]> {
  const info = await stream.describe(topic);
  const out: StreamRecord[] = [];
  let offset = info.partitions[partition]!.startOffset;
  for (;;) {
    const batch = await stream.read(topic, partition, offset, { maxRecords: 500 });
    if (batch.length === 0) return out;
    out.push(...batch);
    offset = batch[batch.length - 1]!.offset + 1;
  }
}
