import type { Logger } from '@strata/core';
import type { Topic } from './topic.js';

/**
 * One retention pass over a topic, run by each partition's writer between write cycles:
 *
 * - by age: sealed segments whose newest record was appended before `now - retentionMs` are
 *   deleted, whatever consumers have read (like Kinesis); an active segment that old is sealed
 *   first so an idle partition empties too;
 * - by size: while the partition holds more than `retentionBytes`, its oldest segment is deleted,
 *   but only when every group with committed offsets has committed past its last record.
 *
 * Groups whose committed offset falls before the new start have lost records: their offset moves
 * to the start and a warning says how many.
 */
export async function enforceRetention(topic: Topic, now: number, logger: Logger): Promise<void> {
  await Promise.all(topic.writers.map((writer, p) => writer.runTask(() => retainPartition(topic, p, now, logger))));
}

async function retainPartition(topic: Topic, p: number, now: number, logger: Logger): Promise<void> {
  const log = topic.logs[p]!;
  const { retentionMs, retentionBytes } = topic.config;
  const cutoff = now - retentionMs;
  const active = log.active;
  const fullyCommitted = topic.minCommitted(p) >= log.durableEnd;
  if (active.index.length > 0 && (active.lastAppendTime < cutoff || (log.bytes > retentionBytes && log.segments.length === 1 && fullyCommitted))) {
    await log.roll();
  }
  let deleted = 0;
  while (log.segments.length > 1) {
    const oldest = log.segments[0]!;
    const expired = !(oldest.lastAppendTime >= cutoff);
    const oversize = log.bytes > retentionBytes && topic.minCommitted(p) >= oldest.endOffset;
    if (!expired && !oversize) break;
    logger.info(
      { topic: topic.name, partition: p, file: oldest.logPath, records: oldest.endOffset - oldest.baseOffset, bytes: oldest.size, reason: expired ? 'age' : 'size' },
      'retention deleted stream segment',
    );
    await log.deleteOldest();
    deleted++;
  }
  if (deleted === 0) return;
  const start = log.startOffset;
  for (const group of topic.groups.values()) {
    const lost = await group.skipTo(p, start);
    if (lost > 0) {
      logger.warn({ topic: topic.name, group: group.name, partition: p, lost }, 'retention deleted records a consumer group had not committed');
    }
  }
}
