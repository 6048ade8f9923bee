/**
 * The state consumer's behaviour, run against every database engine: embedded PGlite
 * (state.test.ts) and a real PostgreSQL 15 server (state.engines.test.ts). Input is telemetry
 * appended to an embedded stream; assertions are on what a user would read in the tables.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { sql, type Selectable } from 'kysely';
import { openEmbeddedStream, type Stream } from '@strata/stream';
import { tempDir } from '@strata/testkit';
import { dbErrors } from '../errors.js';
import type { TestDb } from '../testing.js';
import type { Rollups1mTable } from '../schema.js';
import { createDevice, getDevice, latestValues } from '../telemetry-queries.js';
import { startStateConsumer, type StateConsumer, type StateConsumerOptions } from './consumer.js';
import { RollupPartitions } from './partitions.js';
import { OffsetsMoved, readOffsets, writeBatch } from './write.js';
import { append, appendRaw, DAY, event, memoryLogger, MINUTE, NOW, TOPIC, until, withLostStreamCommits } from './test-support.js';

interface Env {
  db: TestDb;
  stream: Stream;
  /** Starts a consumer (stopped after the test); defaults: NOW as the clock, fast retries. */
  start(opts?: Partial<StateConsumerOptions>): Promise<StateConsumer>;
}

type RollupRow = Selectable<Rollups1mTable>;

