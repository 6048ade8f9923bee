import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { uuidv7Time, type TelemetryEvent } from '@strata/core';
import { encodeEvents } from './encode.js';
import { NOW_MS, anyStringArb, eventArb, metricNameArb, metricValueArb } from './test-support.js';
import type { ParsedEvent } from './types.js';

const UUIDV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The object the encoder must serialise, built the obvious way. */
function telemetryEvent(ev: ParsedEvent, id: string, nowMs: number, source: string): TelemetryEvent {
  return {
    id,
    device: ev.device,
    ts: new Date(ev.tsMs).toISOString(),
    metrics: ev.metrics,
    tags: ev.tags,
    received_at: new Date(nowMs).toISOString(),
    source,
  };
}

function decode(value: Uint8Array): string {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8');
}

/** Events with any strings at all where the parser would have validated them. */
const wildEventArb = fc
  .record({
    id: fc.option(anyStringArb(12), { nil: undefined }),
    device: anyStringArb(12),
    tsMs: fc.integer({ min: -8.64e15, max: 8.64e15 }),
    metrics: fc.uniqueArray(fc.tuple(fc.oneof(metricNameArb, anyStringArb(8)), fc.oneof(metricValueArb, fc.constantFrom(NaN, Infinity, -Infinity, -0))), { maxLength: 6, selector: (e) => e[0] }).map((e) => Object.fromEntries(e)),
    tags: fc.option(fc.uniqueArray(fc.tuple(anyStringArb(8), anyStringArb(20)), { maxLength: 4, selector: (e) => e[0] }).map((e) => Object.fromEntries(e)), { nil: undefined }),
  })
  .map(({ id, ...rest }) => (id === undefined ? rest : { id, ...rest }) as ParsedEvent);

describe('encodeEvents', () => {
  it('writes the TelemetryEvent JSON in contract key order', () => {
    const { records, bytes } = encodeEvents(
      [
        { id: 'e-1', device: 'bed-12', tsMs: Date.UTC(2025, 11, 4, 12), metrics: { spo2: 91, on_oxygen: 1 }, tags: { ward: 'Réa "B"' } },
        { device: 'bed-13', tsMs: Date.UTC(2025, 11, 4, 12), metrics: { hr: 60 } },
      ],
      { nowMs: NOW_MS, source: 'http' },
    );
    expect(decode(records[0]!.value)).toBe(
      '{"id":"e-1","device":"bed-12","ts":"2025-12-04T12:00:00.000Z","metrics":{"spo2":91,"on_oxygen":1},"tags":{"ward":"Réa \\"B\\""},"received_at":"2025-12-04T12:30:00.000Z","source":"http"}',
    );
    expect(records[0]).toMatchObject({ key: 'bed-12', id: 'e-1', ts: Date.UTC(2025, 11, 4, 12) });
    const second = JSON.parse(decode(records[1]!.value)) as TelemetryEvent;
    expect(second.id).toMatch(UUIDV7);
    expect(uuidv7Time(second.id)).toBe(NOW_MS);
    expect(records[1]).not.toHaveProperty('id');
    expect(bytes).toBe(records.reduce((n, r) => n + r.value.byteLength, 0));
  });

  it('gives server ids that are distinct and ordered within a batch', () => {
    const events = Array.from({ length: 50 }, () => ({ device: 'd', tsMs: NOW_MS, metrics: { x: 1 } }));
    const ids = encodeEvents(events, { nowMs: NOW_MS, source: 'http' }).records.map((r) => (JSON.parse(decode(r.value)) as TelemetryEvent).id);
    expect(new Set(ids).size).toBe(50);
    expect([...ids].sort()).toEqual(ids);
  });

  it('grows its buffer for events larger than usual, ASCII or not', () => {
    const small: ParsedEvent = { device: 'd', tsMs: NOW_MS, metrics: { x: 1.5 } };
    const big: ParsedEvent = { id: 'big', device: 'd', tsMs: NOW_MS, metrics: { x: 2 }, tags: { a: 'x'.repeat(3000), b: 'é"\n'.repeat(500) } };
    const events = [small, big, small, big];
    const { records } = encodeEvents(events, { nowMs: NOW_MS, source: 'http' });
    records.forEach((rec, i) => {
      const id = events[i]!.id ?? (JSON.parse(decode(rec.value)) as TelemetryEvent).id;
      expect(rec.value).toEqual(Buffer.from(JSON.stringify(telemetryEvent(events[i]!, id, NOW_MS, 'http')), 'utf8'));
    });
  });

  it('handles an empty batch', () => {
    expect(encodeEvents([], { nowMs: NOW_MS, source: 'http' })).toEqual({ records: [], bytes: 0 });
  });

  it('is byte-identical to JSON.stringify and parses back to the same event (valid events)', () => {
    fc.assert(
      fc.property(fc.array(eventArb(), { minLength: 1, maxLength: 20 }), fc.constantFrom('http', 'mqtt', 'démo'), (events, source) => {
        const { records, bytes } = encodeEvents(events, { nowMs: NOW_MS, source });
        let total = 0;
        records.forEach((rec, i) => {
          const ev = events[i]!;
          const text = decode(rec.value);
          const parsed = JSON.parse(text) as TelemetryEvent;
          const expected = telemetryEvent(ev, ev.id ?? parsed.id, NOW_MS, source);
          expect(text).toBe(JSON.stringify(expected));
          expect(parsed).toEqual(JSON.parse(JSON.stringify(expected)));
          expect(parsed.metrics).toEqual(ev.metrics);
          if (ev.id === undefined) expect(parsed.id).toMatch(UUIDV7);
          expect(rec.key).toBe(ev.device);
          expect(rec.ts).toBe(ev.tsMs);
          expect(rec.id).toBe(ev.id);
          total += rec.value.byteLength;
        });
        expect(bytes).toBe(total);
      }),
      { numRuns: 500 },
    );
  });

  it('is byte-identical to JSON.stringify for any strings and numbers', () => {
    fc.assert(
      fc.property(fc.array(wildEventArb, { minLength: 1, maxLength: 5 }), anyStringArb(10), (events, source) => {
        const { records } = encodeEvents(events, { nowMs: NOW_MS, source });
        records.forEach((rec, i) => {
          const ev = events[i]!;
          const text = decode(rec.value);
          const id = ev.id ?? (JSON.parse(text) as TelemetryEvent).id;
          expect(rec.value).toEqual(Buffer.from(JSON.stringify(telemetryEvent(ev, id, NOW_MS, source)), 'utf8'));
        });
      }),
      { numRuns: 1000 },
    );
  });
});
