/**
 * Reads of what the state consumer writes (devices, latest values, 1-minute rollups) and the
 * device registry's writes. Every value is a query parameter. Functions take a Kysely instance or
 * a transaction.
 */
import { sql, type Kysely } from 'kysely';
import { dbErrors } from './errors.js';
import type { Database, Device, DeviceKind, Json } from './schema.js';

export interface LatestValue {
  metric: string;
  ts: Date;
  value: number;
  eventId: string;
}

/** The device's latest value of each metric, by metric name. */
export async function latestValues(db: Kysely<Database>, deviceId: string): Promise<LatestValue[]> {
  const rows = await db
    .selectFrom('latest_values')
    .select(['metric', 'ts', 'value', 'event_id'])
    .where('device', '=', deviceId)
    .orderBy('metric')
    .execute();
  return rows.map((r) => ({ metric: r.metric, ts: r.ts, value: r.value, eventId: r.event_id }));
}

export interface SeriesQuery {
  device: string;
  metric: string;
  /** Rollup minutes in [from, to) are aggregated. */
  from: Date;
  to: Date;
  /** Bucket width: a multiple of 60 s. Buckets are aligned on the Unix epoch (so 1 h buckets start on the hour). */
  stepSeconds: number;
}

export interface SeriesBucket {
  start: Date;
  count: number;
  min: number | null;
  max: number | null;
  avg: number | null;
  /** Population standard deviation (from the sums and sums of squares). */
  stddev: number | null;
}

/** Most buckets one series query returns. */
export const MAX_SERIES_BUCKETS = 10_000;

/**
 * Every bucket from the one holding `from` to the one holding the end of the range, ordered by
 * time; a bucket without data has count 0 and nulls.
 */
export async function series(db: Kysely<Database>, q: SeriesQuery): Promise<SeriesBucket[]> {
  const fromMs = q.from.getTime();
  const toMs = q.to.getTime();
  if (!Number.isFinite(fromMs) || !Number.isFinite(toMs) || fromMs >= toMs) {
    throw dbErrors.STRATA_ERR_DB_BAD_QUERY({ option: 'from/to', reason: 'from must be a time before to' });
  }
  if (!Number.isSafeInteger(q.stepSeconds) || q.stepSeconds < 60 || q.stepSeconds % 60 !== 0) {
    throw dbErrors.STRATA_ERR_DB_BAD_QUERY({ option: 'stepSeconds', reason: 'must be a multiple of 60, at least 60' });
  }
  const stepMs = q.stepSeconds * 1000;
  const buckets = Math.floor((toMs - 1) / stepMs) - Math.floor(fromMs / stepMs) + 1;
  if (buckets > MAX_SERIES_BUCKETS) {
    throw dbErrors.STRATA_ERR_DB_BAD_QUERY({ option: 'stepSeconds', reason: `the range holds ${buckets} buckets, more than ${MAX_SERIES_BUCKETS}` });
  }
  const step = sql`make_interval(secs => ${q.stepSeconds})`;
  const origin = sql`timestamptz '1970-01-01 00:00:00+00'`;
  const { rows } = await sql<{ start: Date; count: number; min: number | null; max: number | null; sum: number | null; sum_sq: number | null }>`
    with agg as (
      select date_bin(${step}, minute, ${origin}) as start,
        sum(count)::int8 as count, min(min) as min, max(max) as max, sum(sum) as sum, sum(sum_sq) as sum_sq
      from rollups_1m
      where device = ${q.device} and metric = ${q.metric} and minute >= ${q.from.toISOString()}::timestamptz and minute < ${q.to.toISOString()}::timestamptz
      group by 1
    )
    select g.start, coalesce(a.count, 0)::int8 as count, a.min, a.max, a.sum, a.sum_sq
    from generate_series(
      date_bin(${step}, ${q.from.toISOString()}::timestamptz, ${origin}),
      ${q.to.toISOString()}::timestamptz - interval '1 microsecond',
      ${step}) as g(start)
    left join agg a on a.start = g.start
    order by g.start`.execute(db);
  return rows.map((r) => {
    if (r.count === 0 || r.sum === null || r.sum_sq === null) return { start: r.start, count: 0, min: null, max: null, avg: null, stddev: null };
    const avg = r.sum / r.count;
    // E[x²] − E[x]², clamped: rounding can make it slightly negative when all values are equal.
    const variance = Math.max(0, r.sum_sq / r.count - avg * avg);
    return { start: r.start, count: r.count, min: r.min, max: r.max, avg, stddev: Math.sqrt(variance) };
  });
}

