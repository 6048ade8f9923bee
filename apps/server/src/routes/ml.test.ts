import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { AI4I_ONLINE, AI4I_SCHEMA, ModelRegistry, parseLabelledCsv, predict, rollingSchema, trainModel, type MlDb, type ModelArtifact } from '@strata/ml';
import { ai4iCsv } from '@strata/ml/testing';
import { startTestPlatform, type TestPlatform } from '../test-platform.js';
import { auditRecords, auth, createKey, ingest, usersOfEachRole, type Callers } from './test-support.js';

let t: TestPlatform;
let app: FastifyInstance;
let who: Callers;
let registry: ModelRegistry;
let predictKey: string;
let ingestKey: string;
let readKey: string;

const data = parseLabelledCsv(ai4iCsv(800), AI4I_SCHEMA, { source: 'generated.csv' });
// v1 maps live telemetry as `strata ml train` does (AI4I_ONLINE: snake_case metrics, `type` tag).
const v1: ModelArtifact = trainModel(data, AI4I_SCHEMA, { kind: 'gbt', seed: 1, online: AI4I_ONLINE, gbt: { nTrees: 10, maxDepth: 3 } });
const v2: ModelArtifact = trainModel(data, AI4I_SCHEMA, { kind: 'logistic', seed: 2, logistic: { iterations: 50 } });
const rows = [
  { type: 'M', airTemperatureK: 298.1, processTemperatureK: 308.6, rotationalSpeedRpm: 1551, torqueNm: 42.8, toolWearMin: 120 },
  { type: 'L', airTemperatureK: 302.5, processTemperatureK: 310.1, rotationalSpeedRpm: 1290, torqueNm: 68.2, toolWearMin: 210 },
  { type: 'H', airTemperatureK: 297.0, processTemperatureK: 306.3, rotationalSpeedRpm: 2010, torqueNm: 18.4, toolWearMin: 5 },
];

beforeAll(async () => {
  t = await startTestPlatform();
  app = t.platform.app;
  who = await usersOfEachRole(t, 'ml');
  registry = new ModelRegistry({ db: t.platform.db.kysely as unknown as MlDb, store: t.platform.store });
  predictKey = await createKey(app, t.adminKey, { scopes: ['predict'] });
  ingestKey = await createKey(app, t.adminKey, { scopes: ['ingest'] });
  readKey = await createKey(app, t.adminKey, { scopes: ['read'] });
});
afterAll(async () => t?.close());

const post = (url: string, payload: unknown, headers: Record<string, string>) => app.inject({ method: 'POST', url, headers, payload: payload as Record<string, unknown> });
const apiKey = (key: string) => ({ 'x-api-key': key });

