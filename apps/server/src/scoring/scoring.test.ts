import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@strata/config';
import { PREDICTION, PREDICTIONS_TOPIC } from '@strata/core';
import { seededDataDir } from '@strata/db/testing';
import { AI4I_ONLINE, AI4I_SCHEMA, ModelRegistry, parseLabelledCsv, predict, trainModel, type MlDb, type ModelArtifact } from '@strata/ml';
import { ai4iCsv } from '@strata/ml/testing';
import { waitUntil } from '@strata/testkit';
import { createLogger } from '../logger.js';
import { startPlatform, type Platform } from '../platform.js';
import { DRIFT_RULE_ID, predictionId } from './scoring.js';

/**
 * The scoring role end to end, on embedded engines: telemetry in through the API, predictions on
 * the `predictions` topic, the prediction rule's alert, the latest value in the API, drift gauges
 * on /metrics and the `ml-drift` alert. The model is an AI4I-style boosted-trees artifact trained
 * on generated rows whose failures follow the data set's causes (power out of range, strain).
 */

const MINUTE = 60_000;
const { probabilityMetric: PROBABILITY, predictedMetric: PREDICTED, modelTag: MODEL_TAG, topTag: TOP_TAG } = PREDICTION;
const data = parseLabelledCsv(ai4iCsv(2000, 5), AI4I_SCHEMA, { source: 'generated.csv' });
let artifact: ModelArtifact;

beforeAll(() => {
  artifact = trainModel(data, AI4I_SCHEMA, { kind: 'gbt', seed: 1, online: AI4I_ONLINE, gbt: { nTrees: 40, maxDepth: 4 } });
});

interface Booted {
  platform: Platform;
  adminKey: string;
  dir: string;
}
const running: Platform[] = [];
const dirs: { remove(): void }[] = [];
afterEach(async () => {
  for (const p of running.splice(0)) await p.stop().catch(() => undefined);
  for (const d of dirs.splice(0)) d.remove();
});

async function boot(dir?: string, overrides: Record<string, unknown> = {}): Promise<Booted> {
  if (!dir) {
    const data = await seededDataDir('scoring');
    dirs.push(data);
    dir = data.dir;
  }
  const config = loadConfig({
    overrides: { dataDir: dir, 'http.port': 0, 'mqtt.port': 0, 'demo.enabled': false, 'log.level': 'silent', 'lake.enabled': false, 'backup.enabled': false, 'ml.refreshSeconds': 0.2, ...overrides },
  });
  const platform = await startPlatform(config, createLogger(config.log));
  running.push(platform);
  return { platform, adminKey: readFileSync(join(dir, 'admin.key'), 'utf8').trim(), dir };
}

async function stop(b: Booted): Promise<void> {
  running.splice(running.indexOf(b.platform), 1);
  await b.platform.stop();
}

async function activate(platform: Platform, a: ModelArtifact): Promise<number> {
  const registry = new ModelRegistry({ db: platform.db.kysely as unknown as MlDb, store: platform.store });
  const { version } = await registry.register(a, { name: 'pm', createdBy: 'test' });
  await registry.activate('pm', version);
  await platform.scoring!.refresh();
  expect(platform.scoring!.stats().model).toBe(`pm@${version}`);
  return version;
}

async function ingest(b: Booted, events: Record<string, unknown>[]): Promise<void> {
  for (let i = 0; i < events.length; i += 2000) {
    const res = await b.platform.app.inject({ method: 'POST', url: '/v1/ingest', headers: { authorization: `Bearer ${b.adminKey}`, 'content-type': 'application/json' }, payload: events.slice(i, i + 2000) });
    expect(res.statusCode, res.body).toBe(200);
  }
}

/** Waits until scoring has scored everything ingested and the prediction consumers have taken its output. */
async function settle(platform: Platform): Promise<void> {
  await platform.scoring!.caughtUp();
  await platform.predictionsState!.caughtUp();
  await platform.rules!.predictions.caughtUp();
}

interface PredictionEvent {
  id: string;
  device: string;
  ts: string;
  metrics: Record<string, number>;
  tags: Record<string, string>;
  source: string;
}