export interface DeviceQuery {
  /** Kinds the caller may see; devices of other kinds are never returned. */
  kinds: readonly DeviceKind[];
  kind?: DeviceKind;
  /** Devices whose latest tags hold this key with this value. */
  tag?: readonly [string, string];
  /** last_seen >= this. */
  lastSeenAfter?: Date;
  /** last_seen < this. */
  lastSeenBefore?: Date;
  limit: number;
  /** Cursor: the id of the last device of the previous page. */
  after?: string;
}

/** Devices ordered by id, a page at a time (`nextCursor` when there are more). */
export async function listDevices(db: Kysely<Database>, q: DeviceQuery): Promise<{ devices: Device[]; nextCursor?: string }> {
  if (!Number.isSafeInteger(q.limit) || q.limit < 1) throw dbErrors.STRATA_ERR_DB_BAD_QUERY({ option: 'limit', reason: 'must be a positive integer' });
  const kinds = q.kind === undefined ? [...q.kinds] : q.kinds.filter((k) => k === q.kind);
  if (kinds.length === 0) return { devices: [] };
  let query = db.selectFrom('devices').selectAll().where('kind', 'in', kinds).orderBy('id').limit(q.limit + 1);
  if (q.tag) {
    const [key, value] = q.tag;
    query = query.where(sql<boolean>`tags @> ${JSON.stringify({ [key]: value })}::jsonb`);
  }
  if (q.lastSeenAfter) query = query.where('last_seen', '>=', q.lastSeenAfter);
  if (q.lastSeenBefore) query = query.where('last_seen', '<', q.lastSeenBefore);
  if (q.after !== undefined) query = query.where('id', '>', q.after);
  const rows = await query.execute();
  const more = rows.length > q.limit;
  const devices = more ? rows.slice(0, q.limit) : rows;
  return { devices, ...(more && { nextCursor: devices.at(-1)!.id }) };
}

export async function getDevice(db: Kysely<Database>, id: string): Promise<Device | undefined> {
  return db.selectFrom('devices').selectAll().where('id', '=', id).executeTakeFirst();
}

export interface NewDeviceInput {
  id: string;
  kind: DeviceKind;
  name?: string | null;
  metadata?: Json;
}

/** Registers a device; STRATA_ERR_DB_DUPLICATE (409) when the id exists (registered, or seen in telemetry). */
export async function createDevice(db: Kysely<Database>, input: NewDeviceInput): Promise<Device> {
  const row = await db
    .insertInto('devices')
    .values({ id: input.id, kind: input.kind, name: input.name ?? null, metadata: JSON.stringify(input.metadata ?? {}), tags: '{}' })
    .onConflict((oc) => oc.column('id').doNothing())
    .returningAll()
    .executeTakeFirst();
  if (!row) throw dbErrors.STRATA_ERR_DB_DUPLICATE({ what: 'device', id: input.id });
  return row;
}

export interface DeviceChanges {
  name?: string | null;
  metadata?: Json;
  kind?: DeviceKind;
}

/** Changes a device's name, metadata or kind; undefined when there is no such device. */
export async function updateDevice(db: Kysely<Database>, id: string, changes: DeviceChanges): Promise<Device | undefined> {
  const set: { name?: string | null; metadata?: string; kind?: DeviceKind } = {};
  if (changes.name !== undefined) set.name = changes.name;
  if (changes.metadata !== undefined) set.metadata = JSON.stringify(changes.metadata);
  if (changes.kind !== undefined) set.kind = changes.kind;
  if (Object.keys(set).length === 0) return getDevice(db, id);
  return db.updateTable('devices').set(set).where('id', '=', id).returningAll().executeTakeFirst();
}