describe('POST /v1/predict', () => {
  it('answers 409 with a clear reason while no pm model is active', async () => {
    const res = await post('/v1/predict', { rows }, apiKey(predictKey));
    expect(res.statusCode, res.body).toBe(409);
    expect(res.json().error).toMatchObject({ code: 'STRATA_ERR_ML_NO_ACTIVE_MODEL' });
    expect(res.json().error.message).toMatch(/no active model named pm.*strata ml bootstrap/);
  });

  it('refuses callers without a key (401) and keys without the predict scope (403)', async () => {
    expect((await post('/v1/predict', { rows }, {})).statusCode).toBe(401);
    expect((await post('/v1/predict', { rows }, apiKey(ingestKey))).statusCode).toBe(403);
    expect((await post('/v1/predict', { rows }, apiKey(readKey))).statusCode).toBe(403);
    expect((await post('/v1/predict', { rows }, auth(who.analyst))).statusCode).toBe(403);
  });

  it('scores rows with the active model (X-API-Key, scope predict) exactly as predict() does', async () => {
    expect(await registry.register(v1, { name: 'pm', createdBy: 'test' })).toMatchObject({ version: 1 });
    const activated = await post('/v1/ml/models/pm/1/activate', {}, auth(who.admin));
    expect(activated.statusCode, activated.body).toBe(200);
    expect(activated.json()).toEqual({ name: 'pm', version: 1, previous: null });
    expect((await auditRecords(t, 'ml.model.activate'))[0]).toMatchObject({ resource: 'model:pm@1', outcome: 'success' });

    const res = await post('/v1/predict', { rows }, apiKey(predictKey));
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ model: { name: 'pm', version: 1 }, threshold: v1.threshold, predictions: predict(v1, rows) });
    const one = await post('/v1/predict', { row: rows[1], top: 5 }, auth(who.operator));
    expect(one.statusCode, one.body).toBe(200);
    expect(one.json().predictions).toEqual(predict(v1, [rows[1]!], { top: 5 }));
    expect(one.json().predictions[0].contributions).toHaveLength(5);
  });

  it('scores with a named version, and switches when another is activated', async () => {
    await registry.register(v2, { name: 'pm', createdBy: 'test' });
    const pinned = await post('/v1/predict', { rows, model: 'pm@2' }, apiKey(predictKey));
    expect(pinned.statusCode, pinned.body).toBe(200);
    expect(pinned.json()).toMatchObject({ model: { name: 'pm', version: 2 }, predictions: predict(v2, rows) });
    expect((await post('/v1/predict', { rows, model: 'pm@9' }, apiKey(predictKey))).statusCode).toBe(404);
    expect((await post('/v1/predict', { rows, model: 'other' }, apiKey(predictKey))).json().error.code).toBe('STRATA_ERR_ML_NO_ACTIVE_MODEL');
    expect((await post('/v1/ml/models/pm/2/activate', {}, auth(who.operator))).statusCode).toBe(403);
    expect((await post('/v1/ml/models/pm/2/activate', {}, apiKey(t.adminKey))).json()).toEqual({ name: 'pm', version: 2, previous: 1 });
    expect((await post('/v1/predict', { rows }, apiKey(predictKey))).json().model).toEqual({ name: 'pm', version: 2 });
    expect((await post('/v1/ml/models/pm/1/activate', {}, auth(who.admin))).json()).toMatchObject({ version: 1, previous: 2 });
  });

  it('answers 400 listing every problem with its JSON pointer, scoring nothing', async () => {
    const bad = await post('/v1/predict', { rows: [rows[0], { ...rows[1], torqueNm: 'high', extra: 1 }, { type: 'X' }] }, apiKey(predictKey));
    expect(bad.statusCode, bad.body).toBe(400);
    expect(bad.json().error.code).toBe('STRATA_ERR_ML_INVALID_INPUT');
    expect(bad.json().issues).toEqual(expect.arrayContaining([
      { path: '/rows/1/torqueNm', problem: 'must be a finite number, got "high"' },
      { path: '/rows/1/extra', problem: 'unknown field' },
      { path: '/rows/2/type', problem: 'must be one of L, M, H, got "X"' },
      { path: '/rows/2/toolWearMin', problem: 'missing' },
    ]));
    expect((await post('/v1/predict', { row: { ...rows[0], airTemperatureK: null } }, apiKey(predictKey))).json().issues).toEqual([{ path: '/row/airTemperatureK', problem: 'must be a finite number, got null' }]);
    expect((await post('/v1/predict', { row: 5 }, apiKey(predictKey))).json().issues).toEqual([{ path: '/row', problem: 'must be an object of feature values' }]);

    const tooMany = await post('/v1/predict', { rows: Array.from({ length: 1001 }, () => rows[0]) }, apiKey(predictKey));
    expect(tooMany.statusCode).toBe(400);
    expect(tooMany.json().issues).toEqual([{ path: '/rows', problem: 'must NOT have more than 1000 items' }]);
    expect((await post('/v1/predict', { rows: [] }, apiKey(predictKey))).json().issues).toEqual([{ path: '/rows', problem: 'must NOT have fewer than 1 items' }]);
    expect((await post('/v1/predict', { rows, colour: 'red' }, apiKey(predictKey))).json().issues).toEqual([{ path: '/colour', problem: 'unknown field' }]);
    expect((await post('/v1/predict', {}, apiKey(predictKey))).json().issues).toEqual([{ path: '/', problem: 'needs one of rows, row or device' }]);
    expect((await post('/v1/predict', { rows, device: 'm-1' }, apiKey(predictKey))).json().issues).toEqual([{ path: '/', problem: 'takes one of rows, row or device, not rows and device' }]);
    const badModel = await post('/v1/predict', { rows, model: 'PM@x' }, apiKey(predictKey));
    expect(badModel.statusCode).toBe(400);
    expect(badModel.json().issues[0].path).toBe('/model');
  });

  it('scores a device from its recent telemetry and metadata', async () => {
    const minute = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000;
    const at = (ms: number) => new Date(minute + ms).toISOString();
    const { type: _type, ...inputs } = rows[1]!;
    const numbers = { air_temperature_k: inputs.airTemperatureK, process_temperature_k: inputs.processTemperatureK, rpm: inputs.rotationalSpeedRpm, torque_nm: inputs.torqueNm, tool_wear_min: inputs.toolWearMin };
    await ingest(t, [
      // An older minute the latest values override; then the newest minute, two readings of torque.
      { device: 'press-7', ts: at(0), metrics: { ...numbers, torque_nm: 10 }, tags: { kind: 'machine', type: 'L' } },
      { device: 'press-7', ts: at(60_000), metrics: { ...numbers, torque_nm: 60 } },
      { device: 'press-7', ts: at(90_000), metrics: { torque_nm: 76.4 } },
      { device: 'drill-2', ts: at(0), metrics: { air_temperature_k: 300 }, tags: { kind: 'machine', type: 'M' } },
      { device: 'patient-1', ts: at(0), metrics: numbers, tags: { kind: 'patient', type: 'L' } },
    ]);
    await t.platform.state!.caughtUp();

    const res = await post('/v1/predict', { device: 'press-7' }, apiKey(predictKey));
    expect(res.statusCode, res.body).toBe(200);
    const { features } = res.json<{ features: Record<string, number | string> }>();
    expect(features).toEqual({ ...rows[1], torqueNm: expect.closeTo(68.2, 9) });
    expect(res.json()).toMatchObject({ model: { name: 'pm', version: 1 }, device: 'press-7', at: at(120_000), threshold: v1.threshold });
    expect(res.json().predictions).toEqual(predict(v1, [features]));

    const partial = await post('/v1/predict', { device: 'drill-2' }, apiKey(predictKey));
    expect(partial.statusCode).toBe(409);
    expect(partial.json().error).toMatchObject({ code: 'STRATA_ERR_ML_DEVICE_FEATURES' });
    expect(partial.json().error.message).toMatch(/drill-2: no recent value for processTemperatureK/);
    expect((await post('/v1/predict', { device: 'nope-1' }, apiKey(predictKey))).statusCode).toBe(404);
    // Health data never reaches a machine model: a predict key does not learn of a patient device,
    // an admin is told why (409), and the patient's telemetry is not read.
    expect((await post('/v1/predict', { device: 'patient-1' }, apiKey(predictKey))).statusCode).toBe(404);
    const patient = await post('/v1/predict', { device: 'patient-1' }, auth(t.adminKey));
    expect(patient.statusCode).toBe(409);
    expect(patient.json().error.message).toMatch(/patient-1: it is a patient device: health data never reaches a machine model/);
    expect(await auditRecords(t, 'device.features.read')).toEqual([]);
    const bound = await createKey(app, t.adminKey, { scopes: ['predict'], device: 'drill-2' });
    expect((await post('/v1/predict', { device: 'press-7' }, apiKey(bound))).statusCode).toBe(404);
  });
});

