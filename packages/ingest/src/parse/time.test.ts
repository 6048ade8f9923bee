import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DEFAULT_INGEST_LIMITS } from '@strata/core';
import { isoString, parseRfc3339, resolveJsonTime } from './time.js';
import { offsetArb, rfc3339 } from './test-support.js';

const NOW = Date.UTC(2025, 11, 4, 12, 30);
const resolve = (v: unknown) => resolveJsonTime(v, 'timestamp', NOW, DEFAULT_INGEST_LIMITS);

describe('parseRfc3339', () => {
  it.each([
    ['2025-12-04T12:00:00Z', Date.UTC(2025, 11, 4, 12)],
    ['2025-12-04t12:00:00z', Date.UTC(2025, 11, 4, 12)],
    ['2025-12-04T12:00:00.5Z', Date.UTC(2025, 11, 4, 12, 0, 0, 500)],
    ['2025-12-04T12:00:00.123456789Z', Date.UTC(2025, 11, 4, 12, 0, 0, 123)],
    ['2025-12-04T13:30:00+01:30', Date.UTC(2025, 11, 4, 12)],
    ['2025-12-04T07:00:00-05:00', Date.UTC(2025, 11, 4, 12)],
    ['2024-02-29T00:00:00Z', Date.UTC(2024, 1, 29)],
    ['2000-01-01T00:00:00-00:00', Date.UTC(2000, 0, 1)],
    ['0001-01-01T00:00:00Z', Date.parse('0001-01-01T00:00:00Z')],
  ])('%s', (text, ms) => {
    expect(parseRfc3339(text)).toBe(ms);
  });

  it.each([
    ['12/04/2025', /expected RFC 3339/],
    ['2025-12-04', /expected RFC 3339/],
    ['2025-12-04 12:00:00Z', /expected RFC 3339/],
    ['2025-12-04T12:00:00', /no time zone/],
    ['2025-12-04T12:00Z', /expected RFC 3339/],
    ['2025-12-04T12:00:00.Z', /no digits after the decimal point/],
    ['2025-12-04T12:00:00+0100', /bad UTC offset/],
    ['2025-12-04T12:00:00+24:00', /offset out of range/],
    ['2025-12-04T12:00:00Z ', /expected RFC 3339/],
    ['2025-02-29T00:00:00Z', /no such date/],
    ['2025-13-01T00:00:00Z', /no such date/],
    ['2025-12-04T24:00:00Z', /no such time/],
    ['2016-12-31T23:59:60Z', /leap seconds/],
    ['+02025-12-04T12:00:00Z', /expected RFC 3339/],
    ['２025-12-04T12:00:00Z', /expected RFC 3339/],
  ])('rejects %s', (text, reason) => {
    const r = parseRfc3339(text);
    expect(typeof r).toBe('string');
    expect(r).toMatch(reason);
  });

  it('agrees with Date for any instant and offset', () => {
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(1, 0, 1), max: Date.UTC(9998, 11, 31) }), offsetArb, (ms, off) => {
        expect(parseRfc3339(rfc3339(ms, off))).toBe(ms);
        expect(parseRfc3339(new Date(ms).toISOString())).toBe(ms);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('resolveJsonTime', () => {
  it('takes RFC 3339 strings and Unix ms numbers', () => {
    expect(resolve('2025-12-04T12:00:00Z')).toBe(Date.UTC(2025, 11, 4, 12));
    expect(resolve(Date.UTC(2025, 11, 4, 12))).toBe(Date.UTC(2025, 11, 4, 12));
  });

  it('says when a number looks like seconds', () => {
    expect(resolve(1764849600)).toEqual({
      reason: 'timestamp 1764849600 is before 2000-01-01T00:00:00.000Z: numeric times are Unix milliseconds and this looks like seconds (send 1764849600000)',
    });
    expect(resolve(1764849600.25)).toMatchObject({ reason: expect.stringMatching(/looks like seconds/) });
  });

  it('rejects times outside the window, fractions of ms and other types', () => {
    expect(resolve(5)).toEqual({ reason: 'timestamp 5 (Unix ms) is before the earliest accepted time 2000-01-01T00:00:00.000Z' });
    expect(resolve('1999-12-31T23:59:59Z')).toMatchObject({ reason: expect.stringMatching(/before the earliest accepted time/) });
    expect(resolve(NOW + 24 * 3600_000 + 1)).toEqual({
      reason: 'timestamp 2025-12-05T12:30:00.001Z is more than 24 h ahead of the server clock (2025-12-04T12:30:00.000Z)',
    });
    expect(resolve(NOW + 24 * 3600_000)).toBe(NOW + 24 * 3600_000);
    expect(resolve(1e300)).toMatchObject({ reason: expect.stringMatching(/^timestamp 1e\+300 is more than 24 h ahead/) });
    expect(resolve(NOW + 0.5)).toEqual({ reason: `timestamp must be a whole number of Unix milliseconds, got ${NOW + 0.5}` });
    expect(resolve(null)).toEqual({ reason: 'timestamp must be an RFC 3339 string or a number of Unix milliseconds, got null' });
    expect(resolve(Infinity)).toEqual({ reason: 'timestamp must be a finite number of Unix milliseconds' });
  });
});

describe('isoString', () => {
  it('equals Date#toISOString', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.integer({ min: -8.64e15, max: 8.64e15 }), fc.integer({ min: Date.UTC(1999, 0, 1), max: Date.UTC(2030, 0, 1) }), fc.double({ min: -1e13, max: 1e13, noNaN: true })),
        (ms) => {
          expect(isoString(ms)).toBe(new Date(ms).toISOString());
        },
      ),
      { numRuns: 5000 },
    );
    for (const ms of [0, -1, Date.UTC(0, 0, 1) - 1, Date.UTC(2000, 1, 29, 23, 59, 59, 999), Date.parse('9999-12-31T23:59:59.999Z'), Date.parse('9999-12-31T23:59:59.999Z') + 1]) {
      expect(isoString(ms)).toBe(new Date(ms).toISOString());
    }
  });
});
