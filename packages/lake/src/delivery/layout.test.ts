import { gunzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { StreamRecord } from '@strata/stream';
import { encodeRecord, hourPath, hourPrefixes, objectKey, stateKey, UnitLines } from './layout.js';

function rec(offset: number, value: string | Buffer, ts: number, partition = 3): StreamRecord {
  return { topic: 't', partition, offset, key: 'dev-1', value: Buffer.isBuffer(value) ? value : Buffer.from(value), ts, appendTime: Date.UTC(2025, 5, 1, 12) };
}

async function encode(records: StreamRecord[], partition: number) {
  const lines = new UnitLines();
  for (const r of records) lines.add(r);
  return lines.encode('t', partition, 6);
}

describe('raw zone layout', () => {
  // A far-off time zone: any use of local time instead of UTC shows up as a wrong hour or day.
  beforeEach(() => vi.stubEnv('TZ', 'Pacific/Chatham'));
  afterEach(() => vi.unstubAllEnvs());

  it('names hours in UTC, zero-padded', () => {
    expect(hourPath(Date.UTC(2025, 11, 31, 23, 59, 59, 999))).toBe('year=2025/month=12/day=31/hour=23');
    expect(hourPath(Date.UTC(2026, 0, 1, 0, 0, 0, 0))).toBe('year=2026/month=01/day=01/hour=00');
    expect(hourPath(Date.UTC(2024, 1, 29, 7))).toBe('year=2024/month=02/day=29/hour=07');
    expect(hourPath(0)).toBe('year=1970/month=01/day=01/hour=00');
  });

  it('names objects and state like Firehose', () => {
    expect(objectKey('raw', 'telemetry', 'year=2025/month=01/day=02/hour=03', 7, 100, 250)).toBe(
      'raw/telemetry/year=2025/month=01/day=02/hour=03/telemetry-7-100-250.ndjson.gz',
    );
    expect(stateKey('delivery', 'telemetry', 7)).toBe('_state/delivery/delivery/telemetry-7.json');
  });

  it('writes one object per zone and hour, named by that hour’s first and last offsets', async () => {
    const h23 = Date.UTC(2025, 11, 31, 23, 30);
    const h00 = Date.UTC(2026, 0, 1, 0, 15);
    const objects = await encode([rec(10, '{"a":1}', h23), rec(11, '{"a":2}', h00), rec(12, '[1]', h00), rec(13, '{"a":3}', h23), rec(14, '{"a":4}', h00)], 3);
    expect(objects.map((o) => o.key)).toEqual([
      'errors/t/year=2026/month=01/day=01/hour=00/t-3-12-12.ndjson.gz',
      'raw/t/year=2025/month=12/day=31/hour=23/t-3-10-13.ndjson.gz',
      'raw/t/year=2026/month=01/day=01/hour=00/t-3-11-14.ndjson.gz',
    ]);
    expect(gunzipSync(objects[1]!.body).toString()).toBe('{"a":1}\n{"a":3}\n');
    expect(gunzipSync(objects[2]!.body).toString()).toBe('{"a":2}\n{"a":4}\n');
    expect(objects[2]!.bytesIn).toBe(16);
  });

  it('takes records in offset order only', () => {
    const lines = new UnitLines();
    lines.add(rec(5, '{}', 0));
    expect(() => lines.add(rec(5, '{}', 0))).toThrow(/offset 5 added after 5/);
  });

  it('is deterministic: the same records give the same bytes, however large the bodies grow', async () => {
    const ts = Date.UTC(2025, 0, 1, 5);
    // Values of up to 40 KB, so bodies span several chunks.
    const records = Array.from({ length: 200 }, (_, i) => rec(i, JSON.stringify({ id: `e-${i}`, pad: 'x'.repeat((i * 7919) % 40_000) }), ts + i * 60_000));
    const a = await encode(records, 0);
    const b = await encode(records, 0);
    const firstHour = records.filter((r) => hourPath(r.ts) === hourPath(ts)).map((r) => `${r.value.toString()}\n`).join('');
    expect(gunzipSync(a[0]!.body).toString()).toBe(firstHour);
    expect(a.map((o) => o.key)).toEqual(b.map((o) => o.key));
    for (const [i, o] of a.entries()) expect(Buffer.compare(o.body, b[i]!.body)).toBe(0);
  });

  it('keeps a valid value byte for byte, turning raw line breaks (JSON whitespace) into spaces', () => {
    const pretty = '{\r\n  "id": "x",\n  "text": "a\\nb"\n}';
    const line = encodeRecord(rec(1, pretty, 0));
    expect(line.zone).toBe('raw');
    expect(line.line.toString()).toBe('{    "id": "x",   "text": "a\\nb" }');
    expect(JSON.parse(line.line.toString())).toEqual(JSON.parse(pretty));
    const exact = '{"big":12345678901234567890,"f":1.50}';
    expect(encodeRecord(rec(2, exact, 0)).line.toString()).toBe(exact);
  });

  it('routes values that are not JSON objects to errors/ with a bounded reason and the raw value cut to 64 KiB', () => {
    const cases: [string | Buffer, RegExp][] = [
      ['[1,2]', /not an object \(array\)/],
      ['"text"', /not an object \(string\)/],
      ['null', /not an object \(null\)/],
      ['42', /not an object \(number\)/],
      ['{"unterminated": ', /not valid JSON/],
      [Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), /not valid UTF-8/],
      ['x'.repeat(200_000), /not valid JSON/],
    ];
    for (const [value, reason] of cases) {
      const line = encodeRecord(rec(9, value, Date.UTC(2025, 2, 3, 4)));
      expect(line.zone).toBe('errors');
      expect(line.hour).toBe('year=2025/month=03/day=03/hour=04');
      const parsed = JSON.parse(line.line.toString()) as { offset: number; partition: number; reason: string; raw: string };
      expect(Object.keys(parsed)).toEqual(['offset', 'partition', 'reason', 'raw']);
      expect(parsed).toMatchObject({ offset: 9, partition: 3 });
      expect(parsed.reason).toMatch(reason);
      expect(parsed.reason.length).toBeLessThanOrEqual(201);
      expect(Buffer.byteLength(parsed.raw)).toBeLessThanOrEqual(64 * 1024 * 3);
      if (typeof value === 'string') expect(parsed.raw).toBe(value.slice(0, 64 * 1024));
    }
  });

  it('routes an event time outside years 0000-9999 to errors/, filed by append time', () => {
    const line = encodeRecord(rec(5, '{"ok":true}', 1e16));
    expect(line.zone).toBe('errors');
    expect(line.hour).toBe('year=2025/month=06/day=01/hour=12');
    expect(JSON.parse(line.line.toString()).reason).toMatch(/event time out of range/);
  });
});

describe('hourPrefixes', () => {
  it('takes whole years, months and days as one prefix each', () => {
    expect(hourPrefixes('raw', 't', Date.UTC(2024, 11, 31, 23), Date.UTC(2026, 2, 2, 1))).toEqual([
      'raw/t/year=2024/month=12/day=31/hour=23/',
      'raw/t/year=2025/',
      'raw/t/year=2026/month=01/',
      'raw/t/year=2026/month=02/',
      'raw/t/year=2026/month=03/day=01/',
      'raw/t/year=2026/month=03/day=02/hour=00/',
    ]);
  });
});