describe('the model registry through the API', () => {
  it('lists every version with its metrics (ml:read), and shows one without its trees', async () => {
    const list = await app.inject({ url: '/v1/ml/models', headers: auth(who.analyst) });
    expect(list.statusCode, list.body).toBe(200);
    const items = list.json<{ items: { name: string; version: number; active: boolean; metrics: { test: { f1: number } } }[] }>().items;
    expect(items.map((m) => [m.name, m.version, m.active])).toEqual([['pm', 1, true], ['pm', 2, false]]);
    expect(items[0]!.metrics.test.f1).toBe(v1.metrics.test!.f1);
    expect((await app.inject({ url: '/v1/ml/models', headers: apiKey(predictKey) })).statusCode).toBe(403);
    expect((await app.inject({ url: '/v1/ml/models', headers: apiKey(readKey) })).statusCode).toBe(200);

    const one = await app.inject({ url: '/v1/ml/models/pm/1', headers: auth(who.operator) });
    expect(one.statusCode, one.body).toBe(200);
    const body = one.json();
    expect(body).toMatchObject({ name: 'pm', version: 1, kind: 'gbt', objectKey: 'ml/models/pm/v1.json', data: { sha256: data.sha256, source: 'generated.csv' }, seed: 1, rows: 800 });
    expect(body.featureNames).toEqual(AI4I_SCHEMA.features.map((f) => f.name));
    expect(Object.keys(body.reference)).toEqual(body.featureNames);
    expect(body).not.toHaveProperty('model');
    expect(one.body).not.toContain('"trees"');
    expect((await app.inject({ url: '/v1/ml/models/pm/7', headers: auth(who.operator) })).statusCode).toBe(404);
    expect((await app.inject({ url: '/v1/ml/models/pm/x', headers: auth(who.operator) })).statusCode).toBe(400);
  });
});

