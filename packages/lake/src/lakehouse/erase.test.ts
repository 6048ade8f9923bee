import { afterEach, describe, expect, it } from 'vitest';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { ObjectStore } from '@strata/storage';
import { hourPath } from '../delivery/layout.js';
import { eraseDevices, type EraseReport } from './erase.js';
import { devicePseudonym } from './pseudonym.js';
import { event, openTestLake, putRaw, type TestEvent, type TestLake } from './test-support.js';
import type { DeviceMeta, LakeOptions } from './types.js';

const GONE = 'erase-me-7';
const KEEP = ['keep-a', 'keep-b'];
const DAYS = ['2026-11-20', '2026-11-21'];
const NOW = Date.parse('2026-11-22T12:00:00Z');
const KEY = Buffer.alloc(32, 7); // test-support's pseudonym key
const GONE_KEY = devicePseudonym(KEY, GONE);
const META: DeviceMeta[] = [
  { id: GONE, kind: 'patient-monitor', site: 'ward-3', model: 'pm-1', sampleIntervalSeconds: null },
  { id: 'keep-a', kind: 'patient-monitor', site: 'ward-3', model: 'pm-1', sampleIntervalSeconds: 300 },
  { id: 'keep-b', kind: 'pump', site: 'plant', model: null, sampleIntervalSeconds: null },
];

let lakes: TestLake[] = [];
let now = NOW;
afterEach(async () => {
  await Promise.all(lakes.map((t) => t.close()));
  lakes = [];
  now = NOW;
});

async function testLake(extra: Partial<LakeOptions> = {}, settings = {}): Promise<TestLake> {
  const t = await openTestLake(settings, () => now, extra);
  t.devices.push(...META);
  lakes.push(t);
  return t;
}

type Line = TestEvent | string;
interface RawObject {
  zone: 'raw' | 'errors';
  topic: string;
  hourOf: string;
  name: string;
  lines: Line[];
}

/** Whether a line is the erased device's (the test's own knowledge, not the code's rule). */
const isGone = (l: Line) => (typeof l === 'string' ? l.includes(GONE) : l.device === GONE);

/**
 * Three devices over two days: telemetry in objects mixing devices, one object of the erased
 * device alone, bad lines of it and of others (quarantine), delivery errors/ lines, alert events;
 * and a findings object (not device data).
 */
function fixture(): RawObject[] {
  const objects: RawObject[] = [];
  for (const day of DAYS) {
    for (const hour of ['10', '11']) {
      const mixed: Line[] = [];
      const pump: Line[] = [];
      for (let i = 0; i < 12; i++) {
        const ts = `${day}T${hour}:${String(i * 5).padStart(2, '0')}:00.000Z`;
        mixed.push(event(`g-${day}-${hour}-${i}`, GONE, ts, { hr: 70 + ((i * 7) % 11), spo2: 95 + (i % 4) }));
        mixed.push(event(`a-${day}-${hour}-${i}`, 'keep-a', ts, { hr: 60 + ((i * 5) % 13), spo2: 97 - (i % 3) }));
        pump.push(event(`b-${day}-${hour}-${i}`, 'keep-b', ts, { temperature: 150 + i, rpm: 1400 + 10 * i }, { tags: { 'unit.temperature': 'F' } }));
      }
      if (day === DAYS[0] && hour === '10') {
        mixed.push(
          JSON.stringify(event('g-bad-value', GONE, `${day}T10:30:30.000Z`, { hr: 'high' })), // refused by the typed reader: device unknown to SQL
          JSON.stringify(event('g-no-metrics', GONE, `${day}T10:31:00.000Z`, {})), // refused event: device_id set
          `{"id":"g-cut","device":"${GONE}","ts":"${day}T10:3`, // not JSON
          JSON.stringify(event('a-bad-ts', 'keep-a', 'yesterday', { hr: 1 })),
          `{"id":"a-cut","device":"keep-a","ts":"${day}T10:3`,
        );
      }
      objects.push({ zone: 'raw', topic: 'telemetry', hourOf: `${day}T${hour}:00:00Z`, name: `0-${day}-${hour}`, lines: mixed });
      objects.push({ zone: 'raw', topic: 'telemetry', hourOf: `${day}T${hour}:00:00Z`, name: `1-${day}-${hour}`, lines: pump });
    }
  }
  objects.push({
    zone: 'raw', topic: 'telemetry', hourOf: `${DAYS[1]}T12:00:00Z`, name: '2-0-2',
    lines: [0, 1, 2].map((i) => event(`g-alone-${i}`, GONE, `${DAYS[1]}T12:0${i}:00.000Z`, { hr: 80 + i })),
  });
  objects.push({
    zone: 'errors', topic: 'telemetry', hourOf: `${DAYS[0]}T10:00:00Z`, name: '3-7-8',
    lines: [
      JSON.stringify({ offset: 7, partition: 3, reason: 'event time out of range', raw: JSON.stringify(event('g-far', GONE, '+010000-01-01T00:00:00.000Z', { hr: 1 })) }),
      JSON.stringify({ offset: 8, partition: 3, reason: 'value is not valid UTF-8', raw: '{"id":"b-x","device":"keep-b"\ufffd' }),
    ],
  });
  const alert = (id: string, device: string) => JSON.stringify({ id, type: 'opened', alert_id: `al-${id}`, rule_id: 'r1', rule_version: 1, device, device_kind: 'patient-monitor', severity: 'high', status: 'open', title: 'HR high', metric: 'hr', value: 130, count: 1, ts: `${DAYS[0]}T10:00:00.000Z`, opened_at: `${DAYS[0]}T10:00:00.000Z` });
  objects.push({ zone: 'raw', topic: 'alerts', hourOf: `${DAYS[0]}T10:00:00Z`, name: '0-0-1', lines: [alert('al-1', GONE), alert('al-2', 'keep-a')] });
  objects.push({ zone: 'raw', topic: 'findings', hourOf: `${DAYS[0]}T10:00:00Z`, name: '0-0-0', lines: ['{"finding":"s3 bucket public","account":"123"}'] });
  return objects;
}