async function predictions(platform: Platform): Promise<PredictionEvent[]> {
  const out: PredictionEvent[] = [];
  for (const p of (await platform.stream.describe(PREDICTIONS_TOPIC)).partitions) {
    for (let offset = p.startOffset; offset < p.endOffset; ) {
      const records = await platform.stream.read(PREDICTIONS_TOPIC, p.partition, offset, { maxRecords: 1000 });
      if (records.length === 0) break;
      for (const r of records) out.push(JSON.parse(r.value.toString('utf8')) as PredictionEvent);
      offset = records[records.length - 1]!.offset + 1;
    }
  }
  return out.sort((a, b) => (a.device === b.device ? Date.parse(a.ts) - Date.parse(b.ts) : a.device < b.device ? -1 : 1));
}

async function alertEvents(platform: Platform): Promise<{ rule_id: string; type: string }[]> {
  const out: { rule_id: string; type: string }[] = [];
  for (const p of (await platform.stream.describe('alerts')).partitions) {
    for (const r of await platform.stream.read('alerts', p.partition, p.startOffset, { maxRecords: 1000 })) out.push(JSON.parse(r.value.toString('utf8')) as { rule_id: string; type: string });
  }
  return out;
}

/** A machine in good health, and the precursor of a power / overstrain failure (AI4I's causes). */
const HEALTHY = { air_temperature_k: 300, process_temperature_k: 310, rpm: 2000, torque_nm: 39, tool_wear_min: 50 };
const STRAINED = { air_temperature_k: 300, process_temperature_k: 310, rpm: 1250, torque_nm: 70, tool_wear_min: 200 };
const asRow = (m: typeof HEALTHY) => ({ type: 'M', airTemperatureK: m.air_temperature_k, processTemperatureK: m.process_temperature_k, rotationalSpeedRpm: m.rpm, torqueNm: m.torque_nm, toolWearMin: m.tool_wear_min });

/** Six readings a minute from `from` (inclusive) to `to` (exclusive) minutes after `base`; `reading(minute)` says what. */
function telemetry(device: string, base: number, from: number, to: number, reading: (minute: number) => typeof HEALTHY): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (let minute = from; minute < to; minute++) {
    for (let s = 0; s < 60; s += 10) out.push({ device, ts: new Date(base + minute * MINUTE + s * 1000).toISOString(), metrics: reading(minute), tags: { kind: 'machine', type: 'M' } });
  }
  return out;
}

/** Minute-aligned, three hours back: well inside the stream's retention and ingest's limits. */
const baseTime = () => Math.floor((Date.now() - 3 * 3_600_000) / MINUTE) * MINUTE;

