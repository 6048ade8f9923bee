/**
 * Size retention of the NATS engine. Each partition stream has `max_bytes = retentionBytes` and
 * `discard: new`: JetStream itself never drops data for size, it refuses appends once full
 * (STRATA_ERR_STREAM_FULL). To make room the engine purges the oldest records every consumer
 * group has committed past: when a partition holds more than PURGE_HIGH_WATER of the cap (the
 * periodic check) or an append was refused, records are purged from the start until the
 * partition is down to PURGE_LOW_WATER of the cap, never past the lowest committed offset of any
 * group (a group with live members and no commit on the partition holds everything).
 */

export const PURGE_HIGH_WATER = 0.9;
export const PURGE_LOW_WATER = 0.8;

export interface PartitionState {
  /** First sequence held (JetStream `first_seq`). */
  firstSeq: number;
  /** Last sequence stored (JetStream `last_seq`). */
  lastSeq: number;
  messages: number;
  bytes: number;
}

/**
 * The sequence to purge up to (exclusive: records before it go), or null when nothing should
 * or may go. `keepFromOffset`: the lowest offset some group still needs (its committed offset),
 * or null when no group holds anything.
 */
export function purgeTarget(state: PartitionState, capBytes: number, keepFromOffset: number | null, lowWater = PURGE_LOW_WATER): number | null {
  if (state.messages === 0 || state.bytes <= capBytes * lowWater) return null;
  const average = state.bytes / state.messages;
  const toFree = state.bytes - capBytes * lowWater;
  let target = state.firstSeq + Math.ceil(toFree / average);
  // Offset o is sequence o + 1: keeping offset o means purging only sequences up to o.
  if (keepFromOffset !== null) target = Math.min(target, keepFromOffset + 1);
  // Never past the last record: a purge beyond it would move the next sequence (offsets stay dense).
  target = Math.min(target, state.lastSeq + 1);
  return target > state.firstSeq ? target : null;
}

/**
 * The lowest offset any group still needs on a partition: the minimum committed offset, or 0
 * when a group with live members has not committed there; null when no group holds anything.
 */
export function keepFrom(committed: number[], liveGroupsWithoutCommit: number): number | null {
  if (liveGroupsWithoutCommit > 0) return 0;
  return committed.length === 0 ? null : Math.min(...committed);
}
