import { describe, expect, it } from 'vitest';
import { parseIngestBody, type ParseResult } from './index.js';
import { NOW_MS, ctx, limits } from './test-support.js';

const JSON_TYPE = 'application/json';
const parse = (body: unknown, contentType = JSON_TYPE, c = ctx): ParseResult =>
  parseIngestBody(typeof body === 'string' ? body : JSON.stringify(body), contentType, c);
const T = Date.UTC(2025, 11, 4, 12);

function issuesOf(r: ParseResult) {
  if (r.ok) throw new Error(`expected a rejection, got ${JSON.stringify(r.events)}`);
  return r.issues;
}

describe('application/json, seed-002 flat shape', () => {
  it('takes the seed-002 example as is', () => {
    const body = '{"sensorId": "sensor-001", "temperature": 72.5, "timestamp": "2025-12-04T12:00:00Z"}';
    expect(parse(body)).toEqual({ ok: true, events: [{ device: 'sensor-001', tsMs: T, metrics: { temperature: 72.5 } }] });
  });

  it('takes the device from sensorId, deviceId or device and the time from timestamp or ts', () => {
    for (const deviceField of ['sensorId', 'deviceId', 'device']) {
      for (const timeField of ['timestamp', 'ts']) {
        expect(parse({ [deviceField]: 'd1', [timeField]: T, x: 1 })).toEqual({ ok: true, events: [{ device: 'd1', tsMs: T, metrics: { x: 1 } }] });
      }
    }
  });

  it('turns booleans into 1/0 and keeps id and tags', () => {
    const body = { sensorId: 'bed-12', id: 'evt-1', spo2: 91, on_oxygen: true, alarm: false, tags: { ward: 'B' }, timestamp: T };
    expect(parse(body)).toEqual({
      ok: true,
      events: [{ id: 'evt-1', device: 'bed-12', tsMs: T, metrics: { spo2: 91, on_oxygen: 1, alarm: 0 }, tags: { ward: 'B' } }],
    });
  });

  it('uses the receive time when there is no time', () => {
    expect(parse({ sensorId: 's', t: 1 })).toEqual({ ok: true, events: [{ device: 's', tsMs: NOW_MS, metrics: { t: 1 } }] });
  });

  it('keeps a metric named __proto__ as a metric', () => {
    const r = parse('{"sensorId":"s","__proto__":5}');
    expect(r.ok && Object.getOwnPropertyDescriptor(r.events[0]!.metrics, '__proto__')?.value).toBe(5);
  });

  it.each([
    [{ temperature: 1 }, 'device', 'device is required: give sensorId, deviceId or device'],
    [{ sensorId: 'a', deviceId: 'b', x: 1 }, 'deviceId', 'both sensorId and deviceId are given; send one of sensorId, deviceId or device'],
    [{ sensorId: 'a', timestamp: T, ts: T, x: 1 }, 'ts', 'both timestamp and ts are given; send one of timestamp or ts'],
    [{ sensorId: 7, x: 1 }, 'sensorId', 'sensorId must be a string, got the number 7'],
    [{ sensorId: 'room 1', x: 1 }, 'sensorId', `sensorId "room 1" has ' ' at position 4; allowed: A-Z a-z 0-9 . _ : -`],
    [{ sensorId: 's' }, '', 'no metrics: an event needs at least one number or boolean field besides the device, time, id and tags'],
    [{ sensorId: 's', status: 'ok' }, 'status', 'metric "status" must be a number or boolean, got a string "ok" (every other field is a metric)'],
    [{ sensorId: 's', humidity: null }, 'humidity', 'metric "humidity" must be a number or boolean, got null (every other field is a metric)'],
    [{ sensorId: 's', 'temp C': 1 }, 'temp C', `metric name "temp C" has ' ' at position 4; allowed: A-Z a-z 0-9 . _ : / -`],
    [{ sensorId: 's', x: 1, timestamp: '12/04/2025' }, 'timestamp', 'timestamp "12/04/2025" is not a valid time: expected RFC 3339 like 2025-12-04T12:00:00Z or 2025-12-04T13:00:00.5+01:00'],
    [{ sensorId: 's', x: 1, timestamp: 1764849600 }, 'timestamp', 'timestamp 1764849600 is before 2000-01-01T00:00:00.000Z: numeric times are Unix milliseconds and this looks like seconds (send 1764849600000)'],
    [{ sensorId: 's', x: 1, id: '' }, 'id', 'id "" is empty'],
    [{ sensorId: 's', x: 1, tags: ['a'] }, 'tags', 'tags must be an object of key: string, got an array'],
    [{ sensorId: 's', x: 1, tags: { a: 1 } }, 'tags.a', 'tag "a" must be a string, got the number 1'],
    [{ sensorId: 's', x: 1, tags: { 'a b': 'c' } }, 'tags.a b', `tag key "a b" has ' ' at position 1; allowed: A-Z a-z 0-9 . _ : / -`],
    [{ n: 'temp', v: 1, bn: 'dev:' }, 'n', 'metric "n" must be a number or boolean, got a string "temp" (SenML? send it as application/senml+json)'],
  ])('rejects %j', (item, field, reason) => {
    expect(issuesOf(parse(item))).toEqual([{ index: 0, field, reason }]);
  });

  it('says a metric overflowed to Infinity is not finite', () => {
    expect(issuesOf(parse('{"sensorId":"s","x":1e999}'))).toEqual([{ index: 0, field: 'x', reason: 'metric "x" is not a finite number' }]);
  });
});