export function describeStateSuite(label: string, open: () => Promise<TestDb>): void {
  describe(`state consumer (${label})`, () => {
    const cleanups: (() => Promise<void> | void)[] = [];
    afterEach(async () => {
      for (const fn of cleanups.splice(0).reverse()) await fn();
    });

    async function setup(partitions = 4): Promise<Env> {
      const tmp = tempDir('state');
      cleanups.push(() => tmp.remove());
      const stream = await openEmbeddedStream({ dir: tmp.dir });
      cleanups.push(() => stream.close());
      await stream.ensureTopic(TOPIC, { partitions });
      const db = await open();
      cleanups.push(() => db.dispose().catch(() => undefined));
      return {
        db,
        stream,
        async start(opts = {}) {
          const consumer = await startStateConsumer({ db, stream, now: () => NOW, retry: { minMs: 5, maxMs: 50 }, ...opts });
          cleanups.push(() => consumer.stop());
          return consumer;
        },
      };
    }

    const rollups = async (db: TestDb): Promise<RollupRow[]> =>
      (await sql<RollupRow>`select * from rollups_1m order by device, metric, minute`.execute(db.kysely)).rows;
    const rollupCount = async (db: TestDb): Promise<number> =>
      (await sql<{ n: number | null }>`select sum(count)::int8 as n from rollups_1m`.execute(db.kysely)).rows[0]?.n ?? 0;
    const partitionNames = async (db: TestDb): Promise<string[]> => (await new RollupPartitions(db.kysely).list()).map((p) => p.name);

    it('fills devices, latest values and 1-minute rollups from coalesced batches', async () => {
      const env = await setup();
      const t = NOW - 10 * MINUTE; // 11:50:00
      await append(env.stream, [
        event('m-1', t + 10_000, { temp: 20, hum: 40 }, { kind: 'machine', site: 'lyon' }),
        event('m-1', t + 40_000, { temp: 22 }, { site: 'paris', line: '2' }),
        event('m-1', t + 65_000, { temp: 25 }),
        event('s-1', t + 5_000, { temp: 7 }, { kind: 'banana' }),
        event('p-1', t + 1_000, { spo2: 97 }),
        event('p-1', t + 2_000, { spo2: 91 }, { kind: 'patient' }),
      ]);
      const state = await env.start();
      await state.caughtUp();

      const devices = await env.db.kysely.selectFrom('devices').selectAll().orderBy('id').execute();
      expect(devices.map((d) => [d.id, d.kind, d.tags, d.last_seen?.toISOString()])).toEqual([
        ['m-1', 'machine', { kind: 'machine', site: 'paris', line: '2' }, new Date(t + 65_000).toISOString()],
        ['p-1', 'patient', { kind: 'patient' }, new Date(t + 2_000).toISOString()],
        ['s-1', 'sensor', { kind: 'banana' }, new Date(t + 5_000).toISOString()],
      ]);
      expect(await latestValues(env.db.kysely, 'm-1')).toEqual([
        { metric: 'hum', ts: new Date(t + 10_000), value: 40, eventId: expect.any(String) },
        { metric: 'temp', ts: new Date(t + 65_000), value: 25, eventId: expect.any(String) },
      ]);
      expect((await latestValues(env.db.kysely, 'p-1'))[0]).toMatchObject({ metric: 'spo2', value: 91 });
      const m1 = (await rollups(env.db)).filter((r) => r.device === 'm-1');
      expect(m1).toEqual([
        { device: 'm-1', metric: 'hum', minute: new Date(t), count: 1, min: 40, max: 40, sum: 40, sum_sq: 1600 },
        { device: 'm-1', metric: 'temp', minute: new Date(t), count: 2, min: 20, max: 22, sum: 42, sum_sq: 884 },
        { device: 'm-1', metric: 'temp', minute: new Date(t + MINUTE), count: 1, min: 25, max: 25, sum: 25, sum_sq: 625 },
      ]);
      expect(await partitionNames(env.db)).toEqual(['rollups_1m_20251204']);
      expect(state.stats()).toMatchObject({ events: 6, invalid: 0, tooOld: 0, retrying: false });
      expect(state.stats().batches).toBeLessThan(6);
      // The stream group knows too (retention, lag()).
      await until(async () => (await env.stream.lag(TOPIC)).find((g) => g.group === 'state')?.partitions.every((p) => p.lag === 0) ?? false);
      await until(() => state.stats().lagEvents === 0);
    });

    it('merges into what is stored: adds to rollups, merges tags, keeps kind, name and metadata, never moves last_seen back', async () => {
      const env = await setup();
      await createDevice(env.db.kysely, { id: 'bed-12', kind: 'patient', name: 'Bed 12', metadata: { ward: 'B' } });
      const state = await env.start();
      const t = NOW - 5 * MINUTE;
      await append(env.stream, [event('bed-12', t + 30_000, { hr: 60 }, { kind: 'machine', a: '1' }), event('bed-12', t + 10_000, { hr: 80 })]);
      await state.caughtUp();
      await append(env.stream, [event('bed-12', t + 20_000, { hr: 50 }, { a: '3', b: '2' }), event('bed-12', t + 40_000, { hr: 90, spo2: 95 })]);
      await state.caughtUp();
      await append(env.stream, [event('bed-12', t + 1_000, { hr: 70 })]);
      await state.caughtUp();

      const device = await getDevice(env.db.kysely, 'bed-12');
      expect(device).toMatchObject({ kind: 'patient', name: 'Bed 12', metadata: { ward: 'B' }, tags: { kind: 'machine', a: '3', b: '2' } });
      expect(device?.last_seen).toEqual(new Date(t + 40_000));
      const hr = (await rollups(env.db)).filter((r) => r.metric === 'hr');
      expect(hr).toEqual([{ device: 'bed-12', metric: 'hr', minute: new Date(t), count: 5, min: 50, max: 90, sum: 350, sum_sq: 60 ** 2 + 80 ** 2 + 50 ** 2 + 90 ** 2 + 70 ** 2 }]);
      expect(await latestValues(env.db.kysely, 'bed-12')).toMatchObject([
        { metric: 'hr', value: 90, ts: new Date(t + 40_000) },
        { metric: 'spo2', value: 95 },
      ]);
    });

    it('keeps the latest value by event time; on a tie the later record wins, within and across batches', async () => {
      const env = await setup();
      const t = NOW - MINUTE;
      await append(env.stream, [
        event('d-1', t, { x: 1 }, undefined, 'first'),
        event('d-1', t, { x: 2 }, undefined, 'second'),
        event('d-1', t - 1_000, { x: 3 }, undefined, 'older'),
      ]);
      const state = await env.start();
      await state.caughtUp();
      expect(await latestValues(env.db.kysely, 'd-1')).toEqual([{ metric: 'x', ts: new Date(t), value: 2, eventId: 'second' }]);
      await append(env.stream, [event('d-1', t, { x: 4 }, undefined, 'third'), event('d-1', t - 5_000, { x: 5 }, undefined, 'late')]);
      await state.caughtUp();
      expect(await latestValues(env.db.kysely, 'd-1')).toEqual([{ metric: 'x', ts: new Date(t), value: 4, eventId: 'third' }]);
    });

    it('applies each record exactly once across restarts, even when the stream commit was lost', async () => {
      const env = await setup();
      const batch = (from: number, n: number) => Array.from({ length: n }, (_, i) => event(`d-${(from + i) % 7}`, NOW - MINUTE + ((from + i) % 50) * 1000, { v: from + i }));
      await append(env.stream, batch(0, 100));
      // First run: every stream commit is lost, as if the process died right after each database commit.
      const first = await env.start({ stream: withLostStreamCommits(env.stream) });
      await first.caughtUp();
      await first.stop();
      expect((await env.stream.lag(TOPIC)).find((g) => g.group === 'state')).toBeUndefined();
      expect(await rollupCount(env.db)).toBe(100);

      await append(env.stream, batch(100, 50));
      const second = await env.start();
      await second.caughtUp();
      expect(second.stats().events).toBe(50); // started from the database's offsets, not the stream's
      expect(await rollupCount(env.db)).toBe(150);
      await second.stop();

      const third = await env.start();
      await third.caughtUp();
      expect(third.stats().events).toBe(0);
      expect(await rollupCount(env.db)).toBe(150);
      const sums = (await rollups(env.db)).reduce((s, r) => s + r.sum, 0);
      expect(sums).toBe((149 * 150) / 2);
    });

    it('keeps exact counts over many small batches while appends keep coming and the consumer restarts', async () => {
      const env = await setup(3);
      let n = 0;
      const appendSome = () => append(env.stream, Array.from({ length: 13 }, () => event(`d-${n % 11}`, NOW - MINUTE, { v: n++ })));
      const small = { maxBatchEvents: 25, maxWaitMs: 5 };
      const first = await env.start(small);
      for (let i = 0; i < 20; i++) await appendSome();
      await first.stop(); // mid-stream: a batch may be in flight, another read
      const second = await env.start(small);
      for (let i = 0; i < 20; i++) await appendSome();
      await second.caughtUp();
      expect(first.stats().events + second.stats().events).toBe(n);
      expect(second.stats().batches).toBeGreaterThan(1);
      expect(await rollupCount(env.db)).toBe(n);
      expect((await rollups(env.db)).reduce((s, r) => s + r.sum, 0)).toBe(((n - 1) * n) / 2);
      const latest = await env.db.kysely.selectFrom('latest_values').select(['device', 'value']).orderBy('device').execute();
      expect(latest).toHaveLength(11);
    });

    it('skips and counts records that are not telemetry events, logging at most one line per batch', async () => {
      const env = await setup(1);
      const good = (v: number) => event('d-1', NOW - MINUTE, { v });
      await append(env.stream, [good(1)]);
      await appendRaw(env.stream, 'd-1', [
        'not json',
        '[1,2,3]',
        '{"device":"d-1"}',
        JSON.stringify({ ...good(0), metrics: { v: 'high' } }),
        JSON.stringify({ ...good(0), device: 'bad id!' }),
        JSON.stringify({ ...good(0), tags: { ward: '\ud800' } }),
        JSON.stringify({ ...good(0), metrics: { 'a\u0000b': 1 } }),
        JSON.stringify({ ...good(0), ts: 'yesterday' }),
      ]);
      await append(env.stream, [good(2)]);
      const logger = memoryLogger();
      const state = await env.start({ logger });
      await state.caughtUp();
      expect(state.stats()).toMatchObject({ events: 2, invalid: 8 });
      expect(await rollupCount(env.db)).toBe(2);
      const warned = logger.lines.filter((l) => l.level === 'warn');
      expect(warned.length).toBeLessThanOrEqual(state.stats().batches);
      expect(warned[0]?.obj).toMatchObject({ partition: 0, offset: 1, reason: 'not JSON', count: expect.any(Number) });

      await state.stop();
      const again = await env.start();
      await again.caughtUp();
      expect(again.stats()).toMatchObject({ events: 0, invalid: 0 });
    });

    it('gives events of days past the rollup retention no rollup, but still updates devices and latest values', async () => {
      const env = await setup();
      const old = NOW - 40 * DAY;
      await append(env.stream, [event('d-1', old, { x: 1, y: 5 }), event('d-1', NOW - MINUTE, { x: 2 })]);
      const state = await env.start({ rollupRetentionDays: 30 });
      await state.caughtUp();
      expect(state.stats()).toMatchObject({ events: 2, tooOld: 1 });
      expect((await rollups(env.db)).map((r) => [r.metric, r.count])).toEqual([['x', 1]]);
      expect(await latestValues(env.db.kysely, 'd-1')).toMatchObject([
        { metric: 'x', value: 2 },
        { metric: 'y', value: 5, ts: new Date(old) },
      ]);
      expect(await partitionNames(env.db)).toEqual(['rollups_1m_20251204']);
    });

    it('drops whole daily rollup partitions once they are past the retention', async () => {
      const env = await setup();
      await append(env.stream, [event('d-1', NOW - 3 * DAY, { x: 1 }), event('d-1', NOW - DAY, { x: 2 }), event('d-1', NOW, { x: 3 })]);
      const first = await env.start({ rollupRetentionDays: 30 });
      await first.caughtUp();
      expect(await partitionNames(env.db)).toEqual(['rollups_1m_20251201', 'rollups_1m_20251203', 'rollups_1m_20251204']);
      await first.stop();

      // 29 days later, with 30 days kept, the first kept day is 2025-12-03.
      const later = await env.start({ rollupRetentionDays: 30, now: () => NOW + 29 * DAY });
      await until(async () => (await partitionNames(env.db)).length === 2, 20_000, 'the retention pass');
      expect(await partitionNames(env.db)).toEqual(['rollups_1m_20251203', 'rollups_1m_20251204']);
      expect((await rollups(env.db)).map((r) => r.sum)).toEqual([2, 3]);
      expect(later.stats().retrying).toBe(false);
    });

    it('writes nothing when another writer moved the stored offsets (fence)', async () => {
      const env = await setup();
      const k = env.db.kysely;
      const rows = { devices: [{ id: 'd-1', kind: 'sensor' as const, tags: {}, lastSeenMs: NOW }], latest: [], rollups: [] };
      await writeBatch(k, 'state', TOPIC, [{ partition: 0, from: undefined, to: 10 }], rows);
      await expect(writeBatch(k, 'state', TOPIC, [{ partition: 0, from: undefined, to: 12 }], { ...rows, devices: [{ ...rows.devices[0]!, id: 'd-2' }] })).rejects.toBeInstanceOf(OffsetsMoved);
      await expect(writeBatch(k, 'state', TOPIC, [{ partition: 0, from: 5, to: 12 }, { partition: 1, from: undefined, to: 3 }], { ...rows, devices: [{ ...rows.devices[0]!, id: 'd-3' }] })).rejects.toBeInstanceOf(OffsetsMoved);
      expect((await k.selectFrom('devices').select('id').execute()).map((r) => r.id)).toEqual(['d-1']);
      expect(Object.fromEntries(await readOffsets(k, 'state', TOPIC, [0, 1]))).toEqual({ 0: 10 });
      await writeBatch(k, 'state', TOPIC, [{ partition: 0, from: 10, to: 12 }], rows);
      expect(Object.fromEntries(await readOffsets(k, 'state', TOPIC, [0, 1]))).toEqual({ 0: 12 });
    });

    it('re-reads from the stored offset when another writer moved it under a running consumer', async () => {
      const env = await setup(1);
      const state = await env.start();
      await append(env.stream, [event('d-1', NOW - MINUTE, { x: 1 })]);
      await state.caughtUp(); // stored offset: 1
      // Another writer has already applied the next 5 records.
      await env.db.kysely.updateTable('consumer_offsets').set({ next_offset: 6 }).where('consumer', '=', 'state').execute();
      await append(env.stream, Array.from({ length: 10 }, (_, i) => event('d-1', NOW - MINUTE, { x: 10 + i })));
      await state.caughtUp();
      expect(await rollupCount(env.db)).toBe(1 + 5);
      expect((await latestValues(env.db.kysely, 'd-1'))[0]?.value).toBe(19);
    });

    it('shares the partitions between members and hands them over at their stored offsets', async () => {
      const env = await setup(4);
      const events = (n: number, base: number) => Array.from({ length: n }, (_, i) => event(`d-${i % 20}`, NOW - MINUTE, { v: base + i }));
      const a = await env.start();
      const b = await env.start();
      await append(env.stream, events(200, 0));
      await Promise.all([a.caughtUp(), b.caughtUp()]);
      expect(a.stats().events + b.stats().events).toBe(200);
      expect(a.stats().events).toBeGreaterThan(0);
      expect(b.stats().events).toBeGreaterThan(0);
      await b.stop();
      await append(env.stream, events(100, 200));
      await a.caughtUp();
      expect(await rollupCount(env.db)).toBe(300);
    });

    it('retries while the database is unreachable, warning once, and still stops in bounded time', async () => {
      const env = await setup();
      const logger = memoryLogger();
      const state = await env.start({ logger, stopTimeoutMs: 200 });
      await append(env.stream, [event('d-1', NOW - MINUTE, { x: 1 })]);
      await state.caughtUp();
      await env.db.close(); // the database is gone for good
      await append(env.stream, [event('d-1', NOW - MINUTE, { x: 2 })]);
      const waiting = state.caughtUp();
      waiting.catch(() => undefined);
      await until(() => logger.lines.filter((l) => l.level === 'debug' && /retrying/.test(l.msg ?? '')).length >= 3, 20_000, 'several retries');
      expect(state.stats()).toMatchObject({ retrying: true, lastError: expect.any(String), events: 1 });
      expect(logger.lines.filter((l) => l.level === 'warn')).toHaveLength(1);
      await state.stop();
      await expect(waiting).rejects.toSatisfy(dbErrors.STRATA_ERR_DB_STATE_STOPPED.is);
    });

    it('is caught up at once on an empty stream, and refuses bad options', async () => {
      const env = await setup();
      await expect(env.start({ maxBatchEvents: 0 })).rejects.toSatisfy(dbErrors.STRATA_ERR_DB_BAD_OPTION.is);
      await expect(env.start({ retry: { minMs: 1.5 } })).rejects.toSatisfy(dbErrors.STRATA_ERR_DB_BAD_OPTION.is);
      const state = await env.start();
      await state.caughtUp();
      expect(state.stats()).toMatchObject({ batches: 0, events: 0, retrying: false });
    });
  });
}
