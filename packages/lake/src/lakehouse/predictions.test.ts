import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { PREDICTION, PREDICTIONS_TOPIC } from '@strata/core';
import { openEmbeddedStream, type Stream } from '@strata/stream';
import { startDelivery } from '../delivery/delivery.js';
import { devicePseudonym } from './pseudonym.js';
import { LakeQuery } from './query.js';
import { event, openTestLake, putRaw, type TestLake } from './test-support.js';

const DAY = '2026-11-20';
const at = (hhmm: string, day = DAY) => `${day}T${hhmm}:00.000Z`;
const NOW = Date.parse(at('12:00'));

let lakes: TestLake[] = [];
let streams: Stream[] = [];
afterEach(async () => {
  await Promise.all(streams.map((s) => s.close()));
  await Promise.all(lakes.map((t) => t.close()));
  lakes = [];
  streams = [];
});

async function testLake(): Promise<TestLake> {
  const t = await openTestLake({}, () => NOW);
  lakes.push(t);
  return t;
}

/** A prediction as the scoring role publishes it. */
function prediction(id: string, device: string, ts: string, p: number, top?: string, extra: Record<string, unknown> = {}) {
  return event(id, device, ts, { failure_probability: p, failure_predicted: p >= 0.5 ? 1 : 0 }, { source: 'scoring', tags: { [PREDICTION.modelTag]: 'pm@3', ...(top !== undefined && { [PREDICTION.topTag]: top }) }, ...extra });
}

/** Publishes events to the `predictions` topic and lets delivery write them to raw/predictions/, as the platform does. */
async function deliver(t: TestLake, events: object[]): Promise<void> {
  const stream = await openEmbeddedStream({ dir: join(t.dir, 'stream') });
  streams.push(stream);
  await stream.ensureTopic(PREDICTIONS_TOPIC, { partitions: 2 });
  await stream.append(PREDICTIONS_TOPIC, events.map((e) => ({ key: (e as { device: string }).device, value: Buffer.from(JSON.stringify(e)), ts: Date.parse((e as { ts: string }).ts) })));
  const delivery = await startDelivery({ stream, store: t.store, topic: PREDICTIONS_TOPIC, flushBytes: 1 << 30, flushIntervalMs: 1 << 30, pollMs: 20 });
  await delivery.flush();
  await delivery.stop();
}

/** Rows of a view as an admin (or analyst) queries it. */
async function view(t: TestLake, name: string, role: 'admin' | 'analyst' = 'admin'): Promise<Array<Record<string, unknown>>> {
  const q = new LakeQuery(t.lake, { stagingDir: join(t.dir, 'staging') });
  try {
    return (await q.run(`SELECT * FROM ${name} ORDER BY ALL`, { role })).rows;
  } finally {
    await q.close();
  }
}

/** Every file of the predictions tables, as bytes-independent rows. */
async function tableRows(t: TestLake): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  await conn.run(`SET TimeZone = 'UTC'`);
  for (const { spec, paths } of await t.lake.tables('admin')) {
    if (!spec.view.includes('predictions')) continue;
    out[spec.view] = paths.length === 0 ? [] : (await conn.runAndReadAll(`SELECT * FROM read_parquet(${JSON.stringify(paths).replaceAll('"', "'")}) ORDER BY ALL`)).getRowObjectsJson();
  }
  conn.closeSync();
  db.closeSync();
  return out;
}

