import { afterEach, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { parquetMetadata, parquetReadObjects, parquetSchema } from 'hyparquet';
import type { ObjectStore } from '@strata/storage';
import { devicePseudonym } from './pseudonym.js';
import { TABLES } from './tables.js';
import { event, openTestLake, putRaw, type TestLake } from './test-support.js';

const DAY = '2026-11-20';
const at = (hhmm: string, day = DAY) => `${day}T${hhmm}:00.000Z`;

let lakes: TestLake[] = [];
afterEach(async () => {
  await Promise.all(lakes.map((t) => t.close()));
  lakes = [];
});

async function testLake(...args: Parameters<typeof openTestLake>): Promise<TestLake> {
  const t = await openTestLake(...args);
  lakes.push(t);
  return t;
}

/** Every table's rows, sorted, as JSON-safe objects: what a user querying the lake sees. */
async function dump(t: TestLake): Promise<Record<string, Array<Record<string, unknown>>>> {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  await conn.run(`SET TimeZone = 'UTC'`);
  const out: Record<string, Array<Record<string, unknown>>> = {};
  for (const { spec, paths } of await t.lake.tables('admin')) {
    if (paths.length === 0) {
      out[spec.view] = [];
      continue;
    }
    const cols = [...spec.columns.map(([c]) => `"${c}"`), 'dt'].join(', ');
    const reader = await conn.runAndReadAll(`SELECT ${cols} FROM read_parquet([${paths.map((p) => `'${p}'`).join(', ')}], hive_partitioning = true) ORDER BY ALL`);
    out[spec.view] = reader.getRowObjectsJson() as Array<Record<string, unknown>>;
  }
  conn.closeSync();
  db.closeSync();
  return out;
}

describe('bronze', () => {
  it('types events into long rows, normalises units and keeps the raw key', async () => {
    const t = await testLake();
    const key = await putRaw(t.store, at('10:00'), '0-0-1', [
      event('e1', 'm-1', at('10:00'), { temperature: 212, rpm: 1500 }, { tags: { 'unit.temperature': 'F' } }),
      event('e2', 'p-1', at('10:05'), { spo2: 0.97, body_temp: 310.15 }, { tags: { 'unit.spo2': '/', 'unit.body_temp': 'K' } }),
    ]);
    const s = await t.lake.run({ layers: ['bronze'] });
    expect(s.layers[0]).toMatchObject({ layer: 'bronze', objectsRead: 1, rowsRead: 2, rowsWritten: 4, quarantined: 0, duplicates: 0, partitions: [DAY] });
    const { bronze } = await dump(t);
    expect(bronze).toEqual([
      { event_id: 'e1', device_id: 'm-1', ts: '2026-11-20 10:00:00+00', metric: 'rpm', value: 1500, unit: null, received_at: '2026-11-20 10:00:00+00', source: 'http', raw_key: key, dt: DAY },
      { event_id: 'e1', device_id: 'm-1', ts: '2026-11-20 10:00:00+00', metric: 'temperature', value: 100, unit: 'Cel', received_at: '2026-11-20 10:00:00+00', source: 'http', raw_key: key, dt: DAY },
      { event_id: 'e2', device_id: 'p-1', ts: '2026-11-20 10:05:00+00', metric: 'body_temp', value: expect.closeTo(37, 9), unit: 'Cel', received_at: '2026-11-20 10:05:00+00', source: 'http', raw_key: key, dt: DAY },
      { event_id: 'e2', device_id: 'p-1', ts: '2026-11-20 10:05:00+00', metric: 'spo2', value: 97, unit: '%', received_at: '2026-11-20 10:05:00+00', source: 'http', raw_key: key, dt: DAY },
    ]);
  });

  it('never duplicates an event: within an object, across objects, across runs, after a replay', async () => {
    const t = await testLake();
    const e1 = event('e1', 'm-1', at('10:00'), { temperature: 70 });
    const e2 = event('e2', 'm-1', at('10:01'), { temperature: 71 });
    await putRaw(t.store, at('10:00'), '0-0-2', [e1, e2, e1]);
    await putRaw(t.store, at('10:00'), '1-0-0', [e2]); // the same event delivered twice
    expect((await t.lake.run()).layers[0]).toMatchObject({ rowsRead: 4, rowsWritten: 2, duplicates: 2 });
    // A replay re-publishes old events: new raw objects, same ids.
    await putRaw(t.store, at('10:00'), '0-3-5', [e1, e2, event('e3', 'm-1', at('10:02'), { temperature: 72 })]);
    expect((await t.lake.run()).layers[0]).toMatchObject({ rowsRead: 3, rowsWritten: 1, duplicates: 2 });
    // Running again reads nothing new and changes nothing.
    const before = await dump(t);
    expect((await t.lake.run()).layers.map((l) => l.rowsRead)).toEqual([0, 0, 0]);
    expect(await dump(t)).toEqual(before);
    expect(before.bronze!.map((r) => r.event_id)).toEqual(['e1', 'e2', 'e3']);
    expect(before.silver).toHaveLength(3);
    expect(t.lake.stats()).toMatchObject({ runs: 3, failedRuns: 0, rowsWritten: { bronze: 3, silver: 5 }, duplicates: 4, quarantined: 0 });
  });

  it('keeps events of different devices, or of one device at different times, that share an id', async () => {
    const t = await testLake();
    await putRaw(t.store, at('10:00'), '0-0-1', [event('42', 'pump-1', at('10:00'), { rpm: 1 }), event('42', 'pump-2', at('10:00'), { rpm: 2 })]);
    await t.lake.run({ layers: ['bronze'] });
    // pump-1 rebooted and counts from 42 again; pump-2's event is delivered a second time.
    await putRaw(t.store, at('10:00'), '0-2-3', [event('42', 'pump-1', at('10:30'), { rpm: 3 }), event('42', 'pump-2', at('10:00'), { rpm: 2 })]);
    expect((await t.lake.run({ layers: ['bronze'] })).layers[0]).toMatchObject({ rowsWritten: 1, duplicates: 1 });
    expect((await dump(t)).bronze!.map((r) => [r.device_id, r.value])).toEqual([['pump-1', 1], ['pump-1', 3], ['pump-2', 2]]);
  });

  it('quarantines every kind of bad input with its reason, and keeps the good rest', async () => {
    const t = await testLake();
    const good = event('ok', 'm-1', at('10:00'), { temperature: 70 });
    const key = await putRaw(t.store, at('10:00'), '0-0-20', [
      good,
      '{"id":"broken", ',
      '[1,2,3]',
      JSON.stringify({ ...good, id: 42 }),
      JSON.stringify({ ...good, id: 'm', metrics: [1] }),
      JSON.stringify({ ...good, id: 't', tags: { kind: 3 } }),
      JSON.stringify({ ...good, id: 'half', metrics: { temperature: 'hot', rpm: 1200 } }),
      '{"id":"twice","device":"m-1","ts":"2026-11-20T10:00:00.000Z","metrics":{"t":1,"t":2},"received_at":"2026-11-20T10:00:00.000Z","source":"http"}',
      '{"id":"surrogate","device":"m-1","ts":"2026-11-20T10:00:00.000Z","metrics":{"t":1},"tags":{"x":"\\ud800"},"received_at":"2026-11-20T10:00:00.000Z","source":"http"}',
      JSON.stringify({ ...good, id: 'none', metrics: { temperature: null } }),
      JSON.stringify({ ...good, id: 'bad id!' }),
      JSON.stringify({ ...good, id: 'nodev', device: undefined }),
      JSON.stringify({ ...good, id: 'badts', ts: 'yesterday' }),
      JSON.stringify({ ...good, id: 'oldts', ts: '1999-12-31T23:59:59.000Z' }),
      JSON.stringify({ ...good, id: 'badrecv', received_at: 'soon' }),
      JSON.stringify({ ...good, id: 'empty', metrics: {} }),
      JSON.stringify({ ...good, id: 'badname', metrics: { 'a b': 1 } }),
      '{"id":"huge","device":"m-1","ts":"2026-11-20T10:00:00.000Z","metrics":{"t":1e400},"received_at":"2026-11-20T10:00:00.000Z","source":"http"}',
    ]);
    const notUtf8 = `raw/telemetry/year=2026/month=11/day=20/hour=10/telemetry-1-0-0.ndjson.gz`;
    await t.store.put(notUtf8, gzipSync(Buffer.concat([Buffer.from('{"id":"x\xff'), Buffer.from([0xff, 0xfe]), Buffer.from('"}\n')])));
    const notGzip = `raw/telemetry/year=2026/month=11/day=20/hour=10/telemetry-2-0-0.ndjson.gz`;
    await t.store.put(notGzip, Buffer.from('plain text, not gzip'));
    await putRaw(t.store, at('10:00'), '3-7-7', [JSON.stringify({ offset: 7, partition: 3, reason: 'value is not valid UTF-8', raw: '\ufffd' })], 'errors');
    await t.store.put('errors/telemetry/year=2026/month=11/day=20/hour=10/telemetry-3-8-8.ndjson.gz', Buffer.from('not gzip'));

    const s = await t.lake.run({ layers: ['bronze'] });
    const { bronze, quarantine } = await dump(t);
    // What DuckDB's typed reader can read as an event is read the same way in a bad object as in
    // a good one: a numeric id or tag becomes its text.
    expect(bronze!.map((r) => `${r.event_id}/${r.metric}`)).toEqual(['42/temperature', 'ok/temperature', 't/temperature']);
    const reasons = quarantine!.map((r) => [r.event_id ?? r.raw, r.reason]);
    expect(reasons).toEqual(expect.arrayContaining([
      ['{"id":"broken", ', expect.stringMatching(/^invalid JSON/)],
      ['[1,2,3]', 'not a JSON object'],
      [expect.stringContaining('"metrics":[1]'), expect.stringMatching(/^not readable as an event: /)],
      [expect.stringContaining('"id":"half"'), expect.stringMatching(/^not readable as an event: .*hot/)],
      ['none', 'metric value is null or out of range'],
      ['bad id!', 'invalid or missing event id'],
      ['nodev', 'invalid or missing device id'],
      ['badts', 'invalid or missing event time: yesterday'],
      ['oldts', 'invalid or missing event time: 1999-12-31T23:59:59.000Z'],
      ['badrecv', 'invalid or missing received_at: soon'],
      ['empty', 'no metrics'],
      ['badname', 'invalid metric name'],
      ['twice', 'duplicate metric name'],
      ['huge', 'metric value is null or out of range'],
      [expect.stringContaining('\\ud800'), expect.stringMatching(/^not readable as an event: /)],
      [expect.anything(), 'line is not valid UTF-8'],
      ['', expect.stringMatching(/^object is not readable gzip/)],
      ['\ufffd', 'delivery: value is not valid UTF-8'],
      ['', expect.stringMatching(/^delivery errors object is not readable/)],
    ]));
    expect(quarantine).toHaveLength(19);
    expect(s.layers[0]!.quarantined).toBe(19);
    expect(quarantine!.find((r) => r.event_id === 'none')).toMatchObject({ raw_key: key, device_id: 'm-1' });
    // Nothing is read twice: the objects are done, even the ones that were all bad.
    expect((await t.lake.run({ layers: ['bronze'] })).layers[0]!.objectsRead).toBe(0);
  });
});

describe('silver and gold', () => {
  it('pseudonymises devices, joins metadata and flags late events and outliers', async () => {
    const t = await testLake({ lateAfterMs: 60 * 60_000 });
    t.devices.push({ id: 'm-1', kind: 'machine', site: 'lyon', model: 'PX-2', sampleIntervalSeconds: 60 });
    const events = Array.from({ length: 30 }, (_, i) => event(`e${i}`, 'm-1', at(`10:${String(i).padStart(2, '0')}`), { temperature: i === 17 ? 500 : 20 + (i % 3) }));
    events.push(event('late', 'm-1', at('10:45'), { temperature: 21 }, { received_at: at('13:00') }));
    await putRaw(t.store, at('10:00'), '0-0-30', events);
    await t.lake.run();
    const { silver } = await dump(t);
    const key = devicePseudonym(Buffer.alloc(32, 7), 'm-1');
    expect(new Set(silver!.map((r) => r.device_key))).toEqual(new Set([key]));
    expect(JSON.stringify(silver)).not.toContain('m-1');
    expect(silver![0]).toMatchObject({ kind: 'machine', site: 'lyon', model: 'PX-2', metric: 'temperature' });
    expect(silver!.filter((r) => r.is_outlier).map((r) => r.value)).toEqual([500]);
    expect(silver!.filter((r) => r.is_late).map((r) => r.ts)).toEqual(['2026-11-20 10:45:00+00']);
  });

  it('aggregates hourly and daily, with completeness against the nominal interval, and fleet KPIs', async () => {
    const t = await testLake();
    t.devices.push({ id: 'm-1', kind: 'machine', site: null, model: null, sampleIntervalSeconds: 60 });
    t.devices.push({ id: 'p-1', kind: 'patient', site: null, model: null, sampleIntervalSeconds: null });
    // m-1: every minute 10:00–10:59 except 10 missing; p-1: every 5 minutes 10:00–11:55, no gaps.
    const m1 = Array.from({ length: 60 }, (_, i) => i).filter((i) => i % 6 !== 5).map((i) => event(`m${i}`, 'm-1', at(`10:${String(i).padStart(2, '0')}`), { rpm: i }));
    const p1 = Array.from({ length: 24 }, (_, i) => event(`p${i}`, 'p-1', `${DAY}T${String(10 + Math.floor(i / 12)).padStart(2, '0')}:${String((i % 12) * 5).padStart(2, '0')}:00.000Z`, { heart_rate: 60 + i }));
    // s-1: hourly, 18 of the 24 hours of the day (00:30 to 23:30), no nominal interval.
    const s1 = Array.from({ length: 24 }, (_, h) => h).filter((h) => h % 4 !== 1).map((h) => event(`s${h}`, 's-1', `${DAY}T${String(h).padStart(2, '0')}:30:00.000Z`, { level: h }));
    await putRaw(t.store, at('10:00'), '0-0-83', [...m1, ...p1, ...s1]);
    await t.lake.run();
    const { gold_hourly, gold_daily, gold_fleet_daily } = await dump(t);
    const mk = devicePseudonym(Buffer.alloc(32, 7), 'm-1');
    const pk = devicePseudonym(Buffer.alloc(32, 7), 'p-1');
    expect(gold_hourly!.filter((r) => r.device_key === pk).map((r) => [r.hour, r.count, r.min, r.max])).toEqual([
      ['2026-11-20 10:00:00+00', '12', 60, 71],
      ['2026-11-20 11:00:00+00', '12', 72, 83],
    ]);
    const m = gold_daily!.find((r) => r.device_key === mk)!;
    expect(m).toMatchObject({ kind: 'machine', metric: 'rpm', day: DAY, count: '50', expected: '59', completeness: 50 / 59, min: 0, max: 58 });
    expect(m.p50).toBeCloseTo(29, 6);
    const p = gold_daily!.find((r) => r.device_key === pk)!;
    expect(p).toMatchObject({ count: '24', expected: '24', completeness: 1, mean: 71.5 });
    const sk = devicePseudonym(Buffer.alloc(32, 7), 's-1');
    expect(gold_daily!.find((r) => r.device_key === sk)).toMatchObject({ count: '18', expected: '24', completeness: 0.75 });
    expect(gold_fleet_daily).toEqual([
      expect.objectContaining({ kind: 'machine', devices: '1', samples: '50', mean_completeness: 50 / 59 }),
      expect.objectContaining({ kind: 'patient', devices: '1', samples: '24', mean_completeness: 1 }),
      expect.objectContaining({ kind: null, devices: '1', samples: '18', mean_completeness: 0.75 }),
    ]);
  });

  it('late data rebuilds only the days it touches; a new metric flows through', async () => {
    const t = await testLake();
    await putRaw(t.store, at('10:00'), '0-0-0', [event('a', 'm-1', at('10:00'), { rpm: 1 })]);
    await putRaw(t.store, at('10:00', '2026-11-21'), '0-1-1', [event('b', 'm-1', at('10:00', '2026-11-21'), { rpm: 2 })]);
    await t.lake.run();
    // A late event for the 20th, with a metric never seen before.
    await putRaw(t.store, at('11:00'), '0-2-2', [event('c', 'm-1', at('11:00'), { rpm: 3, torque: 9.5 })]);
    const s = await t.lake.run();
    expect(s.layers.map((l) => [l.layer, l.partitions])).toEqual([['bronze', [DAY]], ['silver', [DAY]], ['gold', [DAY]]]);
    const { gold_daily } = await dump(t);
    expect(gold_daily!.map((r) => [r.day, r.metric, r.count]).sort()).toEqual([[DAY, 'rpm', '2'], [DAY, 'torque', '1'], ['2026-11-21', 'rpm', '1']]);
  });
});

describe('commits and crashes', () => {
  /** A store whose manifest puts fail while `failing` is true: a crash between writing files and committing. */
  function failingManifests(store: ObjectStore): { store: ObjectStore; fail: (on: boolean) => void } {
    let failing = false;
    const wrapped: ObjectStore = Object.create(store);
    wrapped.put = async (key, body, opts) => {
      if (failing && key.startsWith('_state/lake/')) throw new Error('crash before commit');
      return store.put(key, body, opts);
    };
    return { store: wrapped, fail: (on) => (failing = on) };
  }

  it('a crash before any layer commits leaves the same tables as a clean run once rerun', async () => {
    const raws = [
      [event('a', 'm-1', at('10:00'), { rpm: 1 }), event('b', 'm-2', at('10:01'), { rpm: 2 })],
      [event('b', 'm-2', at('10:01'), { rpm: 2 }), event('c', 'm-1', at('23:59'), { rpm: 3 }), 'garbage'],
    ];
    const clean = await testLake();
    for (const [i, lines] of raws.entries()) await putRaw(clean.store, at('10:00'), `0-${i}-${i}`, lines);
    await clean.lake.run();

    const t = await testLake();
    for (const [i, lines] of raws.entries()) await putRaw(t.store, at('10:00'), `0-${i}-${i}`, lines);
    const { store, fail } = failingManifests(t.store);
    const { Lakehouse } = await import('./lakehouse.js');
    const crashing = await Lakehouse.open({ store, stagingDir: `${t.dir}/staging2`, pseudonymKey: Buffer.alloc(32, 7), devices: async () => t.devices });
    fail(true);
    await expect(crashing.run()).rejects.toThrow('crash before commit');
    await crashing.close();
    // Files were written, nothing was committed: the tables are still empty.
    const written = [];
    for await (const o of t.store.list('bronze/')) written.push(o.key);
    expect(written.length).toBeGreaterThan(0);
    expect((await dump(t)).bronze).toEqual([]);

    await t.lake.run();
    expect(await dump(t)).toEqual(await dump(clean));
    const left = [];
    for await (const o of t.store.list('bronze/')) left.push(o.key);
    expect(left).toHaveLength(1); // the crashed run's files are gone
  });

  it('a crash between layers keeps what committed and finishes on the rerun', async () => {
    const t = await testLake();
    await putRaw(t.store, at('10:00'), '0-0-1', [event('a', 'm-1', at('10:00'), { rpm: 1 }), event('b', 'm-1', at('10:01'), { rpm: 2 })]);
    await t.lake.run({ layers: ['bronze'] });
    const s = await t.lake.run();
    expect(s.layers.map((l) => l.rowsWritten)).toEqual([0, 2, 3]); // gold: one hourly, one daily, one fleet row
    expect((await dump(t)).gold_daily).toHaveLength(1);
  });

  it('compacts a day of many small files into one, rows unchanged', async () => {
    const t = await testLake({ maxFilesPerPartition: 2 });
    for (let i = 0; i < 3; i++) {
      await putRaw(t.store, at('10:00'), `0-${i}-${i}`, [event(`e${i}`, 'm-1', at(`10:0${i}`), { rpm: i })]);
      await t.lake.run({ layers: ['bronze'] });
    }
    const bronze = (await t.lake.tables('admin')).find((x) => x.spec.view === 'bronze')!;
    expect(bronze.paths).toHaveLength(1);
    expect((await dump(t)).bronze!.map((r) => r.event_id)).toEqual(['e0', 'e1', 'e2']);
  });

  it('compacts an over-full day even when the run brings it nothing new (left so by an earlier run)', async () => {
    const t = await testLake();
    for (let i = 0; i < 3; i++) {
      await putRaw(t.store, at('10:00'), `0-${i}-${i}`, [event(`e${i}`, 'm-1', at(`10:0${i}`), { rpm: i })]);
      await t.lake.run({ layers: ['bronze'] });
    }
    const bronzeFiles = async () => (await t.lake.tables('admin')).find((x) => x.spec.view === 'bronze')!.paths;
    expect(await bronzeFiles()).toHaveLength(3);
    await t.lake.close();
    const { Lakehouse } = await import('./lakehouse.js');
    t.lake = await Lakehouse.open({ store: t.store, stagingDir: `${t.dir}/staging`, pseudonymKey: Buffer.alloc(32, 7), devices: async () => [], settings: { maxFilesPerPartition: 2 } });
    expect((await t.lake.run({ layers: ['bronze'] })).layers[0]!.objectsRead).toBe(0);
    expect(await bronzeFiles()).toHaveLength(1);
    expect((await dump(t)).bronze!.map((r) => r.event_id)).toEqual(['e0', 'e1', 'e2']);
  });

  it('drops day partitions past retention', async () => {
    let now = Date.parse('2026-11-24T12:00:00Z');
    const t = await testLake({ retentionDays: { bronze: 4, quarantine: 4, silver: 5, gold: 0 } }, () => now);
    await putRaw(t.store, at('10:00'), '0-0-0', [event('old', 'm-1', at('10:00'), { rpm: 1 })]);
    await putRaw(t.store, at('10:00', '2026-11-24'), '0-1-1', [event('new', 'm-1', at('10:00', '2026-11-24'), { rpm: 2 })]);
    expect((await t.lake.run()).layers.map((l) => l.dropped)).toEqual([[], [], []]);
    now = Date.parse('2026-11-25T12:00:00Z');
    const s = await t.lake.run();
    expect(s.layers.map((l) => [l.layer, l.dropped])).toEqual([['bronze', [DAY]], ['silver', []], ['gold', []]]);
    const d = await dump(t);
    expect(d.bronze!.map((r) => r.event_id)).toEqual(['new']);
    expect(d.silver).toHaveLength(2); // silver keeps 5 days, and is not rebuilt for a day bronze dropped
    expect(d.gold_daily).toHaveLength(2);
    now = Date.parse('2026-12-01T00:00:00Z');
    expect((await t.lake.run()).layers.map((l) => l.dropped)).toEqual([['2026-11-24'], [DAY, '2026-11-24'], []]);
    // Late data for a day bronze no longer keeps is quarantined (and counted), not written and dropped.
    await putRaw(t.store, at('10:00'), '0-2-2', [event('later', 'm-1', at('10:05'), { rpm: 3 })]);
    now = Date.parse('2026-12-01T00:00:00Z');
    expect((await t.lake.run({ layers: ['bronze'] })).layers[0]).toMatchObject({ rowsWritten: 0, quarantined: 1 });
    expect(t.lake.stats().quarantined).toBe(1);
  });
});

describe('files', () => {
  it('are Hive-partitioned Parquet that an independent reader (hyparquet) reads with the expected schema and rows', async () => {
    const t = await testLake();
    await putRaw(t.store, at('10:00'), '0-0-2', [event('a', 'm-1', at('10:00'), { rpm: 1, temp: 2 }), event('b', 'p-1', at('11:00'), { spo2: 97 })]);
    await putRaw(t.store, at('10:00'), '0-0-0', [event('c', 'm-1', at('10:00'), { failure_probability: 0.7, failure_predicted: 1 }, { tags: { 'ml.model': 'pm@3', 'ml.top': 'rpm,temp' } })], 'raw', 'predictions');
    await t.lake.run();
    for (const { spec, paths } of await t.lake.tables('admin')) {
      if (spec.view === 'quarantine' || spec.view === 'predictions_quarantine') continue;
      expect(paths.length, spec.view).toBe(1);
      expect(paths[0]).toMatch(new RegExp(`/${spec.prefix}/dt=${DAY}/part-[^/]+\\.parquet$`));
      const buf = await readFile(paths[0]!);
      const file = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
      const meta = parquetMetadata(file);
      expect(parquetSchema(meta).children.map((c) => c.element.name), spec.view).toEqual(spec.columns.map(([c]) => c));
      const rowsRead = await parquetReadObjects({ file });
      expect(rowsRead.length).toBe(Number(meta.num_rows));
      if (spec.view === 'bronze') expect(rowsRead.map((r) => r.metric).sort()).toEqual(['rpm', 'spo2', 'temp']);
      if (spec.view === 'gold_daily') expect(rowsRead).toHaveLength(3);
      if (spec.view === 'predictions') expect(rowsRead).toMatchObject([{ event_id: 'c', model: 'pm@3', probability: 0.7, predicted: true, top_features: ['rpm', 'temp'] }]);
    }
  });

  it('analysts are offered silver and gold only', async () => {
    const t = await testLake();
    expect((await t.lake.tables('analyst')).map((x) => x.spec.view)).toEqual(TABLES.filter((s) => s.layer !== 'bronze').map((s) => s.view));
  });
});

describe('series', () => {
  it('buckets one device metric from silver over the days of the range only', async () => {
    const t = await testLake();
    await putRaw(t.store, at('10:00'), '0-0-3', [
      event('a', 'm-1', at('10:00'), { rpm: 1 }),
      event('b', 'm-1', at('10:20'), { rpm: 3 }),
      event('c', 'm-1', at('11:10'), { rpm: 5, temp: 9 }),
      event('d', 'm-2', at('10:10'), { rpm: 100 }),
    ]);
    await t.lake.run({ layers: ['bronze', 'silver'] });
    const buckets = await t.lake.series({ device: 'm-1', metric: 'rpm', from: new Date(at('09:00')), to: new Date(at('11:10')), stepSeconds: 3600 });
    expect(buckets).toEqual([{ start: new Date(at('10:00')), count: 2, min: 1, max: 3, sum: 4, sumSq: 10 }]);
    expect(await t.lake.series({ device: 'm-1', metric: 'rpm', from: new Date('2026-11-21T00:00:00Z'), to: new Date('2026-11-22T00:00:00Z'), stepSeconds: 60 })).toEqual([]);
  });
});

describe('telemetry', () => {
  /** All chunks of a read as rows `[device, ts, metric, value]`, ids and names resolved. */
  async function readAll(t: TestLake, q: Parameters<TestLake['lake']['telemetry']>[0]) {
    const res = await t.lake.telemetry(q);
    const out: Array<[string, string, string, number]> = [];
    let chunks = 0;
    for await (const c of res.chunks) {
      chunks++;
      for (let i = 0; i < c.length; i++) out.push([q.devices[c.device[i]!]!, new Date(c.ts[i]!).toISOString(), q.metrics[c.metric[i]!]!, c.value[i]!]);
    }
    return { ...res, out, chunks };
  }

  it('streams the named devices\' metrics from silver by device, time and metric, within the range, counting other devices', async () => {
    const t = await testLake();
    const day2 = '2026-11-21';
    await putRaw(t.store, at('10:00'), '0-0-5', [
      event('b', 'm-2', at('10:00'), { volt: 2.5, temp: 9 }),
      event('a2', 'm-1', at('11:00'), { volt: 0.1 + 0.2, rotate: 7 }),
      event('a1', 'm-1', at('10:00'), { rotate: 1, volt: -1e-300 }),
      event('x', 'other', at('10:30'), { volt: 1 }),
      event('y', 'other2', at('10:30'), { temp: 1 }),
    ]);
    await putRaw(t.store, at('10:00', day2), '0-6-6', [event('c', 'm-1', at('10:00', day2), { volt: 4 })]);
    await t.lake.run({ layers: ['bronze', 'silver'] });

    const all = await readAll(t, { devices: ['m-1', 'm-2', 'm-3'], metrics: ['volt', 'rotate'] });
    expect(all.out).toEqual([
      ['m-1', at('10:00'), 'volt', -1e-300],
      ['m-1', at('10:00'), 'rotate', 1],
      ['m-1', at('11:00'), 'volt', 0.1 + 0.2],
      ['m-1', at('11:00'), 'rotate', 7],
      ['m-1', at('10:00', day2), 'volt', 4],
      ['m-2', at('10:00'), 'volt', 2.5],
    ]);
    // m-3 has nothing; `other` has a volt row, `other2` only a metric not asked for.
    expect([all.rows, all.otherDevices, all.otherRows]).toEqual([[5, 1, 0], 1, 1]);

    const range = await readAll(t, { devices: ['m-2', 'm-1'], metrics: ['volt'], from: new Date(at('10:30')), to: new Date(at('10:00', day2)) });
    expect(range.out).toEqual([['m-1', at('11:00'), 'volt', 0.1 + 0.2]]);
    expect(range.rows).toEqual([0, 1]);
    expect((await readAll(t, { devices: ['m-1'], metrics: ['volt'], from: new Date('2026-11-25T00:00:00Z') })).out).toEqual([]);
  });

  it('comes in several chunks, still in order', async () => {
    const t = await testLake();
    const n = 3000;
    const events = Array.from({ length: n }, (_, i) => event(`e${i}`, `m-${i % 2}`, new Date(Date.parse(at('00:00')) + (n - i) * 1000).toISOString(), { v: i }));
    await putRaw(t.store, at('00:00'), '0-0-2999', events);
    await t.lake.run({ layers: ['bronze', 'silver'] });
    const res = await readAll(t, { devices: ['m-0', 'm-1'], metrics: ['v'] });
    expect(res.chunks).toBeGreaterThan(1);
    expect(res.out).toHaveLength(n);
    const keys = res.out.map(([d, ts]) => `${d} ${ts}`);
    expect(keys).toEqual([...keys].sort());
  });
});

describe('one runner', () => {
  it('refuses a second lakehouse on the same staging directory until the first closes', async () => {
    const t = await testLake();
    const { Lakehouse } = await import('./lakehouse.js');
    const second = () => Lakehouse.open({ store: t.store, stagingDir: `${t.dir}/staging`, pseudonymKey: Buffer.alloc(32), devices: async () => [] });
    await expect(second()).rejects.toMatchObject({ code: 'STRATA_ERR_LAKE_LOCKED' });
    await t.lake.close();
    const other = await second();
    await other.close();
  });
});
