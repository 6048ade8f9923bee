/**
 * The state suite against a real PostgreSQL 15 server, plus what only a server can show: the
 * database going away under a running consumer and coming back.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { openEmbeddedStream } from '@strata/stream';
import { startPostgres, tempDir, type PostgresServer } from '@strata/testkit';
import { openTestDatabase } from '../testing.js';
import { latestValues } from '../telemetry-queries.js';
import { startStateConsumer } from './consumer.js';
import { describeStateSuite } from './state-suite.js';
import { append, event, memoryLogger, MINUTE, NOW, TOPIC, until } from './test-support.js';

let pg: PostgresServer;
beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(() => pg?.close());

describeStateSuite('PostgreSQL 15', async () => openTestDatabase({ url: await pg.createDatabase() }));

describe('state consumer on a PostgreSQL server that goes away', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
  });

  it('does not end the process when the server drops a connection a transaction holds between statements', async () => {
    const db = await openTestDatabase({ url: await pg.createDatabase() });
    cleanups.push(() => db.dispose());
    const held = db.kysely.transaction().execute(async (trx) => {
      await sql`select 1`.execute(trx);
      await pg.stop(); // terminates every connection, this one idle in its transaction
      await new Promise((r) => setTimeout(r, 300));
      await sql`select 1`.execute(trx);
    });
    await expect(held).rejects.toThrow();
    await pg.start();
    await until(() => sql`select 1`.execute(db.kysely).then(() => true, () => false), 20_000);
  });

  it('loses nothing and doubles nothing when the server stops for a while and comes back', async () => {
    const tmp = tempDir('state-fault');
    cleanups.push(() => tmp.remove());
    const stream = await openEmbeddedStream({ dir: tmp.dir });
    cleanups.push(() => stream.close());
    await stream.ensureTopic(TOPIC, { partitions: 4 });
    const db = await openTestDatabase({ url: await pg.createDatabase() });
    cleanups.push(() => db.dispose());
    const logger = memoryLogger();
    const state = await startStateConsumer({ db, stream, now: () => NOW, logger });
    cleanups.push(() => state.stop());

    // 40 devices, metric v = the event's sequence number, 10 events per appended batch.
    const sent: { device: string; v: number; ts: number }[] = [];
    const appendBatch = async (): Promise<void> => {
      const events = Array.from({ length: 10 }, () => {
        const n = sent.length;
        const e = { device: `d-${n % 40}`, v: n, ts: NOW - 30 * MINUTE + n * 1000 };
        sent.push(e);
        return event(e.device, e.ts, { v: e.v });
      });
      await append(stream, events);
    };

    for (let i = 0; i < 5; i++) await appendBatch();
    await state.caughtUp();

    await pg.stop();
    const downUntil = Date.now() + 5000;
    while (Date.now() < downUntil) {
      await appendBatch();
      await new Promise((r) => setTimeout(r, 500));
    }
    await until(() => state.stats().retrying, 10_000, 'the consumer to notice the outage');
    await pg.start();
    await state.caughtUp();

    expect(state.stats()).toMatchObject({ retrying: false, events: sent.length, invalid: 0 });
    expect(logger.lines.filter((l) => l.level === 'warn' && /could not write/.test(l.msg ?? ''))).toHaveLength(1);
    const counts = await sql<{ device: string; n: number; sum: number }>`
      select device, sum(count)::int8 as n, sum(sum) as sum from rollups_1m group by device order by device`.execute(db.kysely);
    const expected = new Map<string, { n: number; sum: number }>();
    for (const e of sent) {
      const x = expected.get(e.device) ?? { n: 0, sum: 0 };
      x.n++;
      x.sum += e.v;
      expected.set(e.device, x);
    }
    expect(Object.fromEntries(counts.rows.map((r) => [r.device, { n: r.n, sum: r.sum }]))).toEqual(Object.fromEntries(expected));
    for (const device of ['d-0', 'd-17', 'd-39']) {
      const last = sent.filter((e) => e.device === device).at(-1)!;
      expect(await latestValues(db.kysely, device)).toEqual([{ metric: 'v', value: last.v, ts: new Date(last.ts), eventId: expect.any(String) }]);
    }
  });
});
