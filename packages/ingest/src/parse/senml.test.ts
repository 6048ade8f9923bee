import { describe, expect, it } from 'vitest';
import { parseIngestBody, type ParseResult } from './index.js';
import { NOW_MS, ctx, limits } from './test-support.js';

const SENML = 'application/senml+json';
const parse = (pack: unknown, c = ctx): ParseResult => parseIngestBody(JSON.stringify(pack), SENML, c);
const issuesOf = (r: ParseResult) => (r.ok ? [] : r.issues);

describe('SenML, RFC 8428 §5.1 examples', () => {
  it('§5.1.1 single datapoint: rejected, the device needs a base name', () => {
    expect(parse([{ n: 'urn:dev:ow:10e2073a01080063', u: 'Cel', v: 23.1 }])).toEqual({
      ok: false,
      status: 400,
      issues: [{ index: 0, field: 'bn', reason: 'SenML record needs a base name (bn) naming the device' }],
    });
  });

  it('§5.1.1 single datapoint with the name split into bn and n: now', () => {
    expect(parse([{ bn: 'urn:dev:ow:10e2073a01080063:', n: 'temp', u: 'Cel', v: 23.1 }])).toEqual({
      ok: true,
      events: [{ device: 'urn:dev:ow:10e2073a01080063', tsMs: NOW_MS, metrics: { temp: 23.1 }, tags: { 'unit.temp': 'Cel' } }],
    });
  });

  it('§5.1.2 multiple datapoints "now": one event', () => {
    const pack = [
      { bn: 'urn:dev:ow:10e2073a01080063:', n: 'voltage', u: 'V', v: 120.1 },
      { n: 'current', u: 'A', v: 1.2 },
    ];
    expect(parse(pack)).toEqual({
      ok: true,
      events: [
        {
          device: 'urn:dev:ow:10e2073a01080063',
          tsMs: NOW_MS,
          metrics: { voltage: 120.1, current: 1.2 },
          tags: { 'unit.voltage': 'V', 'unit.current': 'A' },
        },
      ],
    });
  });

  it('§5.1.2 multiple datapoints with bn, bt, bu, bver and relative t', () => {
    const pack = [
      { bn: 'urn:dev:ow:10e2073a0108006:', bt: 1.276020076001e9, bu: 'A', bver: 5, n: 'voltage', u: 'V', v: 120.1 },
      { n: 'current', t: -5, v: 1.2 },
      { n: 'current', t: -4, v: 1.3 },
      { n: 'current', t: -3, v: 1.4 },
      { n: 'current', t: -2, v: 1.5 },
      { n: 'current', t: -1, v: 1.6 },
      { n: 'current', v: 1.7 },
    ];
    const bt = 1276020076001;
    const device = 'urn:dev:ow:10e2073a0108006';
    const current = (s: number, v: number) => ({ device, tsMs: bt - s * 1000, metrics: { current: v }, tags: { 'unit.current': 'A' } });
    expect(parse(pack)).toEqual({
      ok: true,
      events: [
        { device, tsMs: bt, metrics: { voltage: 120.1, current: 1.7 }, tags: { 'unit.voltage': 'V', 'unit.current': 'A' } },
        current(5, 1.2),
        current(4, 1.3),
        current(3, 1.4),
        current(2, 1.5),
        current(1, 1.6),
      ],
    });
  });

  it('times below 2^28 s are relative to now (§4.5.3)', () => {
    const r = parse([
      { bn: 'dev/', n: 'a', v: 1, t: -60 },
      { n: 'a', v: 2, t: 0.5 },
      { n: 'a', v: 3, bt: -10, t: -5 },
    ]);
    expect(r.ok && r.events.map((e) => [e.device, e.tsMs - NOW_MS, e.metrics.a])).toEqual([
      ['dev', -60_000, 1],
      ['dev', 500, 2],
      ['dev', -15_000, 3],
    ]);
  });

  it('§5.1.6-style collection: bn changes the device, bt and bu carry over', () => {
    const pack = [
      { bn: 'http://[2001:db8::2]/', bt: 1.320078429e9, n: 'temperature', u: 'Cel', v: 27.2 },
      { bn: 'dev-b/', n: 'temperature', v: 26.1 },
      { bu: '%RH', n: 'humidity', v: 80 },
    ];
    expect(issuesOf(parse(pack))).toEqual([
      { index: 0, field: 'bn', reason: `device "http://[2001:db8::2]" (from bn) has '/' at position 5; allowed: A-Z a-z 0-9 . _ : -` },
    ]);
    const r = parse(pack.slice(1).map((rec, i) => (i === 0 ? { ...rec, bt: 1.320078429e9, bu: 'Cel' } : rec)));
    expect(r).toEqual({
      ok: true,
      events: [{ device: 'dev-b', tsMs: 1320078429000, metrics: { temperature: 26.1, humidity: 80 }, tags: { 'unit.temperature': 'Cel', 'unit.humidity': '%RH' } }],
    });
  });
});

