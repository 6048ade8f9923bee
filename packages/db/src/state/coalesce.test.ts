import { describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { openEmbeddedStream, type StreamRecord } from '@strata/stream';
import { tempDir } from '@strata/testkit';
import { Coalescer, parseEvent } from './coalesce.js';
import { startStateConsumer } from './consumer.js';
import { utcDay } from './partitions.js';
import { append, DAY, event, MINUTE, NOW, TOPIC } from './test-support.js';
import { openTestDatabase } from '../testing.js';
import { latestValues } from '../telemetry-queries.js';
import type { TelemetryEvent } from '@strata/core';

/** As `strata replay` re-publishes an event: the same fields, plus `"replay": true`. */
const replayed = (ev: TelemetryEvent): TelemetryEvent & { replay: true } => ({ ...ev, replay: true });

let offset = 0;
function rec(value: TelemetryEvent | string, partition = 0): StreamRecord {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return { topic: TOPIC, partition, offset: offset++, key: 'k', value: Buffer.from(text), ts: NOW, appendTime: NOW };
}
const coalescer = () => new Coalescer({ firstRollupDay: utcDay(NOW - 30 * DAY) });

describe('parseEvent', () => {
  const ok = event('d-1', NOW, { x: 1 }, { a: 'b' });
  const parse = (v: unknown) => parseEvent(Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)));

  it('accepts what ingest writes', () => {
    expect(parse(ok)).toEqual({ id: ok.id, device: 'd-1', tsMs: NOW, metrics: { x: 1 }, tags: { a: 'b' }, replay: false });
  });

  it('reads the replay flag; only `true` marks a replayed event', () => {
    expect(parse(replayed(ok))).toMatchObject({ id: ok.id, replay: true });
    expect(parse({ ...ok, replay: 'yes' })).toMatchObject({ replay: false });
  });

  it.each([
    ['not JSON', '{"id":'],
    ['not a JSON object', '"text"'],
    ['not a JSON object', '[]'],
    ['device missing or invalid', { ...ok, device: 'a b' }],
    ['id missing or invalid', { ...ok, id: 7 }],
    ['ts missing or not a time', { ...ok, ts: 'soon' }],
    ['ts missing or not a time', { ...ok, ts: '+275760-09-13T00:00:00.000Z' }],
    ['metrics missing or not an object', { ...ok, metrics: [1] }],
    ['a metric value is not a finite number', { ...ok, metrics: { x: '1' } }],
    ['a metric value is not a finite number', '{"id":"e","device":"d","ts":"2025-01-01T00:00:00Z","metrics":{"x":1e999}}'],
    ['a metric name is invalid', { ...ok, metrics: { 'x y': 1 } }],
    ['tags not an object', { ...ok, tags: 'a' }],
    ['a tag value is not a storable string', { ...ok, tags: { a: 1 } }],
    ['a tag value is not a storable string', { ...ok, tags: { a: 'x\u0000' } }],
    ['a tag value is not a storable string', { ...ok, tags: { a: '\udc00x' } }],
    ['a tag key is invalid', { ...ok, tags: { 'a b': 'c' } }],
  ])('refuses a record: %s', (reason, value) => {
    expect(parse(value)).toBe(reason);
  });

  it('keeps a well-formed surrogate pair and a tag named __proto__ as data', () => {
    const c = coalescer();
    c.add(rec('{"id":"e","device":"d","ts":"2025-12-04T11:00:00Z","metrics":{"x":1},"tags":{"__proto__":"p","emoji":"\ud83d\ude00"}}'));
    expect(c.invalid).toEqual([]);
    expect(JSON.stringify(c.rows().devices[0]!.tags)).toBe('{"__proto__":"p","emoji":"😀"}');
  });
});