async function putObjects(store: ObjectStore, objects: RawObject[]): Promise<void> {
  for (const o of objects) {
    const key = `${o.zone}/${o.topic}/${hourPath(Date.parse(o.hourOf))}/${o.topic}-${o.name}.ndjson.gz`;
    if (o.topic === 'telemetry') await putRaw(store, o.hourOf, o.name, o.lines, o.zone);
    else await store.put(key, gzipSync(o.lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n'));
  }
}

/** The fixture as if the erased device had never sent anything. */
const withoutGone = (objects: RawObject[]) => objects.map((o) => ({ ...o, lines: o.lines.filter((l) => !isGone(l)) })).filter((o) => o.lines.length > 0);

type Row = Record<string, unknown>;

/** Doubles to 12 significant digits: sums in another order differ in the last bits. */
const round = (v: unknown) => (typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(12)) : v);

async function duck(): Promise<{ conn: DuckDBConnection; close: () => void }> {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  await conn.run(`SET TimeZone = 'UTC'`);
  return { conn, close: () => (conn.closeSync(), db.closeSync()) };
}

/** Every table's rows (through the manifests, as queries see them), sorted, doubles rounded. */
async function dump(t: TestLake): Promise<Record<string, Row[]>> {
  const { conn, close } = await duck();
  const out: Record<string, Row[]> = {};
  for (const { spec, paths } of await t.lake.tables('admin')) {
    if (paths.length === 0) {
      out[spec.view] = [];
      continue;
    }
    const cols = [...spec.columns.map(([c]) => `"${c}"`), 'dt'].join(', ');
    const reader = await conn.runAndReadAll(`SELECT ${cols} FROM read_parquet([${paths.map((p) => `'${p}'`).join(', ')}], hive_partitioning = true) ORDER BY ALL`);
    out[spec.view] = (reader.getRowObjectsJson() as Row[]).map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, round(v)])));
  }
  close();
  return out;
}

/** Rows of the erased device in a dump (by id, pseudonym, or the quarantined text). */
const gone = (r: Row) => r.device_id === GONE || r.device_key === GONE_KEY || (typeof r.raw === 'string' && r.raw.includes(GONE));

/**
 * Every file under the test's directory (the store and the staging directory) that mentions the
 * device, by id or pseudonym: gzip decompressed, Parquet read whole by DuckDB, anything else as text.
 */
async function filesMentioning(dir: string, needles: string[]): Promise<string[]> {
  const { conn, close } = await duck();
  const found: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    let text: string;
    if (entry.name.endsWith('.parquet')) {
      const reader = await conn.runAndReadAll(`SELECT string_agg(t::VARCHAR, '\n') AS s FROM read_parquet('${path}', hive_partitioning = false) t`);
      text = String(reader.getRowObjectsJS()[0]!.s ?? '');
    } else {
      const body = await readFile(path);
      text = (body[0] === 0x1f && body[1] === 0x8b ? gunzipSync(body) : body).toString('latin1');
    }
    if (needles.some((n) => text.includes(n))) found.push(path.slice(dir.length + 1));
  }
  close();
  return found.sort();
}