describe('application/json, canonical shape', () => {
  it('takes id, device, ts, metrics and tags', () => {
    const body = { id: 'e-1', device: 'd-1', ts: '2025-12-04T13:00:00+01:00', metrics: { hr: 72, ok: true }, tags: { site: 'Lyon' } };
    expect(parse(body)).toEqual({ ok: true, events: [{ id: 'e-1', device: 'd-1', tsMs: T, metrics: { hr: 72, ok: 1 }, tags: { site: 'Lyon' } }] });
  });

  it('drops an empty tags object', () => {
    expect(parse({ device: 'd', metrics: { a: 1 }, tags: {} })).toEqual({ ok: true, events: [{ device: 'd', tsMs: NOW_MS, metrics: { a: 1 } }] });
  });

  it.each([
    [{ device: 'd', metrics: { a: 1 }, sensorId: 'x' }, 'sensorId', 'unknown field "sensorId": an event with "metrics" has only id, device, ts, metrics and tags'],
    [{ metrics: { a: 1 } }, 'device', 'device is required'],
    [{ device: 'd', metrics: {} }, 'metrics', 'metrics is empty; an event needs at least one metric'],
    [{ device: 'd', metrics: [1] }, 'metrics', 'metrics must be an object of name: number, got an array'],
    [{ device: 'd', metrics: null }, 'metrics', 'metrics must be an object of name: number, got null'],
    [{ device: 'd', metrics: { temperature: '20' } }, 'metrics.temperature', 'metric "temperature" must be a number or boolean, got a string "20"'],
    [{ device: 'd', metrics: { 'a b': 1 } }, 'metrics.a b', `metric name "a b" has ' ' at position 1; allowed: A-Z a-z 0-9 . _ : / -`],
    [{ device: 'd', ts: null, metrics: { a: 1 } }, 'ts', 'ts must be an RFC 3339 string or a number of Unix milliseconds, got null'],
  ])('rejects %j', (item, field, reason) => {
    expect(issuesOf(parse(item))).toEqual([{ index: 0, field, reason }]);
  });
});

