import type { AppendRecord, Stream, StreamRecord } from '../../types.js';
import type { Logger } from '@strata/core';

/** Test helpers for the embedded engine's own tests (not part of the package API). */

export interface LogLine {
  level: 'info' | 'warn' | 'error' | 'debug';
  obj: Record<string, unknown>;
  msg: string | undefined;
}

/** A logger that keeps what it is given, to assert on warnings. */
export function memoryLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: LogLine['level']) => (obj: object, msg?: string) => void lines.push({ level, obj: obj as Record<string, unknown>, msg });
  return { lines, info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
}

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
