import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { dbErrors } from './errors.js';
import { openTestDatabase, type TestDb } from './testing.js';
import { RollupPartitions, utcDay } from './state/partitions.js';
import { createDevice, getDevice, latestValues, listDevices, MAX_SERIES_BUCKETS, series, updateDevice } from './telemetry-queries.js';

const T = Date.UTC(2025, 11, 4, 12); // 12:00Z
const MIN = 60_000;

let db: TestDb;
beforeAll(async () => {
  db = await openTestDatabase();
});
afterAll(() => db.dispose());

/** Rollup rows of one device and metric: [minute offset from T, count, min, max, sum, sum_sq]. */
async function rollups(device: string, metric: string, rows: [number, number, number, number, number, number][]): Promise<void> {
  await new RollupPartitions(db.kysely).ensure([utcDay(T)]);
  await db.kysely
    .insertInto('rollups_1m')
    .values(rows.map(([m, count, min, max, sum, sum_sq]) => ({ device, metric, minute: new Date(T + m * MIN), count, min, max, sum, sum_sq })))
    .execute();
}

describe('series', () => {
  beforeAll(async () => {
    // Values 1, 3 at 12:00; 5 at 12:01; nothing 12:02-12:04; 10, 10 at 12:05; 2 at 12:07.
    await rollups('d-1', 'temp', [
      [0, 2, 1, 3, 4, 10],
      [1, 1, 5, 5, 5, 25],
      [5, 2, 10, 10, 20, 200],
      [7, 1, 2, 2, 2, 4],
    ]);
    await rollups('d-1', 'other', [[0, 9, 0, 0, 0, 0]]);
  });

  it('returns one bucket per step, empty ones included, with population statistics', async () => {
    const out = await series(db.kysely, { device: 'd-1', metric: 'temp', from: new Date(T), to: new Date(T + 10 * MIN), stepSeconds: 300 });
    expect(out).toHaveLength(2);
    expect(out[0]).toMatchObject({ start: new Date(T), count: 3, min: 1, max: 5, avg: 3 });
    expect(out[0]!.stddev).toBeCloseTo(Math.sqrt(8 / 3), 12); // values 1, 3, 5
    expect(out[1]).toMatchObject({ start: new Date(T + 5 * MIN), count: 3, min: 2, max: 10, stddev: expect.any(Number) });
    expect(out[1]!.avg).toBeCloseTo(22 / 3, 12);

    const minutes = await series(db.kysely, { device: 'd-1', metric: 'temp', from: new Date(T), to: new Date(T + 4 * MIN), stepSeconds: 60 });
    expect(minutes.map((b) => [b.start.getTime() - T, b.count, b.avg, b.stddev])).toEqual([
      [0, 2, 2, 1],
      [MIN, 1, 5, 0],
      [2 * MIN, 0, null, null],
      [3 * MIN, 0, null, null],
    ]);
  });

  it('aligns buckets on the epoch and reads only minutes in [from, to)', async () => {
    const out = await series(db.kysely, { device: 'd-1', metric: 'temp', from: new Date(T + MIN), to: new Date(T + 7 * MIN), stepSeconds: 300 });
    expect(out.map((b) => [b.start.getTime() - T, b.count])).toEqual([
      [0, 1], // 12:00 bucket, only its 12:01 minute is in range
      [5 * MIN, 2], // 12:07 is not before `to`
    ]);
  });

  it('refuses steps that are not whole minutes and ranges with too many buckets', async () => {
    const q = { device: 'd-1', metric: 'temp', from: new Date(T), to: new Date(T + 10 * MIN) };
    await expect(series(db.kysely, { ...q, stepSeconds: 90 })).rejects.toSatisfy(dbErrors.STRATA_ERR_DB_BAD_QUERY.is);
    await expect(series(db.kysely, { ...q, stepSeconds: 30 })).rejects.toSatisfy(dbErrors.STRATA_ERR_DB_BAD_QUERY.is);
    await expect(series(db.kysely, { ...q, to: q.from, stepSeconds: 60 })).rejects.toSatisfy(dbErrors.STRATA_ERR_DB_BAD_QUERY.is);
    await expect(series(db.kysely, { ...q, to: new Date(T + (MAX_SERIES_BUCKETS + 1) * MIN), stepSeconds: 60 })).rejects.toSatisfy(dbErrors.STRATA_ERR_DB_BAD_QUERY.is);
  });
});

