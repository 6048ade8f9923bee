/**
 * The platform on a real PostgreSQL 15 server: migrations when two processes start at once, and
 * nothing lost when the database goes away for 30 s under ingest.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { openDatabase, MIGRATIONS } from '@strata/db';
import { startPostgres, type PostgresServer } from '@strata/testkit';
import { startTestPlatform } from './test-platform.js';

let pg: PostgresServer;
beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(async () => pg.close());

describe('migrations', () => {
  it('run once when several processes open a new database at the same moment', async () => {
    const url = await pg.createDatabase();
    const dbs = await Promise.all(Array.from({ length: 4 }, () => openDatabase({ url, poolSize: 2 })));
    try {
      const { rows } = await sql<{ name: string }>`select name from schema_migrations order by name`.execute(dbs[0]!.kysely);
      expect(rows.map((r) => r.name)).toEqual(Object.keys(MIGRATIONS));
    } finally {
      await Promise.all(dbs.map((db) => db.close()));
    }
  });
});

describe('a database outage under ingest', () => {
  it('keeps ingest at 200 for 30 s without the database, then has every value and count', async () => {
    const t = await startTestPlatform({ 'db.url': await pg.createDatabase(), 'state.maxWaitMs': 50 });
    try {
      const { app } = t.platform;
      const state = t.platform.state!;
      const DEVICES = 5;
      const sent = new Map<string, { count: number; sum: number; last: number }>();
      let seq = 0;
      const base = Date.now() - 3_600_000;
      const statuses: number[] = [];
      // One batch: an event per device, each with the next value and a time a second later.
      const sendBatch = async () => {
        seq++;
        const events = Array.from({ length: DEVICES }, (_, d) => ({ id: `e-${seq}-${d}`, device: `m-${d}`, ts: new Date(base + seq * 1000).toISOString(), metrics: { rpm: seq * 10 + d }, tags: { kind: 'machine' } }));
        const res = await app.inject({ method: 'POST', url: '/v1/ingest', headers: { authorization: `Bearer ${t.adminKey}` }, payload: events });
        statuses.push(res.statusCode);
        if (res.statusCode !== 200) return;
        for (const e of events) {
          const s = sent.get(e.device) ?? { count: 0, sum: 0, last: 0 };
          sent.set(e.device, { count: s.count + 1, sum: s.sum + e.metrics.rpm, last: e.metrics.rpm });
        }
      };
      const ingestFor = async (ms: number) => {
        const until = Date.now() + ms;
        while (Date.now() < until) {
          await sendBatch();
          await new Promise((r) => setTimeout(r, 50));
        }
      };

      await ingestFor(1000);
      await state.caughtUp();
      await pg.stop();
      await ingestFor(30_000);
      expect(state.stats().retrying).toBe(true);
      await pg.start();
      await ingestFor(1000);
      await state.caughtUp();

      expect(statuses.length).toBeGreaterThan(100);
      expect(statuses.every((s) => s === 200)).toBe(true);
      const db = t.platform.db.kysely;
      const latest = await db.selectFrom('latest_values').select(['device', 'value']).where('metric', '=', 'rpm').orderBy('device').execute();
      expect(latest).toEqual([...sent].sort().map(([device, s]) => ({ device, value: s.last })));
      const rollups = await db
        .selectFrom('rollups_1m')
        .select(['device', (eb) => eb.fn.sum<number>('count').as('count'), (eb) => eb.fn.sum<number>('sum').as('sum')])
        .where('metric', '=', 'rpm')
        .groupBy('device')
        .orderBy('device')
        .execute();
      expect(rollups.map((r) => ({ device: r.device, count: Number(r.count), sum: Number(r.sum) }))).toEqual(
        [...sent].sort().map(([device, s]) => ({ device, count: s.count, sum: s.sum })),
      );
    } finally {
      await t.close();
    }
  });
});