describe('application/json, bodies and limits', () => {
  it('takes an array of both shapes', () => {
    const body = [
      { sensorId: 's1', temperature: 20, timestamp: T },
      { device: 's2', ts: T, metrics: { temperature: 21 } },
    ];
    expect(parse(body)).toEqual({
      ok: true,
      events: [
        { device: 's1', tsMs: T, metrics: { temperature: 20 } },
        { device: 's2', tsMs: T, metrics: { temperature: 21 } },
      ],
    });
  });

  it('lists every invalid item and accepts nothing', () => {
    const body = [{ sensorId: 's', x: 1 }, { x: 1 }, 'text', { sensorId: 's', x: 'y' }, { sensorId: 's', x: 2 }];
    expect(issuesOf(parse(body)).map((i) => [i.index, i.field])).toEqual([
      [1, 'device'],
      [2, ''],
      [3, 'x'],
    ]);
  });

  it('caps the list at 100 issues plus a summary', () => {
    const body = Array.from({ length: 250 }, (_, i) => (i % 2 === 0 ? { x: 1 } : { sensorId: 's', x: 1 }));
    const issues = issuesOf(parse(body));
    expect(issues).toHaveLength(101);
    expect(issues[99]!.index).toBe(198);
    expect(issues[100]).toEqual({ index: 200, field: '', reason: 'and 25 more invalid item(s) not listed' });
  });

  it.each([
    ['', 'body is empty'],
    [' \r\n\t', 'body is empty'],
    ['[]', 'body is an empty array; send at least one event'],
    ['42', 'body must be a JSON object or an array of objects, got the number 42'],
    ['"x"', 'body must be a JSON object or an array of objects, got a string "x"'],
    ['null', 'body must be a JSON object or an array of objects, got null'],
    ['{"sensorId": "s", "x": 1', 'body is not valid JSON: unexpected end of input (expected \',\' or \'}\') at line 1, column 25 (position 24)'],
    ['{"sensorId": "s",\n "x": 01}', 'body is not valid JSON: leading zero in number at line 2, column 8 (position 25)'],
  ])('400 for %j', (body, reason) => {
    expect(parse(body)).toEqual({ ok: false, status: 400, issues: [{ index: 0, field: '', reason }] });
  });

  it('400 for a body that is not UTF-8, and accepts a byte order mark', () => {
    expect(parseIngestBody(Buffer.from([0x7b, 0xff, 0x7d]), JSON_TYPE, ctx)).toEqual({ ok: false, status: 400, issues: [{ index: 0, field: '', reason: 'body is not valid UTF-8' }] });
    const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"sensorId":"s","x":1}')]);
    expect(parseIngestBody(withBom, JSON_TYPE, ctx).ok).toBe(true);
  });

  it('takes a Buffer body with non-ASCII tag values', () => {
    const r = parseIngestBody(Buffer.from('{"sensorId":"s","x":1,"tags":{"ward":"Réanimation 🏥"}}'), JSON_TYPE, ctx);
    expect(r.ok && r.events[0]!.tags).toEqual({ ward: 'Réanimation 🏥' });
  });

  it('413 when there are more events than maxEventsPerRequest, before checking items', () => {
    const small = { nowMs: NOW_MS, limits: { ...limits, maxEventsPerRequest: 3 } };
    expect(parse([{ sensorId: 's', x: 1 }, {}, {}], JSON_TYPE, small).ok).toBe(false);
    expect(parse([{}, {}, {}, {}], JSON_TYPE, small)).toEqual({
      ok: false,
      status: 413,
      issues: [{ index: 3, field: '', reason: '4 events in one request; at most 3 (split the batch)' }],
    });
  });

  it('enforces metrics and tags limits', () => {
    const small = { nowMs: NOW_MS, limits: { ...limits, maxMetricsPerEvent: 2, maxTagsPerEvent: 1, maxTagValueLength: 3 } };
    expect(parse({ sensorId: 's', a: 1, b: 2 }, JSON_TYPE, small).ok).toBe(true);
    expect(issuesOf(parse({ sensorId: 's', a: 1, b: 2, c: 3 }, JSON_TYPE, small))).toEqual([{ index: 0, field: '', reason: 'more than 2 metrics in one event' }]);
    expect(issuesOf(parse({ device: 's', metrics: { a: 1, b: 2, c: 3 } }, JSON_TYPE, small))).toEqual([{ index: 0, field: 'metrics', reason: 'more than 2 metrics in one event' }]);
    expect(issuesOf(parse({ sensorId: 's', a: 1, tags: { k: 'v', l: 'w' } }, JSON_TYPE, small))).toEqual([{ index: 0, field: 'tags', reason: 'more than 1 tags in one event' }]);
    expect(issuesOf(parse({ sensorId: 's', a: 1, tags: { k: 'long' } }, JSON_TYPE, small))).toEqual([{ index: 0, field: 'tags.k', reason: 'tag "k" is 4 characters long; at most 3' }]);
  });

  it('refuses tag values no store downstream can hold: control characters and lone surrogates', () => {
    expect(issuesOf(parse({ sensorId: 's', a: 1, tags: { k: 'x\u0000y' } }))).toEqual([
      { index: 0, field: 'tags.k', reason: 'tag "k" holds a control character (U+0000 to U+001F or U+007F)' },
    ]);
    expect(issuesOf(parse('{"sensorId":"s","a":1,"tags":{"k":"x\\ud800y"}}'))).toEqual([
      { index: 0, field: 'tags.k', reason: 'tag "k" holds a lone UTF-16 surrogate (not valid Unicode)' },
    ]);
    expect(parse({ sensorId: 's', a: 1, tags: { k: 'Zoë 🩺 — ok' } }).ok).toBe(true);
  });

  it('keeps reasons and fields bounded for huge inputs', () => {
    const long = 'x'.repeat(10_000);
    const [issue] = issuesOf(parse({ sensorId: long, [long]: 'y' }));
    expect(issue!.reason.length).toBeLessThan(200);
    expect(issuesOf(parse({ sensorId: 's', [long]: 'y' }))[0]!.field).toBe(`${'x'.repeat(40)}…`);
  });
});

