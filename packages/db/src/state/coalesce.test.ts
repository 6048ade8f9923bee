import { describe, expect, it } from 'vitest';
import type { StreamRecord } from '@strata/stream';
import { Coalescer, parseEvent } from './coalesce.js';
import { utcDay } from './partitions.js';
import { DAY, event, MINUTE, NOW, TOPIC } from './test-support.js';
import type { TelemetryEvent } from '@strata/core';

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
    expect(parse(ok)).toEqual({ id: ok.id, device: 'd-1', tsMs: NOW, metrics: { x: 1 }, tags: { a: 'b' } });
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

  it('counts invalid records with their position and reason', () => {
    const c = coalescer();
    c.add(rec(event('d', NOW, { x: 1 }), 2));
    const bad = rec('nope', 2);
    c.add(bad);
    expect(c.invalid).toEqual([{ partition: 2, offset: bad.offset, reason: 'not JSON' }]);
    expect(c.events).toBe(1);
  });
});