describe('devices', () => {
  beforeAll(async () => {
    await createDevice(db.kysely, { id: 'm-1', kind: 'machine', name: 'Press', metadata: { site: 'lyon' } });
    await createDevice(db.kysely, { id: 'm-2', kind: 'machine' });
    await createDevice(db.kysely, { id: 'p-1', kind: 'patient' });
    await createDevice(db.kysely, { id: 's-1', kind: 'sensor' });
    await sql`update devices set tags = ${JSON.stringify({ ward: 'B', floor: '2' })}::jsonb, last_seen = ${new Date(T).toISOString()}::timestamptz where id in ('m-2', 'p-1')`.execute(db.kysely);
    await sql`update devices set last_seen = ${new Date(T - 3_600_000).toISOString()}::timestamptz where id = 's-1'`.execute(db.kysely);
  });

  it('lists devices by id a page at a time', async () => {
    const all = ['machine', 'patient', 'sensor'] as const;
    const page1 = await listDevices(db.kysely, { kinds: all, limit: 3 });
    expect(page1.devices.map((d) => d.id)).toEqual(['m-1', 'm-2', 'p-1']);
    expect(page1.nextCursor).toBe('p-1');
    const page2 = await listDevices(db.kysely, { kinds: all, limit: 3, after: page1.nextCursor! });
    expect(page2).toEqual({ devices: [expect.objectContaining({ id: 's-1' })] });
  });

  it('filters by the kinds allowed, kind, tag and last seen', async () => {
    const all = ['machine', 'patient', 'sensor'] as const;
    const ids = async (q: Partial<Parameters<typeof listDevices>[1]>) => (await listDevices(db.kysely, { kinds: all, limit: 100, ...q })).devices.map((d) => d.id);
    expect(await ids({ kinds: ['patient'] })).toEqual(['p-1']);
    expect(await ids({ kinds: ['patient'], kind: 'machine' })).toEqual([]);
    expect(await ids({ kind: 'machine' })).toEqual(['m-1', 'm-2']);
    expect(await ids({ tag: ['ward', 'B'] })).toEqual(['m-2', 'p-1']);
    expect(await ids({ tag: ['ward', "B' or 1=1 --"] })).toEqual([]);
    expect(await ids({ lastSeenAfter: new Date(T - 60_000) })).toEqual(['m-2', 'p-1']);
    expect(await ids({ lastSeenBefore: new Date(T) })).toEqual(['s-1']);
  });

  it('creates, reads and updates a device; a duplicate id is a 409', async () => {
    const created = await createDevice(db.kysely, { id: 'x-1', kind: 'sensor', name: 'Probe' });
    expect(created).toMatchObject({ id: 'x-1', kind: 'sensor', name: 'Probe', metadata: {}, tags: {}, last_seen: null });
    const dup = await createDevice(db.kysely, { id: 'x-1', kind: 'machine' }).catch((err: unknown) => err);
    expect(dbErrors.STRATA_ERR_DB_DUPLICATE.is(dup) && dup.statusCode).toBe(409);
    expect(await updateDevice(db.kysely, 'x-1', { name: null, metadata: { a: 1 }, kind: 'machine' })).toMatchObject({ name: null, metadata: { a: 1 }, kind: 'machine' });
    expect(await getDevice(db.kysely, 'x-1')).toMatchObject({ kind: 'machine' });
    expect(await updateDevice(db.kysely, 'nope', { name: 'n' })).toBeUndefined();
    expect(await getDevice(db.kysely, 'nope')).toBeUndefined();
  });

  it('reads the latest values of a device', async () => {
    await db.kysely.insertInto('latest_values').values({ device: 'm-1', metric: 'temp', ts: new Date(T), value: 21.5, event_id: 'e-1' }).execute();
    expect(await latestValues(db.kysely, 'm-1')).toEqual([{ metric: 'temp', ts: new Date(T), value: 21.5, eventId: 'e-1' }]);
    expect(await latestValues(db.kysely, 'm-2')).toEqual([]);
  });
});