describe('Coalescer', () => {
  it('makes one row per device, per (device, metric) and per (device, metric, minute)', () => {
    const c = coalescer();
    const t = NOW - 10 * MINUTE;
    for (let i = 0; i < 1000; i++) c.add(rec(event(`d-${i % 3}`, t + (i % 120) * 1000, { a: i, b: -i })));
    const { devices, latest, rollups } = c.rows();
    expect(devices.map((d) => d.id)).toEqual(['d-0', 'd-1', 'd-2']);
    expect(latest).toHaveLength(6);
    expect(rollups).toHaveLength(12);
    expect(rollups.reduce((n, r) => n + r.count, 0)).toBe(2000);
    expect(c.events).toBe(1000);
    expect([...c.days]).toEqual([utcDay(t)]);
  });

  it('computes count, min, max, sum and sum of squares per minute', () => {
    const c = coalescer();
    const t = NOW - MINUTE;
    for (const v of [3, -1, 4, 1.5]) c.add(rec(event('d', t + 1000, { x: v })));
    expect(c.rows().rollups).toEqual([{ device: 'd', metric: 'x', minuteMs: t, count: 4, min: -1, max: 4, sum: 7.5, sumSq: 9 + 1 + 16 + 2.25 }]);
  });

  it('keeps the latest value by event time, the higher offset on a tie', () => {
    const c = coalescer();
    c.add(rec(event('d', NOW, { x: 1 }, undefined, 'a')));
    c.add(rec(event('d', NOW, { x: 2 }, undefined, 'b')));
    c.add(rec(event('d', NOW - 1, { x: 3 }, undefined, 'c')));
    expect(c.rows().latest).toEqual([{ device: 'd', metric: 'x', tsMs: NOW, value: 2, eventId: 'b' }]);
  });

  it('merges tags in stream order and takes the kind from them', () => {
    const c = coalescer();
    c.add(rec(event('p', NOW, { x: 1 }, { kind: 'patient', ward: 'A' })));
    c.add(rec(event('p', NOW - 5000, { x: 1 }, { ward: 'B' })));
    c.add(rec(event('q', NOW, { x: 1 }, { kind: 'robot' })));
    expect(c.rows().devices).toEqual([
      { id: 'p', kind: 'patient', tags: { kind: 'patient', ward: 'B' }, lastSeenMs: NOW },
      { id: 'q', kind: 'sensor', tags: { kind: 'robot' }, lastSeenMs: NOW },
    ]);
  });

  it('gives events of days past retention no rollup and counts them', () => {
    const c = coalescer();
    c.add(rec(event('d', NOW - 31 * DAY, { x: 1 })));
    c.add(rec(event('d', NOW - 29 * DAY, { x: 2 })));
    expect(c.tooOld).toBe(1);
    expect(c.rows().rollups.map((r) => r.sum)).toEqual([2]);
    expect(c.rows().latest[0]?.value).toBe(2);
  });

  it('applies replayed events to devices and latest values but not to rollups', () => {
    const c = coalescer();
    const t = NOW - 2 * MINUTE;
    const first = event('d', t, { x: 1 }, { kind: 'machine' });
    const second = event('d', t + 1000, { x: 5 });
    c.add(rec(first));
    c.add(rec(replayed(first)));
    c.add(rec(replayed(second)));
    c.add(rec(replayed(event('new', t, { y: 2 }, { kind: 'patient' }))));
    const { devices, latest, rollups } = c.rows();
    expect(rollups).toEqual([{ device: 'd', metric: 'x', minuteMs: t, count: 1, min: 1, max: 1, sum: 1, sumSq: 1 }]);
    expect(latest).toEqual([
      { device: 'd', metric: 'x', tsMs: t + 1000, value: 5, eventId: second.id },
      { device: 'new', metric: 'y', tsMs: t, value: 2, eventId: expect.any(String) },
    ]);
    expect(devices.map((d) => [d.id, d.kind, d.lastSeenMs])).toEqual([
      ['d', 'machine', t + 1000],
      ['new', 'patient', t],
    ]);
    expect([c.events, c.replayed, c.tooOld]).toEqual([4, 3, 0]);
  });

  it('counts invalid records with their position and reason', () => {
    const c = coalescer();
    c.add(rec(event('d', NOW, { x: 1 }), 2));
    const bad = rec('nope', 2);
    c.add(bad);
    expect(c.invalid).toEqual([{ partition: 2, offset: bad.offset, reason: 'not JSON' }]);
    expect(c.events).toBe(1);
  });
});

describe('state consumer and replayed events', () => {
  it('does not double rollups when replay re-publishes events it already counted', async () => {
    const tmp = tempDir('coalesce-replay');
    const stream = await openEmbeddedStream({ dir: tmp.dir });
    const db = await openTestDatabase();
    try {
      await stream.ensureTopic(TOPIC, { partitions: 2 });
      const state = await startStateConsumer({ db, stream, now: () => NOW, retry: { minMs: 5, maxMs: 50 } });
      try {
        const t = NOW - 10 * MINUTE;
        const events = [event('m-1', t + 1000, { temp: 20 }), event('m-1', t + 2000, { temp: 30 }), event('m-2', t + 70_000, { temp: 7, hum: 40 })];
        await append(stream, events);
        await state.caughtUp();
        const totals = () => sql<{ n: number; s: number }>`select sum(count)::int8 as n, sum(sum) as s from rollups_1m`.execute(db.kysely).then((r) => r.rows[0]);
        const before = await totals();
        expect(before).toEqual({ n: 4, s: 97 });
        const latestBefore = await latestValues(db.kysely, 'm-1');

        await append(stream, events.map(replayed));
        await state.caughtUp();
        expect(await totals()).toEqual(before);
        expect(await latestValues(db.kysely, 'm-1')).toEqual(latestBefore);
        expect(state.stats()).toMatchObject({ events: 6, invalid: 0 });
      } finally {
        await state.stop();
      }
    } finally {
      await db.dispose();
      await stream.close();
      tmp.remove();
    }
  });
});
