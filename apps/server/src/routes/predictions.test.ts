import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { PREDICTION } from '@strata/core';
import { hourPath } from '@strata/lake';
import { startTestPlatform, type TestPlatform } from '../test-platform.js';
import { auditRecords, auth, createKey, ingest, usersOfEachRole, type Callers } from './test-support.js';

let t: TestPlatform;
let who: Callers;
let boundKey: string;
const now = Date.now();
const at = (minutesAgo: number) => new Date(now - minutesAgo * 60_000).toISOString();

/** A prediction event as the scoring role publishes it on `predictions`. */
const prediction = (id: string, device: string, ts: string, p: number, top: string) =>
  ({ id, device, ts, metrics: { failure_probability: p, failure_predicted: p >= 0.5 ? 1 : 0 }, tags: { [PREDICTION.modelTag]: 'pm@3', [PREDICTION.topTag]: top }, source: 'scoring', received_at: ts });

beforeAll(async () => {
  t = await startTestPlatform();
  who = await usersOfEachRole(t, 'pred');
  boundKey = await createKey(t.platform.app, t.adminKey, { scopes: ['read'], device: 'm-2' });
  // What the state consumer keeps of prediction events: latest values of both metrics.
  await ingest(t, [
    { device: 'm-1', ts: at(10), metrics: { temperature: 50 }, tags: { kind: 'machine' } },
    { device: 'm-2', ts: at(10), metrics: { failure_probability: 0.2, failure_predicted: 0 }, tags: { kind: 'machine' } },
    { device: 'm-2', ts: at(5), metrics: { failure_probability: 0.83, failure_predicted: 1 } },
    { device: 'm-3', ts: at(5), metrics: { failure_probability: 0.1 }, tags: { kind: 'machine' } },
    { device: 'p-1', ts: at(5), metrics: { failure_probability: 0.4, failure_predicted: 0 }, tags: { kind: 'patient' } },
  ]);
  await t.platform.state!.caughtUp();
});
afterAll(async () => t.close());

const get = (url: string, credential: string) => t.platform.app.inject({ url, headers: auth(credential) });

describe('GET /v1/predictions/latest', () => {
  it('gives the latest probability and flag of every visible device that has one', async () => {
    const res = await get('/v1/predictions/latest', who.admin);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().predictions).toEqual([
      { device: 'm-2', ts: at(5), probability: 0.83, predicted: true, eventId: expect.any(String) },
      { device: 'm-3', ts: at(5), probability: 0.1, predicted: null, eventId: expect.any(String) },
      { device: 'p-1', ts: at(5), probability: 0.4, predicted: false, eventId: expect.any(String) },
    ]);
    // The patient's was audited like its latest values.
    expect((await auditRecords(t, 'device.latest.read'))[0]).toMatchObject({ details: { patients: ['p-1'] } });
    expect((await get('/v1/predictions/latest?kind=machine', who.admin)).json().predictions.map((p: { device: string }) => p.device)).toEqual(['m-2', 'm-3']);
  });

  it('shows each caller only the devices it may see, and refuses those who may not read latest values', async () => {
    const devices = async (credential: string) => (await get('/v1/predictions/latest', credential)).json().predictions.map((p: { device: string }) => p.device);
    expect(await devices(who.operator)).toEqual(['m-2', 'm-3']);
    expect(await devices(who.clinician)).toEqual(['p-1']);
    expect(await devices(boundKey)).toEqual(['m-2']);
    expect((await get('/v1/predictions/latest', who.analyst)).statusCode).toBe(403);
  });
});

describe('GET /v1/predictions', () => {
  it('gives a device\'s predictions with model and top features from the lake, once its jobs ran', async () => {
    const lake = t.platform.lake!;
    const hour = hourPath(now - 5 * 60_000);
    const lines = [prediction('e1', 'm-2', at(10), 0.2, 'rpm'), prediction('e2', 'm-2', at(5), 0.83, 'vibration_rms,temperature_mean')].map((e) => JSON.stringify(e)).join('\n');
    // Objects as delivery writes them for the `predictions` topic.
    await lake.store.put(`raw/predictions/${hour}/predictions-0-0-1.ndjson.gz`, gzipSync(`${lines}\n`));
    await lake.run();
    const res = await get('/v1/predictions?device=m-2&limit=1', who.operator);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({
      device: 'm-2',
      predictions: [{ eventId: 'e2', ts: at(5), model: 'pm@3', probability: 0.83, predicted: true, topFeatures: ['vibration_rms', 'temperature_mean'], receivedAt: at(5) }],
    });
    expect((await get('/v1/predictions?device=m-2', boundKey)).json().predictions).toHaveLength(2);
  });

  it('answers a device the caller may not see as missing', async () => {
    expect((await get('/v1/predictions?device=m-2', who.clinician)).statusCode).toBe(404);
    expect((await get('/v1/predictions?device=m-1', boundKey)).statusCode).toBe(404);
    expect((await get('/v1/predictions?device=nope', who.admin)).statusCode).toBe(404);
    expect((await get('/v1/predictions?device=m-2', who.analyst)).statusCode).toBe(403);
  });

  it('refuses a range of more than 31 days (each day is a lake partition read)', async () => {
    const wide = await get('/v1/predictions?device=m-2&from=1970-01-01T00:00:00Z', who.operator);
    expect(wide.statusCode).toBe(400);
    expect(wide.json().error.message).toMatch(/more than 31 days/);
    const month = await get('/v1/predictions?device=m-2&from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z', who.operator);
    expect(month.statusCode, month.body).toBe(200);
  });
});