describe('scoring role', () => {
  it('the model tells a strained machine from a healthy one (the premise of the tests below)', () => {
    const [healthy, strained] = predict(artifact, [asRow(HEALTHY), asRow(STRAINED)]);
    expect(healthy!.label).toBe(0);
    expect(strained!.label).toBe(1);
  });

  it('predicts a labelled failure from its precursors: predictions on the topic before it, a maintenance alert, the probability in the API', async () => {
    const b = await boot();
    await activate(b.platform, artifact);
    const base = baseTime();
    // press-1 strains from minute 6; its failure is labelled at minute 10. press-2 stays healthy.
    const failureAt = base + 10 * MINUTE;
    await ingest(b, [...telemetry('press-1', base, 0, 11, (m) => (m >= 6 ? STRAINED : HEALTHY)), ...telemetry('press-2', base, 0, 11, () => HEALTHY)]);
    await settle(b.platform);

    const all = await predictions(b.platform);
    const one = all.filter((p) => p.device === 'press-1');
    const two = all.filter((p) => p.device === 'press-2');
    // One prediction per closed minute (minute 10 is still open), at the minute's end.
    expect(one.map((p) => (Date.parse(p.ts) - base) / MINUTE)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(one.map((p) => p.metrics[PREDICTED])).toEqual([0, 0, 0, 0, 0, 0, 1, 1, 1, 1]);
    expect(two.every((p) => p.metrics[PREDICTED] === 0)).toBe(true);
    const first = one.find((p) => p.metrics[PREDICTED] === 1)!;
    expect(Date.parse(first.ts)).toBeLessThan(failureAt);
    expect(first).toMatchObject({ id: predictionId('pm@1', 'press-1', Date.parse(first.ts)), source: PREDICTION.source, tags: { [MODEL_TAG]: 'pm@1', kind: 'machine' } });
    expect(first.id).toMatch(/^pred-[0-9a-f]{32}$/);
    expect(first.tags[TOP_TAG]!.split(',')).toHaveLength(3);
    expect(new Set(all.map((p) => p.id)).size).toBe(all.length);

    // The preset rule opened one maintenance alert, for press-1, at the first strained minute's prediction.
    const alerts = await b.platform.db.kysely.selectFrom('alerts').selectAll().where('rule_id', '=', 'machine-failure-predicted').execute();
    expect(alerts.map((a) => [a.device_id, a.status, a.severity, a.opened_at.toISOString()])).toEqual([['press-1', 'open', 'high', first.ts]]);
    expect(alerts[0]!.details).toMatchObject({ model: 'pm@1', topFeatures: first.tags[TOP_TAG]!.split(',') });
    // The telemetry rules did not see the predictions: they run on their own topic.
    expect(b.platform.rules!.predictions.stats().events).toBe(all.length);

    // The failure probability is a latest value of the machine, through the API.
    const res = await b.platform.app.inject({ method: 'GET', url: '/v1/devices/press-1/latest', headers: { authorization: `Bearer ${b.adminKey}` } });
    expect(res.statusCode, res.body).toBe(200);
    const latest = (res.json() as { values: { metric: string; ts: string; value: number }[] }).values.find((v) => v.metric === PROBABILITY);
    expect(latest).toMatchObject({ ts: one[9]!.ts, value: one[9]!.metrics[PROBABILITY] });
    const device = await b.platform.db.kysely.selectFrom('devices').select(['kind', 'tags']).where('id', '=', 'press-1').executeTakeFirstOrThrow();
    expect(device).toMatchObject({ kind: 'machine', tags: { type: 'M', [MODEL_TAG]: 'pm@1' } });

    const metrics = await b.platform.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${b.adminKey}` } });
    expect(metrics.body).toMatch(/^strata_ml_predictions_total 20$/m);
    expect(metrics.body).toMatch(/^strata_ml_predicted_failures_total 4$/m);

    // Prediction rules through the API: checked field by field, described in the OpenAPI document.
    const rule = (condition: Record<string, unknown>) => ({ method: 'POST' as const, url: '/v1/rules', headers: { authorization: `Bearer ${b.adminKey}` }, payload: { id: 'press-watch', title: 'Press failure likely', scope: { kinds: ['machine'] }, condition: { type: 'prediction', ...condition } } });
    const bad = await b.platform.app.inject(rule({ minProbability: 0.6, clear: { below: 0.7 } }));
    expect(bad.statusCode).toBe(400);
    expect(bad.json<{ issues: { path: string; message: string }[] }>().issues).toEqual([{ path: '/condition/clear/below', message: expect.stringMatching(/at most minProbability/) }]);
    expect((await b.platform.app.inject(rule({ minProbability: 2 }))).json<{ issues: { path: string }[] }>().issues.map((i) => i.path)).toEqual(['/condition/minProbability']);
    expect((await b.platform.app.inject(rule({ minProbability: 0.8, forSeconds: 300 }))).statusCode).toBe(201);
    const openapi = await b.platform.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(openapi.body).toContain('Fire when the predicted failure probability is at or above this');
  });

  it('idles without an active model and scores what arrives once one is activated', async () => {
    const b = await boot();
    const base = baseTime();
    await ingest(b, telemetry('press-1', base, 0, 3, () => HEALTHY));
    await b.platform.scoring!.caughtUp();
    expect(b.platform.scoring!.stats()).toMatchObject({ idle: 18, events: 0, predictions: 0 });
    await activate(b.platform, artifact);
    await ingest(b, telemetry('press-1', base, 3, 5, () => HEALTHY));
    await settle(b.platform);
    // The idle minutes were read again to build the features (warm-up), not published: what new readings close is (minute 2 by minute 3's, 3 by 4's).
    expect((await predictions(b.platform)).map((p) => (Date.parse(p.ts) - base) / MINUTE)).toEqual([3, 4]);
  });

  it('after a stop and a start, publishes every bucket once: none twice, none lost', async () => {
    const first = await boot();
    await activate(first.platform, artifact);
    const base = baseTime();
    // Minutes 0–5 before the stop (minute 5 still open), 6–10 after: minute 5 closes only after the restart.
    await ingest(first, telemetry('press-1', base, 0, 6, (m) => (m >= 4 ? STRAINED : HEALTHY)));
    await settle(first.platform);
    expect(first.platform.scoring!.stats().predictions).toBe(5);
    await stop(first);

    const second = await boot(first.dir);
    await second.platform.scoring!.refresh();
    await ingest(second, telemetry('press-1', base, 6, 11, (m) => (m >= 4 ? STRAINED : HEALTHY)));
    await settle(second.platform);
    // Only the new buckets were published by the second run: the first run's were rebuilt, not re-sent.
    expect(second.platform.scoring!.stats()).toMatchObject({ predictions: 5, events: 30 });
    expect(second.platform.scoring!.stats().rebuilt).toBeGreaterThan(0);
    const all = await predictions(second.platform);
    expect(all.map((p) => (Date.parse(p.ts) - base) / MINUTE)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(new Set(all.map((p) => p.id)).size).toBe(10);
    // Minute 5, open at the stop, was scored from the readings of both runs: strained (all six of them).
    expect(all[4]!.metrics[PREDICTED]).toBe(1);
    // One alert for the whole episode, across the restart.
    expect(await second.platform.db.kysely.selectFrom('alerts').select('id').where('rule_id', '=', 'machine-failure-predicted').execute()).toHaveLength(1);
  });

  it('exports PSI per feature; opens an ml-drift alert when the live data shifts, resolves it when it comes back', async () => {
    const b = await boot(undefined, { 'ml.driftWindow': 400 });
    await activate(b.platform, artifact);
    const base = baseTime() - 3 * 3_600_000;
    const MACHINES = 40;
    // Rows of the training distribution (another seed), one machine-minute each; `shift` K added to the air temperature.
    const rows = ai4iCsv(1400, 77).trim().split('\n').slice(1).map((l) => l.split(','));
    let next = 0;
    const minutes = (from: number, to: number, shift: number): Record<string, unknown>[] => {
      const out: Record<string, unknown>[] = [];
      for (let minute = from; minute < to; minute++) {
        for (let m = 0; m < MACHINES; m++) {
          const [, , type, air, proc, rpm, torque, wear] = rows[next++]!.map((v, i) => (i >= 3 && i <= 7 ? Number(v) : v)) as [string, string, string, number, number, number, number, number];
          const metrics = { air_temperature_k: air + shift, process_temperature_k: proc + shift, rpm, torque_nm: torque, tool_wear_min: wear };
          out.push({ device: `mill-${m}`, ts: new Date(base + minute * MINUTE + 1000).toISOString(), metrics, tags: { kind: 'machine', type } });
        }
      }
      return out;
    };
    const psi = async (): Promise<Record<string, number>> => {
      const res = await b.platform.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${b.adminKey}` } });
      const out: Record<string, number> = {};
      for (const m of res.body.matchAll(/^strata_ml_feature_psi\{model="pm",feature="([A-Za-z]+)"\} (\S+)$/gm)) out[m[1]!] = Number(m[2]);
      return out;
    };
    const driftAlerts = () => b.platform.db.kysely.selectFrom('alerts').select(['status', 'resolved_by', 'details', 'device_id']).where('rule_id', '=', DRIFT_RULE_ID).execute();

    // 10 minutes of 40 machines: 400 scored rows like the training data.
    await ingest(b, minutes(0, 11, 0));
    await settle(b.platform);
    await b.platform.scoring!.refresh();
    const steady = await psi();
    expect(Object.keys(steady)).toEqual(expect.arrayContaining(['airTemperatureK', 'torqueNm', 'powerW']));
    for (const [feature, value] of Object.entries(steady)) expect(value, feature).toBeLessThan(0.2);
    expect(await driftAlerts()).toEqual([]);

    // The air and process temperature sensors read 12 K high: the window fills with shifted rows.
    await ingest(b, minutes(11, 22, 12));
    await settle(b.platform);
    await b.platform.scoring!.refresh();
    const shifted = await psi();
    expect(shifted.airTemperatureK).toBeGreaterThan(0.2);
    expect(shifted.torqueNm).toBeLessThan(0.2);
    const [opened] = await driftAlerts();
    expect(opened).toMatchObject({ status: 'open', device_id: 'model.pm' });
    expect(Object.keys((opened!.details as { features: Record<string, number> }).features)).toContain('airTemperatureK');
    // Published on the alerts topic like any alert.
    await waitUntil('the ml-drift alert event on the alerts topic', async () => (await alertEvents(b.platform)).some((e) => e.rule_id === DRIFT_RULE_ID && e.type === 'opened'), 10_000, 50);

    // The sensors are fixed: once the window holds only good rows again, the alert resolves.
    await ingest(b, minutes(22, 33, 0));
    await settle(b.platform);
    await b.platform.scoring!.refresh();
    expect(Object.values(await psi()).every((v) => v < 0.2)).toBe(true);
    expect(await driftAlerts()).toMatchObject([{ status: 'resolved', resolved_by: 'rule' }]);
  });
});