describe('the predictions table', () => {
  it('holds what delivery wrote to raw/predictions, once, however often the jobs run', async () => {
    const t = await testLake();
    t.devices.push({ id: 'm-1', kind: 'machine', site: 'a', model: 'press', sampleIntervalSeconds: null });
    const p1 = prediction('p1', 'm-1', at('10:00'), 0.2, 'vibration_rms,temperature_mean, rpm');
    const p2 = prediction('p2', 'm-1', at('10:05'), 0.8, 'vibration_rms');
    const p3 = prediction('p3', 'm-2', at('11:00'), 0.6);
    await deliver(t, [p1, p2, p3, p1]); // p1 published twice (a retry of the scoring role)

    const first = await t.lake.run();
    expect(first.layers[0]).toMatchObject({ layer: 'bronze', rowsWritten: 3, duplicates: 1, quarantined: 0, partitions: [DAY] });
    expect(await view(t, 'predictions')).toEqual([
      { event_id: 'p1', device_id: 'm-1', ts: '2026-11-20T10:00:00.000Z', model: 'pm@3', probability: 0.2, predicted: false, top_features: ['vibration_rms', 'temperature_mean', 'rpm'], received_at: '2026-11-20T10:00:00.000Z', dt: DAY },
      { event_id: 'p2', device_id: 'm-1', ts: '2026-11-20T10:05:00.000Z', model: 'pm@3', probability: 0.8, predicted: true, top_features: ['vibration_rms'], received_at: '2026-11-20T10:05:00.000Z', dt: DAY },
      { event_id: 'p3', device_id: 'm-2', ts: '2026-11-20T11:00:00.000Z', model: 'pm@3', probability: 0.6, predicted: true, top_features: null, received_at: '2026-11-20T11:00:00.000Z', dt: DAY },
    ]);
    // Telemetry's tables do not see predictions.
    expect(await view(t, 'bronze')).toEqual([]);

    const before = await tableRows(t);
    expect((await t.lake.run()).layers.map((l) => l.rowsRead)).toEqual([0, 0, 0]);
    // The same events again in new raw objects (a replay, a re-delivery under other offsets).
    await putRaw(t.store, at('10:00'), '1-7-8', [p1, p2], 'raw', PREDICTIONS_TOPIC);
    expect((await t.lake.run()).layers[0]).toMatchObject({ rowsRead: 2, rowsWritten: 0, duplicates: 2 });
    expect(await tableRows(t)).toEqual(before);
  });

  it('quarantines what is not a prediction, with the reason, and keeps the rest', async () => {
    const t = await testLake();
    const ok = prediction('ok', 'm-1', at('10:00'), 0.3);
    await putRaw(t.store, at('10:00'), '0-0-6', [
      ok,
      '{"id":"cut", ',
      JSON.stringify({ ...ok, id: 'high', metrics: { failure_probability: 1.5, failure_predicted: 1 } }),
      JSON.stringify({ ...ok, id: 'noflag', metrics: { failure_probability: 0.5 } }),
      JSON.stringify({ ...ok, id: 'flag2', metrics: { failure_probability: 0.5, failure_predicted: 2 } }),
      JSON.stringify({ ...ok, id: 'nomodel', tags: { [PREDICTION.topTag]: 'a' } }),
      JSON.stringify({ ...ok, id: 'nodev', device: 'bad device!' }),
    ], 'raw', PREDICTIONS_TOPIC);
    await putRaw(t.store, at('10:00'), '1-3-3', [JSON.stringify({ offset: 3, partition: 1, reason: 'value is not a JSON object', raw: '[1]' })], 'errors', PREDICTIONS_TOPIC);
    const s = await t.lake.run({ layers: ['bronze'] });
    expect(s.layers[0]).toMatchObject({ objectsRead: 2, rowsWritten: 1, quarantined: 7 });
    expect((await view(t, 'predictions')).map((r) => r.event_id)).toEqual(['ok']);
    const reasons = (await view(t, 'predictions_quarantine')).map((r) => [r.event_id, r.reason]);
    expect(reasons).toEqual(expect.arrayContaining([
      ['high', 'failure_probability missing or outside [0, 1]'],
      ['noflag', 'failure_predicted missing or not 0 or 1'],
      ['flag2', 'failure_predicted missing or not 0 or 1'],
      ['nomodel', 'missing model tag'],
      ['nodev', 'invalid or missing device id'],
      [null, 'delivery: value is not a JSON object'],
    ]));
    expect(reasons.some(([id, reason]) => id === null && String(reason).startsWith('invalid JSON'))).toBe(true);
    // Telemetry's quarantine stays telemetry's.
    expect(await view(t, 'quarantine')).toEqual([]);
    expect((await t.lake.run({ layers: ['bronze'] })).layers[0]).toMatchObject({ objectsRead: 0, quarantined: 0 });
  });

  it('aggregates each machine-day in gold under its pseudonym, for analysts too; the raw table is admins\' only', async () => {
    const t = await testLake();
    t.devices.push({ id: 'm-1', kind: 'machine', site: 'a', model: 'press', sampleIntervalSeconds: null });
    await putRaw(t.store, at('10:00'), '0-0-2', [prediction('a', 'm-1', at('10:00'), 0.1), prediction('b', 'm-1', at('10:30'), 0.9), prediction('c', 'm-1', at('10:45'), 0.4)], 'raw', PREDICTIONS_TOPIC);
    const s = await t.lake.run();
    expect(s.layers.map((l) => [l.layer, l.partitions])).toEqual([['bronze', [DAY]], ['silver', []], ['gold', [DAY]]]);
    const gold = await view(t, 'gold_predictions_daily', 'analyst');
    expect(gold).toEqual([{
      device_key: devicePseudonym(t.options.pseudonymKey, 'm-1'), kind: 'machine', model: 'pm@3', day: DAY,
      predictions: 3, predicted: 1, max_probability: 0.9, mean_probability: expect.closeTo(1.4 / 3, 9), last_probability: 0.4, dt: DAY,
    }]);
    await expect(view(t, 'predictions', 'analyst')).rejects.toThrow(/predictions/);
    // A late prediction for the day rebuilds that day only; a run with nothing new rebuilds nothing.
    await putRaw(t.store, at('11:00'), '0-3-3', [prediction('d', 'm-1', at('11:00'), 0.95)], 'raw', PREDICTIONS_TOPIC);
    expect((await t.lake.run()).layers[2]).toMatchObject({ partitions: [DAY], rowsWritten: 1 });
    expect((await view(t, 'gold_predictions_daily'))[0]).toMatchObject({ predictions: 4, predicted: 2, max_probability: 0.95, last_probability: 0.95 });
    expect((await t.lake.run()).layers.map((l) => l.rowsWritten)).toEqual([0, 0, 0]);
  });

  it('are erased with their device (GDPR), and the next run brings nothing back', async () => {
    const t = await testLake();
    t.devices.push({ id: 'm-1', kind: 'machine', site: 'a', model: 'press', sampleIntervalSeconds: null }, { id: 'm-2', kind: 'machine', site: 'a', model: 'press', sampleIntervalSeconds: null });
    await putRaw(t.store, at('10:00'), '0-0-2', [prediction('a', 'm-1', at('10:00'), 0.1), prediction('b', 'm-2', at('10:30'), 0.9), JSON.stringify({ ...prediction('c', 'm-1', at('10:40'), 2) })], 'raw', PREDICTIONS_TOPIC);
    await t.lake.run();
    expect((await view(t, 'predictions_quarantine')).map((r) => r.event_id)).toEqual(['c']);
    const report = await t.lake.erase(['m-1']);
    expect(report).toMatchObject({ rawObjectsRewritten: 1, rawRecordsRemoved: 2, bronzeFilesRewritten: 1, quarantineFilesRewritten: 1, rowsRemoved: 3 });
    expect((await view(t, 'predictions')).map((r) => r.device_id)).toEqual(['m-2']);
    expect(await view(t, 'predictions_quarantine')).toEqual([]);
    expect((await view(t, 'gold_predictions_daily')).map((r) => r.device_key)).toEqual([devicePseudonym(t.options.pseudonymKey, 'm-2')]);
    const after = await tableRows(t);
    expect((await t.lake.run()).layers.map((l) => [l.rowsRead, l.rowsWritten])).toEqual([[0, 0], [0, 0], [0, 0]]);
    expect(await tableRows(t)).toEqual(after);
  });

  it('gives one device\'s latest predictions, newest first, from the days of the range only', async () => {
    const t = await testLake();
    await putRaw(t.store, at('10:00'), '0-0-2', [prediction('a', 'm-1', at('10:00'), 0.1, 'rpm'), prediction('b', 'm-1', at('10:30'), 0.9, 'temp,rpm'), prediction('c', 'm-2', at('10:40'), 0.5)], 'raw', PREDICTIONS_TOPIC);
    await t.lake.run({ layers: ['bronze'] });
    const range = { from: new Date(at('00:00')), to: new Date(at('12:00')) };
    expect(await t.lake.predictions({ device: 'm-1', ...range, limit: 1 })).toEqual([
      { eventId: 'b', device: 'm-1', ts: new Date(at('10:30')), model: 'pm@3', probability: 0.9, predicted: true, topFeatures: ['temp', 'rpm'], receivedAt: new Date(at('10:30')) },
    ]);
    expect((await t.lake.predictions({ device: 'm-1', ...range, limit: 10 })).map((p) => p.eventId)).toEqual(['b', 'a']);
    expect((await t.lake.predictions({ device: 'm-2', ...range, limit: 10 }))[0]).toMatchObject({ eventId: 'c', topFeatures: [] });
    expect(await t.lake.predictions({ device: 'm-1', from: new Date(at('00:00', '2026-11-21')), to: new Date(at('12:00', '2026-11-21')), limit: 10 })).toEqual([]);
  });
});