const ZERO: Omit<EraseReport, 'seconds'> = { rawObjectsRewritten: 0, rawRecordsRemoved: 0, bronzeFilesRewritten: 0, silverFilesRewritten: 0, quarantineFilesRewritten: 0, goldPartitionsRecomputed: 0, rowsRemoved: 0 };

describe('eraseDevices', () => {
  it('removes every record of the device from every object, keeps the rest, and gold equals a fresh build', async () => {
    const objects = fixture();
    const t = await testLake();
    await putObjects(t.store, objects);
    await t.lake.run();
    const before = await dump(t);

    // The scan sees the device everywhere before erasure (so it can see it after).
    const seen = await filesMentioning(t.dir, [GONE, GONE_KEY]);
    for (const where of ['lake/raw/telemetry/', 'lake/errors/telemetry/', 'lake/raw/alerts/', 'lake/bronze/', 'lake/quarantine/', 'lake/silver/', 'lake/gold/hourly/', 'lake/gold/daily/']) {
      expect(seen.some((p) => p.startsWith(where)), where).toBe(true);
    }
    for (const view of ['bronze', 'quarantine', 'silver', 'gold_hourly', 'gold_daily']) expect(before[view]!.filter(gone).length, view).toBeGreaterThan(0);
    // The quarantine holds the device's lines both with a device id and as text only.
    expect(before.quarantine!.filter((r) => gone(r) && r.device_id === null).length).toBeGreaterThan(0);

    await t.lake.close();
    const report = await eraseDevices(t.options, [GONE]);
    await t.reopen();

    const rawWithGone = objects.filter((o) => o.lines.some(isGone));
    const removedRows = ['bronze', 'quarantine', 'silver', 'gold_hourly', 'gold_daily'].reduce((n, v) => n + before[v]!.filter(gone).length, 0);
    expect(report).toMatchObject({
      rawObjectsRewritten: rawWithGone.length, // mixed telemetry, the device's own object (deleted), errors/, alerts
      rawRecordsRemoved: rawWithGone.reduce((n, o) => n + o.lines.filter(isGone).length, 0),
      goldPartitionsRecomputed: 2,
      rowsRemoved: removedRows,
    });
    expect(report.bronzeFilesRewritten).toBeGreaterThan(0);
    expect(report.silverFilesRewritten).toBeGreaterThan(0);
    expect(report.quarantineFilesRewritten).toBeGreaterThan(0);

    // Nothing of it anywhere: no object of the store, no file of the staging directory.
    expect(await filesMentioning(t.dir, [GONE, GONE_KEY])).toEqual([]);
    expect(await t.store.get(`raw/telemetry/${hourPath(Date.parse(`${DAYS[1]}T12:00:00Z`))}/telemetry-2-0-2.ndjson.gz`)).toBeUndefined();

    // Everything else is still there, row for row; the other raw lines byte for byte.
    const after = await dump(t);
    for (const view of ['bronze', 'quarantine', 'silver']) expect(after[view], view).toEqual(before[view]!.filter((r) => !gone(r)));
    for (const id of KEEP) expect(after.bronze!.filter((r) => r.device_id === id).length, id).toBe(before.bronze!.filter((r) => r.device_id === id).length);
    for (const o of withoutGone(objects)) {
      const body = (await t.store.get(`${o.zone}/${o.topic}/${hourPath(Date.parse(o.hourOf))}/${o.topic}-${o.name}.ndjson.gz`))!;
      expect(gunzipSync(body).toString()).toBe(o.lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n');
    }

    // The lake equals one built from scratch out of the same data without the device.
    const fresh = await testLake();
    await putObjects(fresh.store, withoutGone(objects));
    await fresh.lake.run();
    const rebuilt = await dump(fresh);
    expect(after).toEqual(rebuilt);
    expect(after.gold_fleet_daily!.map((r) => [r.kind, r.dt, Number(r.devices)])).toEqual([
      ['patient-monitor', DAYS[0], 1], ['patient-monitor', DAYS[1], 1], ['pump', DAYS[0], 1], ['pump', DAYS[1], 1],
    ]);

    // Erasing again finds nothing; the jobs have nothing to do and bring nothing back.
    expect(await t.lake.erase([GONE])).toMatchObject(ZERO);
    const run = await t.lake.run();
    expect(run.layers.map((l) => [l.layer, l.objectsRead, l.rowsRead, l.rowsWritten])).toEqual([['bronze', 0, 0, 0], ['silver', 0, 0, 0], ['gold', 0, 0, 0]]);
    expect(await dump(t)).toEqual(after);
    // Rebuilding silver and gold from bronze (metadata changed) gives the same tables.
    await t.lake.run({ since: Date.parse(DAYS[0]!) });
    expect(await dump(t)).toEqual(after);
    expect(await filesMentioning(t.dir, [GONE, GONE_KEY])).toEqual([]);
  });

  it('keeps erased devices out when their events come back (a re-delivery or replay from the stream)', async () => {
    const erased = new Set<string>();
    const t = await testLake({ erasedDevices: async () => erased });
    const objects = fixture().filter((o) => o.topic === 'telemetry' && o.hourOf.startsWith(DAYS[0]!));
    await putObjects(t.store, objects);
    await t.lake.run();
    erased.add(GONE);
    await t.lake.erase([GONE]);
    const after = await dump(t);

    // Delivery writes the stream's records again (offsets moved back): the device is in raw again.
    const again = objects.filter((o) => o.zone === 'raw').map((o) => ({ ...o, name: o.name.replace(/^(\d)-/, '$1-9') }));
    await putObjects(t.store, again);
    const run = await t.lake.run();
    const bronze = run.layers[0]!;
    expect(bronze.erased).toBe(again.reduce((n, o) => n + o.lines.filter(isGone).length, 0));
    expect(bronze.rowsWritten).toBe(0); // the others' events are duplicates
    const later = await dump(t);
    for (const view of ['bronze', 'silver', 'gold_hourly', 'gold_daily', 'gold_fleet_daily']) expect(later[view], view).toEqual(after[view]);
    expect(later.quarantine!.filter(gone)).toEqual([]); // (the others' bad lines are quarantined again: quarantine keeps every copy)
    const mentions = await filesMentioning(t.dir, [GONE, GONE_KEY]);
    expect(mentions.length).toBeGreaterThan(0);
    expect(mentions.every((p) => p.startsWith('lake/raw/telemetry/'))).toBe(true);
    // Erasing again cleans the raw zone; bronze had nothing.
    expect(await t.lake.erase([GONE])).toMatchObject({ ...ZERO, rawObjectsRewritten: again.filter((o) => o.lines.some(isGone)).length, rawRecordsRemoved: bronze.erased });
    expect(await filesMentioning(t.dir, [GONE, GONE_KEY])).toEqual([]);
  });

  it('removes the device from gold days whose silver has expired, recomputing their fleet row', async () => {
    // Silver keeps one day: a day later the first day's silver is dropped, its gold (kept forever) is not.
    now = NOW - 86_400_000;
    const t = await testLake({}, { retentionDays: { bronze: 90, quarantine: 90, silver: 1, gold: 0 } });
    const objects = fixture().filter((o) => o.topic === 'telemetry');
    await putObjects(t.store, objects);
    await t.lake.run();
    now = NOW;
    await t.lake.run({ layers: ['silver'] });
    const before = await dump(t);
    expect(before.silver!.some((r) => r.dt === DAYS[0])).toBe(false);
    expect(before.gold_daily!.some((r) => r.dt === DAYS[0] && r.device_key === GONE_KEY)).toBe(true);

    const report = await t.lake.erase([GONE]);
    expect(report.goldPartitionsRecomputed).toBe(2);
    const after = await dump(t);
    expect(await filesMentioning(join(t.dir, 'lake', 'gold'), [GONE_KEY])).toEqual([]);
    for (const view of ['gold_hourly', 'gold_daily']) expect(after[view], view).toEqual(before[view]!.filter((r) => !gone(r)));
    const fleet = (day: string, kind: string) => after.gold_fleet_daily!.find((r) => r.dt === day && r.kind === kind);
    const dailyOf = (day: string, kind: string) => after.gold_daily!.filter((r) => r.dt === day && r.kind === kind);
    expect(fleet(DAYS[0]!, 'patient-monitor')).toMatchObject({
      devices: '1', // BIGINTs come as text from DuckDB's JSON rows
      samples: String(dailyOf(DAYS[0]!, 'patient-monitor').reduce((n, r) => n + Number(r.count), 0)),
      mean_completeness: round(dailyOf(DAYS[0]!, 'patient-monitor').reduce((n, r) => n + (r.completeness as number), 0) / 2),
    });
    expect(fleet(DAYS[0]!, 'pump')).toEqual(before.gold_fleet_daily!.find((r) => r.dt === DAYS[0] && r.kind === 'pump'));
    expect(await t.lake.erase([GONE])).toMatchObject(ZERO);
  });

  it('takes the lake lock: refused while another lakehouse runs the jobs; bad ids are refused', async () => {
    const t = await testLake();
    await expect(eraseDevices(t.options, [GONE])).rejects.toMatchObject({ code: 'STRATA_ERR_LAKE_LOCKED' });
    await expect(t.lake.erase(['not an id'])).rejects.toMatchObject({ code: 'STRATA_ERR_LAKE_BAD_OPTION' });
    expect(await t.lake.erase([])).toMatchObject(ZERO);
  });
});