describe('content types', () => {
  it('415 with the accepted types', () => {
    expect(parse({ sensorId: 's', x: 1 }, 'text/plain')).toEqual({
      ok: false,
      status: 415,
      issues: [{ index: 0, field: '', reason: '"text/plain" is not accepted; send one of application/json, application/x-ndjson, application/ndjson, application/senml+json' }],
    });
    expect(parseIngestBody('{}', undefined, ctx)).toMatchObject({ ok: false, status: 415 });
    expect(parse({ sensorId: 's', x: 1 }, 'application/json; charset=iso-8859-1')).toMatchObject({ ok: false, status: 415 });
    expect(parse({ sensorId: 's', x: 1 }, 'application/json; charset=UTF-8').ok).toBe(true);
  });
});

describe('items without a device, from a writer bound to one (device key, MQTT topic)', () => {
  it('take the writer\'s device in every shape; without a writer device they are refused', () => {
    const bound = { ...ctx, device: 'bed-7' };
    expect(parse({ metrics: { spo2: 95 }, ts: T }, JSON_TYPE, bound)).toEqual({ ok: true, events: [{ device: 'bed-7', tsMs: T, metrics: { spo2: 95 } }] });
    expect(parse({ spo2: 95, ts: T }, JSON_TYPE, bound)).toEqual({ ok: true, events: [{ device: 'bed-7', tsMs: T, metrics: { spo2: 95 } }] });
    expect(parse('{"spo2":95,"ts":' + T + '}\n', 'application/x-ndjson', bound)).toEqual({ ok: true, events: [{ device: 'bed-7', tsMs: T, metrics: { spo2: 95 } }] });
    expect(parse([{ n: 'spo2', v: 95, t: T / 1000 }], 'application/senml+json', bound)).toEqual({ ok: true, events: [{ device: 'bed-7', tsMs: T, metrics: { spo2: 95 } }] });
    // A device the item names is kept (the binding check refuses another device later, with 403).
    expect(parse({ device: 'bed-8', metrics: { spo2: 95 }, ts: T }, JSON_TYPE, bound)).toMatchObject({ ok: true, events: [{ device: 'bed-8' }] });
    expect(issuesOf(parse({ metrics: { spo2: 95 } }))).toEqual([{ index: 0, field: 'device', reason: 'device is required' }]);
  });
});

