import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { seededDataDir } from '../testing.js';
import { openDatabase } from '../open.js';
import { dbErrors } from '../errors.js';
import { packRecords } from '../state/apply.js';
import { OffsetsMoved } from '../state/write.js';
import { openDatabaseThread } from './database-thread.js';

let data: { dir: string; remove(): void };
let opened: Awaited<ReturnType<typeof openDatabaseThread>>;

beforeAll(async () => {
  data = await seededDataDir('db-thread');
  opened = await openDatabaseThread({ dir: join(data.dir, 'db') });
});
afterAll(async () => {
  await opened.db.close();
  data.remove();
});

const event = (device: string, seq: number) =>
  Buffer.from(JSON.stringify({ id: `e-${device}-${seq}`, device, ts: new Date(Date.now() - 60_000 + seq).toISOString(), metrics: { seq }, received_at: new Date().toISOString(), source: 'test' }));

describe('the database on its own thread', () => {
  it('answers queries and keeps concurrent transactions apart on the engine’s one session', async () => {
    const { kysely } = opened.db;
    await kysely.insertInto('settings').values({ key: 'counter', value: '0' }).execute();
    await Promise.all(
      Array.from({ length: 10 }, () =>
        kysely.transaction().execute(async (tx) => {
          const { value } = await tx.selectFrom('settings').select('value').where('key', '=', 'counter').executeTakeFirstOrThrow();
          await tx.updateTable('settings').set({ value: String(Number(value) + 1) }).where('key', '=', 'counter').execute();
        }),
      ),
    );
    expect(await kysely.selectFrom('settings').select('value').where('key', '=', 'counter').executeTakeFirst()).toEqual({ value: '10' });
  });

  it('passes PostgreSQL errors through with their SQLSTATE, and rolls a failed transaction back', async () => {
    const { kysely } = opened.db;
    const failing = kysely.transaction().execute(async (tx) => {
      await tx.insertInto('settings').values({ key: 'rolled-back', value: 'x' }).execute();
      await tx.insertInto('settings').values({ key: 'counter', value: 'duplicate' }).execute();
    });
    await expect(failing).rejects.toMatchObject({ code: '23505' });
    expect(await kysely.selectFrom('settings').select('key').where('key', '=', 'rolled-back').execute()).toEqual([]);
  });

  it('applies state batches there, exactly once (fenced) and counted', async () => {
    const records = packRecords([0, 1, 2].map((seq) => ({ partition: 0, offset: seq, value: event('th-1', seq) })));
    const req = { consumer: 'state', topic: 'telemetry', firstRollupDay: 0, records, advances: [{ partition: 0, from: undefined, to: 3 }] };
    expect(await opened.applier.apply(req)).toMatchObject({ events: 3, invalid: [] });
    // The same batch again: the stored offset moved, so nothing is written twice.
    await expect(opened.applier.apply(req)).rejects.toBeInstanceOf(OffsetsMoved);
    const { rows } = await sql<{ n: number }>`select sum(count)::int8 as n from rollups_1m where device = 'th-1'`.execute(opened.db.kysely);
    expect(rows[0]!.n).toBe(3);
  });

  it('reports why it could not open, as the catalogue error', async () => {
    const other = await seededDataDir('db-thread-locked');
    const holder = await openDatabase({ dir: join(other.dir, 'db') });
    try {
      await expect(openDatabaseThread({ dir: join(other.dir, 'db') })).rejects.toSatisfy(dbErrors.STRATA_ERR_DB_LOCKED.is);
    } finally {
      await holder.close();
      other.remove();
    }
  });
});