describe('SenML values, names and fields', () => {
  it('vb becomes 1/0, bv is added to v, an empty u means no unit, base-only records are fine', () => {
    const pack = [{ bn: 'thermostat:', bt: 1.7648496e9, bv: 10 }, { n: 'setpoint', u: 'Cel', v: 11 }, { n: 'heat', vb: true, u: '' }, { n: 'fan', vb: false }];
    expect(parse(pack)).toEqual({
      ok: true,
      events: [{ device: 'thermostat', tsMs: 1764849600000, metrics: { setpoint: 21, heat: 1, fan: 0 }, tags: { 'unit.setpoint': 'Cel' } }],
    });
  });

  it('removes only one trailing separator from bn', () => {
    expect(parse([{ bn: 'a::', n: 'x', v: 1 }])).toMatchObject({ ok: true, events: [{ device: 'a:' }] });
  });

  it('ignores unknown fields and ut, rejects must-understand fields', () => {
    expect(parse([{ bn: 'd:', n: 'x', v: 1, ut: 60, foo: 'bar' }]).ok).toBe(true);
    expect(issuesOf(parse([{ bn: 'd:', n: 'x', v: 1, crit_: 1 }]))).toEqual([{ index: 0, field: 'crit_', reason: 'must-understand field "crit_" is not supported' }]);
  });

  it.each([
    [[{ bn: 'd:', n: 'x', vs: 'on' }], 'vs', 'string values (vs) are not supported: metrics are numbers; send v or vb'],
    [[{ bn: 'd:', n: 'x', vd: 'AQI' }], 'vd', 'data values (vd) are not supported: metrics are numbers; send v or vb'],
    [[{ bn: 'd:', n: 'x', s: 12 }], 's', 'sums (s) are not supported: send the reading as v'],
    [[{ bn: 'd:', n: 'x', v: 1, bver: 11 }], 'bver', 'SenML version 11 is not supported (at most 10)'],
    [[{ bn: 'd:', n: 'x', v: 1, bver: 1.5 }], 'bver', 'bver must be a positive integer, got the number 1.5'],
    [[{ bn: 'd:', v: 1 }], 'n', 'SenML record needs a name (n) for the metric; the base name (bn) names the device'],
    [[{ bn: 'd:', n: 'x' }], '', 'SenML record has no value (v or vb)'],
    [[{ bn: 'd:', n: 'x', v: 1, vb: true }], 'vb', 'a record carries one value: v or vb, not both'],
    [[{ bn: 'd:', n: 'x', v: '1' }], 'v', 'v must be a number, got a string "1"'],
    [[{ bn: 'd:', n: 'x', vb: 1 }], 'vb', 'vb must be true or false, got the number 1'],
    [[{ bn: 5, n: 'x', v: 1 }], 'bn', 'bn must be a string, got the number 5'],
    [[{ bn: ':', n: 'x', v: 1 }], 'bn', 'SenML record needs a base name (bn) naming the device'],
    [[{ bn: 'd:', n: 'a b', v: 1 }], 'n', `metric name "a b" has ' ' at position 1; allowed: A-Z a-z 0-9 . _ : / -`],
    [[{ bn: 'd:', n: 'x', v: 1, t: 9e8 }], 't', 'time 1998-07-09T16:00:00.000Z is before the earliest accepted time 2000-01-01T00:00:00.000Z'],
    [[{ bn: 'd:', n: 'x', v: 1, bt: 4e9 }], 't', 'time 2096-10-02T07:06:40.000Z is more than 24 h ahead of the server clock (2025-12-04T12:30:00.000Z)'],
    [[{ bn: 'd:', n: 'x', v: 1e308, bv: 1e308 }], 'v', 'bv + v is not a finite number'],
    [[{ bn: 'd:', n: 'x', v: 1 }, { n: 'x', v: 2 }], 'n', 'metric "x" appears twice for device "d" at 2025-12-04T12:30:00.000Z'],
    [[{ bn: 'd:', n: 'x'.repeat(124), u: 'V', v: 1 }], 'n', `unit tag key "unit.${'x'.repeat(35)}…" is 129 characters long; at most 128`],
  ])('rejects %j', (pack, field, reason) => {
    expect(issuesOf(parse(pack))).toEqual([{ index: pack.length - 1, field, reason }]);
  });

  it('rejects non-array packs, empty packs and non-object records', () => {
    expect(issuesOf(parse({ bn: 'd:', n: 'x', v: 1 }))).toEqual([{ index: 0, field: '', reason: 'a SenML pack must be a JSON array of records, got an object' }]);
    expect(issuesOf(parse([]))).toEqual([{ index: 0, field: '', reason: 'the SenML pack is empty; send at least one record' }]);
    expect(issuesOf(parse([{ bn: 'd:' }, {}]))).toEqual([{ index: 0, field: '', reason: 'the SenML pack has only base fields; send at least one record with n and v or vb' }]);
    expect(issuesOf(parse([{ bn: 'd:', n: 'x', v: 1 }, 3]))).toEqual([{ index: 1, field: '', reason: 'SenML record must be a JSON object, got the number 3' }]);
  });

  it('applies the limits to merged events', () => {
    const small = { nowMs: NOW_MS, limits: { ...limits, maxEventsPerRequest: 2, maxMetricsPerEvent: 2, maxTagsPerEvent: 1 } };
    expect(issuesOf(parse([{ bn: 'd:', n: 'a', v: 1 }, { n: 'b', v: 1 }, { n: 'c', v: 1 }], small))).toEqual([
      { index: 2, field: 'n', reason: 'more than 2 metrics for device "d" at 2025-12-04T12:30:00.000Z' },
    ]);
    // Unit tags are bounded by the metric limit, not the tag limit.
    expect(parse([{ bn: 'd:', bu: 'V', n: 'a', v: 1 }, { n: 'b', v: 1 }], small)).toMatchObject({
      ok: true,
      events: [{ device: 'd', metrics: { a: 1, b: 1 }, tags: { 'unit.a': 'V', 'unit.b': 'V' } }],
    });
    expect(parse([{ bn: 'd:', n: 'a', v: 1, t: -1 }, { n: 'a', v: 1, t: -2 }, { n: 'a', v: 1, t: -3 }], small)).toEqual({
      ok: false,
      status: 413,
      issues: [{ index: 2, field: '', reason: '3 events in one request; at most 2 (split the batch)' }],
    });
    expect(parse(Array.from({ length: 5 }, () => ({ bn: 'd:', n: 'a', v: 1 })), small)).toMatchObject({ ok: false, status: 413 });
  });
});