// Last: it registers a second model name, which the registry listing above does not expect.
describe('POST /v1/predict {device} with hourly buckets', () => {
  it('describes the last complete bucket, never the one still filling', async () => {
    // Hourly buckets: a reading in the current hour must not make a partial "hourly mean" ending in the future.
    const hourly: ModelArtifact = { ...v1, online: { ...AI4I_ONLINE, resolutionSeconds: 3600 } };
    await registry.register(hourly, { name: 'hourly', createdBy: 'test' });
    await registry.activate('hourly', 1);
    const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
    const { type: _type, ...inputs } = rows[0]!;
    const numbers = { air_temperature_k: inputs.airTemperatureK, process_temperature_k: inputs.processTemperatureK, rpm: inputs.rotationalSpeedRpm, torque_nm: inputs.torqueNm, tool_wear_min: inputs.toolWearMin };
    await ingest(t, [
      { device: 'lathe-4', ts: new Date(hour - 30 * 60_000).toISOString(), metrics: numbers, tags: { kind: 'machine', type: 'M' } },
      { device: 'lathe-4', ts: new Date(hour).toISOString(), metrics: { ...numbers, torque_nm: 5 } },
    ]);
    await t.platform.state!.caughtUp();
    const res = await post('/v1/predict', { device: 'lathe-4', model: 'hourly' }, apiKey(predictKey));
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ at: new Date(hour).toISOString(), features: { torqueNm: rows[0]!.torqueNm } });
  });

  it('says how much history a rolling model needs while a machine has less (warm-up)', async () => {
    const spec = { kind: 'rolling', resolutionSeconds: 3600, metrics: ['rpm'], windowsHours: [24], stats: ['mean'], components: [], errors: [], errorWindowHours: 24 } as const;
    const schema = rollingSchema(spec, { models: ['a'] });
    const csv = ['rpmMean24h,age,model,failure', ...Array.from({ length: 200 }, (_, i) => `${1400 + i},${i % 10},a,${i % 7 === 0 ? 1 : 0}`)].join('\n');
    const rolling = trainModel(parseLabelledCsv(csv, schema, { source: 'rolling.csv' }), schema, { kind: 'logistic', seed: 1, online: spec, logistic: { iterations: 20 } });
    await registry.register(rolling, { name: 'daily', createdBy: 'test' });
    await registry.activate('daily', 1);
    const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
    await ingest(t, [
      { device: 'mill-5', ts: new Date(hour - 150 * 60_000).toISOString(), metrics: { rpm: 1500 }, tags: { kind: 'machine' } },
      { device: 'mill-5', ts: new Date(hour - 30 * 60_000).toISOString(), metrics: { rpm: 1510 } },
    ]);
    await t.platform.state!.caughtUp();
    const res = await post('/v1/predict', { device: 'mill-5', model: 'daily' }, apiKey(predictKey));
    expect(res.statusCode, res.body).toBe(409);
    expect(res.json().error.message).toMatch(/mill-5: needs 24 h of telemetry before .*; has 3 h$/);
  });
});
