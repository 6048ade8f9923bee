/**
 * One coalesced batch → one transaction of set-based statements. Each statement takes its rows
 * as arrays (`unnest($1::text[], ...)`), so its text and parameter count do not depend on the
 * batch size, and each key appears once in it (coalesce.ts).
 *
 * The transaction first moves the consumer's offsets, fenced on the values the batch was read
 * from: if another writer moved them meanwhile, nothing is written (`OffsetsMoved`) and the
 * caller re-reads from the stored offsets. The row locks taken there also serialise two writers
 * of one partition, so the loser waits and then finds the offsets moved.
 */
import { sql, type Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type { DeviceRow, LatestRow, RollupRow } from './coalesce.js';

export interface OffsetAdvance {
  partition: number;
  /** The stored offset the batch was read from; undefined when none was stored yet. */
  from: number | undefined;
  /** The next offset to read once the batch is written. */
  to: number;
}

export interface BatchRows {
  devices: DeviceRow[];
  latest: LatestRow[];
  rollups: RollupRow[];
}

/** The stored offsets were moved by another writer: the transaction was rolled back. */
export class OffsetsMoved extends Error {
  constructor(readonly partitions: number[]) {
    super(`stored offsets of partitions ${partitions.join(', ')} were moved by another writer`);
    this.name = 'OffsetsMoved';
  }
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** Stored next offsets of `partitions` (absent: none stored). */
export async function readOffsets(db: Kysely<Database>, consumer: string, topic: string, partitions: number[]): Promise<Map<number, number>> {
  if (partitions.length === 0) return new Map();
  const rows = await db
    .selectFrom('consumer_offsets')
    .select(['partition', 'next_offset'])
    .where('consumer', '=', consumer)
    .where('topic', '=', topic)
    .where('partition', 'in', partitions)
    .execute();
  return new Map(rows.map((r) => [r.partition, Number(r.next_offset)]));
}

/** Writes one batch and its offsets atomically; throws OffsetsMoved when fenced out. */
export async function writeBatch(db: Kysely<Database>, consumer: string, topic: string, advances: OffsetAdvance[], rows: BatchRows): Promise<void> {
  await db.transaction().execute(async (tx) => {
    await advanceOffsets(tx, consumer, topic, advances);
    if (rows.devices.length > 0) await upsertDevices(tx, rows.devices);
    if (rows.latest.length > 0) await upsertLatest(tx, rows.latest);
    if (rows.rollups.length > 0) await upsertRollups(tx, rows.rollups);
  });
}

async function advanceOffsets(tx: Kysely<Database>, consumer: string, topic: string, advances: OffsetAdvance[]): Promise<void> {
  const stored = advances.filter((a) => a.from !== undefined);
  const fresh = advances.filter((a) => a.from === undefined);
  const moved = new Set(advances.map((a) => a.partition));
  if (stored.length > 0) {
    const { rows } = await sql<{ partition: number }>`
      update consumer_offsets as o set next_offset = i.next_offset
      from unnest(${stored.map((a) => a.partition)}::int4[], ${stored.map((a) => a.from)}::int8[], ${stored.map((a) => a.to)}::int8[]) as i(partition, prev, next_offset)
      where o.consumer = ${consumer} and o.topic = ${topic} and o.partition = i.partition and o.next_offset = i.prev
      returning o.partition`.execute(tx);
    for (const r of rows) moved.delete(r.partition);
  }
  if (fresh.length > 0) {
    const { rows } = await sql<{ partition: number }>`
      insert into consumer_offsets (consumer, topic, partition, next_offset)
      select ${consumer}, ${topic}, i.partition, i.next_offset from unnest(${fresh.map((a) => a.partition)}::int4[], ${fresh.map((a) => a.to)}::int8[]) as i(partition, next_offset)
      on conflict do nothing
      returning partition`.execute(tx);
    for (const r of rows) moved.delete(r.partition);
  }
  if (moved.size > 0) throw new OffsetsMoved([...moved].sort((a, b) => a - b));
}

/**
 * Devices erased with their patient (GDPR, issue 8) stay erased: events of theirs that arrive
 * later (a replay, a device still sending) are not stored again. `t.id` is the device column.
 */
const notErased = sql`where t.id not in (select device_id from erased_devices)`;

async function upsertDevices(tx: Kysely<Database>, devices: DeviceRow[]): Promise<void> {
  await sql`
    insert into devices (id, kind, tags, last_seen)
    select * from unnest(${devices.map((d) => d.id)}::text[], ${devices.map((d) => d.kind)}::text[], ${devices.map((d) => JSON.stringify(d.tags))}::jsonb[], ${devices.map((d) => iso(d.lastSeenMs))}::timestamptz[]) as t (id)
    ${notErased}
    on conflict (id) do update set
      last_seen = greatest(devices.last_seen, excluded.last_seen),
      tags = devices.tags || excluded.tags`.execute(tx);
}

async function upsertLatest(tx: Kysely<Database>, latest: LatestRow[]): Promise<void> {
  await sql`
    insert into latest_values (device, metric, ts, value, event_id)
    select * from unnest(${latest.map((l) => l.device)}::text[], ${latest.map((l) => l.metric)}::text[], ${latest.map((l) => iso(l.tsMs))}::timestamptz[], ${latest.map((l) => l.value)}::float8[], ${latest.map((l) => l.eventId)}::text[]) as t (id)
    ${notErased}
    on conflict (device, metric) do update set ts = excluded.ts, value = excluded.value, event_id = excluded.event_id
    where excluded.ts >= latest_values.ts`.execute(tx);
}

async function upsertRollups(tx: Kysely<Database>, rollups: RollupRow[]): Promise<void> {
  await sql`
    insert into rollups_1m (device, metric, minute, count, min, max, sum, sum_sq)
    select * from unnest(
      ${rollups.map((r) => r.device)}::text[], ${rollups.map((r) => r.metric)}::text[], ${rollups.map((r) => iso(r.minuteMs))}::timestamptz[],
      ${rollups.map((r) => r.count)}::int8[], ${rollups.map((r) => r.min)}::float8[], ${rollups.map((r) => r.max)}::float8[],
      ${rollups.map((r) => r.sum)}::float8[], ${rollups.map((r) => r.sumSq)}::float8[]) as t (id)
    ${notErased}
    on conflict (device, metric, minute) do update set
      count = rollups_1m.count + excluded.count,
      min = least(rollups_1m.min, excluded.min),
      max = greatest(rollups_1m.max, excluded.max),
      sum = rollups_1m.sum + excluded.sum,
      sum_sq = rollups_1m.sum_sq + excluded.sum_sq`.execute(tx);
}
