/**
 * Property-based tests over the whole parser: it never throws on any input and only ever
 * returns valid events or a bounded rejection; valid events written in any accepted format
 * parse back to themselves.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MAX_ISSUES, parseIngestBody, type ParseResult, type ParsedEvent } from './index.js';
import {
  FLAT_RESERVED,
  NOW_MS,
  canonicalItem,
  ctx,
  eventArb,
  eventProblems,
  flatItem,
  limits,
  metricNameArb,
  offsetArb,
  senmlPack,
} from './test-support.js';

const TYPES = ['application/json', 'application/x-ndjson', 'application/ndjson', 'application/senml+json'];

function checkResult(r: ParseResult): void {
  if (r.ok) {
    expect(r.events.length).toBeGreaterThan(0);
    expect(r.events.length).toBeLessThanOrEqual(limits.maxEventsPerRequest);
    for (const ev of r.events) expect(eventProblems(ev, NOW_MS, limits)).toEqual([]);
    return;
  }
  expect([400, 413, 415]).toContain(r.status);
  expect(r.issues.length).toBeGreaterThan(0);
  expect(r.issues.length).toBeLessThanOrEqual(MAX_ISSUES + 1);
  for (const issue of r.issues) {
    expect(Number.isInteger(issue.index)).toBe(true);
    expect(issue.field.length).toBeLessThanOrEqual(200);
    expect(issue.reason.length).toBeGreaterThan(0);
    expect(issue.reason.length).toBeLessThanOrEqual(300);
  }
}

/** JSON-ish text: event-like fragments and JSON tokens glued together at random. */
const fragment = fc.oneof(
  fc.constantFrom('{', '}', '[', ']', ',', ':', '\n', '\r\n', '"sensorId"', '"device"', '"metrics"', '"timestamp"', '"ts"', '"bn"', '"n"', '"v"', '"vb"', '"t"', '"bt"', '"tags"', '"id"', '"s-1"', '1', '1e999', '-0', 'true', 'null', '"2025-12-04T12:00:00Z"', '1764849600000'),
  fc.json(),
);
const jsonishText = fc.array(fragment, { maxLength: 40 }).map((parts) => parts.join(''));

/** Plausible items: right field names, random values. */
const looseValue = fc.oneof(fc.jsonValue(), fc.constantFrom('s-1', 'urn:dev:x:', 1764849600000, 1.5e9, '2025-12-04T12:00:00Z', true, -5));
const looseItem = fc.dictionary(fc.constantFrom('sensorId', 'deviceId', 'device', 'timestamp', 'ts', 'id', 'tags', 'metrics', 'temperature', 'bn', 'bt', 'bu', 'bv', 'bver', 'n', 'u', 'v', 'vb', 'vs', 's', 't', 'ut', 'x_', '__proto__'), looseValue, {
  maxKeys: 6,
});

describe('parseIngestBody never throws', () => {
  it.each(TYPES)('random bytes as %s', (type) => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => checkResult(parseIngestBody(Buffer.from(bytes), type, ctx))),
      { numRuns: 500 },
    );
  });

  it.each(TYPES)('random strings and JSON-ish text as %s', (type) => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), jsonishText), (text) => checkResult(parseIngestBody(text, type, ctx))),
      { numRuns: 1000 },
    );
  });

  it.each(TYPES)('random JSON values and loose items as %s', (type) => {
    const body = fc.oneof(
      fc.jsonValue().map((v) => JSON.stringify(v)),
      looseItem.map((v) => JSON.stringify(v)),
      fc.array(looseItem, { maxLength: 10 }).map((v) => JSON.stringify(v)),
      fc.array(looseItem, { maxLength: 10 }).map((items) => items.map((i) => JSON.stringify(i)).join('\n')),
    );
    fc.assert(
      fc.property(body, (text) => checkResult(parseIngestBody(text, type, ctx))),
      { numRuns: 1500 },
    );
  });

  it('any content type header', () => {
    fc.assert(
      fc.property(fc.option(fc.string({ maxLength: 60 }), { nil: undefined }), (type) => checkResult(parseIngestBody('{"sensorId":"s","x":1}', type, ctx))),
      { numRuns: 300 },
    );
  });

  it('many invalid items: one issue each, capped with a summary', () => {
    fc.assert(
      fc.property(fc.array(looseItem, { minLength: 101, maxLength: 400 }), (items) => {
        const r = parseIngestBody(JSON.stringify(items), 'application/json', ctx);
        checkResult(r);
        if (!r.ok && r.issues.length === MAX_ISSUES + 1) expect(r.issues[MAX_ISSUES]!.reason).toMatch(/^and \d+ more invalid item\(s\) not listed$/);
      }),
      { numRuns: 30 },
    );
  });
});

/** Same events, ignoring key order (the parsers may reorder integer-like metric names). */
function expectSameEvents(r: ParseResult, events: ParsedEvent[]): void {
  if (!r.ok) throw new Error(JSON.stringify(r.issues.slice(0, 3)));
  expect(r.events).toEqual(events);
}

const flatNames = metricNameArb.filter((n) => !FLAT_RESERVED.has(n));
const timeStyle = fc.oneof(fc.constant<'ms'>('ms'), offsetArb);

describe('valid events round-trip', () => {
  it('application/json, canonical shape, one object or an array', () => {
    fc.assert(
      fc.property(fc.array(eventArb(), { minLength: 1, maxLength: 20 }), timeStyle, fc.boolean(), (events, time, single) => {
        const items = events.map((ev) => canonicalItem(ev, time));
        const body = single ? JSON.stringify(items[0]) : JSON.stringify(items);
        expectSameEvents(parseIngestBody(body, 'application/json', ctx), single ? events.slice(0, 1) : events);
      }),
      { numRuns: 300 },
    );
  });

  it('application/json, seed-002 flat shape', () => {
    fc.assert(
      fc.property(
        fc.array(eventArb({ metricNames: flatNames }), { minLength: 1, maxLength: 20 }),
        fc.constantFrom('sensorId', 'deviceId', 'device') as fc.Arbitrary<'sensorId' | 'deviceId' | 'device'>,
        timeStyle,
        (events, deviceField, time) => {
          const body = JSON.stringify(events.map((ev) => flatItem(ev, deviceField, time)));
          expectSameEvents(parseIngestBody(Buffer.from(body), 'application/json; charset=utf-8', ctx), events);
        },
      ),
      { numRuns: 300 },
    );
  });

  it.each(['application/x-ndjson', 'application/ndjson'])('%s, both shapes, \\n or \\r\\n, blank lines', (type) => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(eventArb({ metricNames: flatNames }), fc.boolean(), fc.constantFrom('\n', '\r\n', '\n\n', '\n  \r\n')), { minLength: 1, maxLength: 20 }),
        timeStyle,
        (rows, time) => {
          const body = rows.map(([ev, flat, eol]) => JSON.stringify(flat ? flatItem(ev, 'sensorId', time) : canonicalItem(ev, time)) + eol).join('');
          expectSameEvents(parseIngestBody(body, type, ctx), rows.map(([ev]) => ev));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('application/senml+json (no ids or tags: SenML carries neither)', () => {
    const distinct = fc.uniqueArray(eventArb({ ids: false, tags: false }), { minLength: 1, maxLength: 20, selector: (ev) => `${ev.device}\n${ev.tsMs}` });
    fc.assert(
      fc.property(distinct, (events) => {
        expectSameEvents(parseIngestBody(JSON.stringify(senmlPack(events)), 'application/senml+json', ctx), events);
      }),
      { numRuns: 300 },
    );
  });
});
