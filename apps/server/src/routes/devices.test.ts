import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { startTestPlatform, type TestPlatform } from '../test-platform.js';
import { auditRecords, auth, createKey, ingest, usersOfEachRole, type Callers } from './test-support.js';

let t: TestPlatform;
let app: FastifyInstance;
let who: Callers;
/** A read key, and one bound to m-1. */
let readKey: string;
let boundKey: string;
/** Start of the UTC hour three hours ago: every event time is an offset from it. */
const base = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3 * 3_600_000;
const at = (offsetMs: number) => new Date(base + offsetMs).toISOString();
const MIN = 60_000;
const HOUR = 3_600_000;

beforeAll(async () => {
  t = await startTestPlatform();
  app = t.platform.app;
  who = await usersOfEachRole(t, 'dev');
  readKey = await createKey(app, t.adminKey, { scopes: ['read'] });
  boundKey = await createKey(app, t.adminKey, { scopes: ['read'], device: 'm-1' });
  await ingest(t, [
    { device: 'm-1', ts: at(0), metrics: { temperature: 10 }, tags: { kind: 'machine', site: 'a' } },
    { device: 'm-1', ts: at(30_000), metrics: { temperature: 20 } },
    { device: 'm-1', ts: at(MIN), metrics: { temperature: 30, rpm: 1500 } },
    { device: 'm-1', ts: at(HOUR), metrics: { temperature: 40 } },
    { device: 'm-2', ts: at(0), metrics: { temperature: 5 }, tags: { kind: 'machine', site: 'b' } },
    { device: 'p-1', ts: at(5 * MIN), metrics: { heart_rate: 80 }, tags: { kind: 'patient' } },
    { device: 'p-2', ts: at(5 * MIN), metrics: { heart_rate: 90 }, tags: { kind: 'patient' } },
    { device: 's-1', ts: at(2 * HOUR), metrics: { humidity: 40 } },
  ]);
  await t.platform.state!.caughtUp();
});
afterAll(async () => t.close());

const get = (url: string, credential: string) => app.inject({ url, headers: auth(credential) });
const ids = (res: { json(): unknown }) => (res.json() as { devices: { id: string }[] }).devices.map((d) => d.id);

describe('GET /v1/devices', () => {
  it('lists every device to an admin, by id, with kind, tags and last seen', async () => {
    const res = await get('/v1/devices', who.admin);
    expect(res.statusCode, res.body).toBe(200);
    expect(ids(res)).toEqual(['m-1', 'm-2', 'p-1', 'p-2', 's-1']);
    const m1 = res.json().devices[0];
    expect(m1).toMatchObject({ id: 'm-1', kind: 'machine', name: null, tags: { kind: 'machine', site: 'a' }, lastSeen: at(HOUR) });
    expect(res.json().nextCursor).toBeUndefined();
  });

  it('pages with an opaque cursor until there is no nextCursor', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const res = await get(`/v1/devices?limit=2${cursor ? `&cursor=${cursor}` : ''}`, who.admin);
      expect(res.statusCode, res.body).toBe(200);
      expect(ids(res).length).toBeLessThanOrEqual(2);
      seen.push(...ids(res));
      cursor = res.json().nextCursor;
      pages++;
    } while (cursor !== undefined);
    expect(seen).toEqual(['m-1', 'm-2', 'p-1', 'p-2', 's-1']);
    expect(pages).toBe(3);
  });

  it('filters by kind, tag and last seen time', async () => {
    expect(ids(await get('/v1/devices?kind=machine', who.admin))).toEqual(['m-1', 'm-2']);
    expect(ids(await get('/v1/devices?tag=site:b', who.admin))).toEqual(['m-2']);
    expect(ids(await get(`/v1/devices?lastSeenAfter=${at(30 * MIN)}`, who.admin))).toEqual(['m-1', 's-1']);
    expect(ids(await get(`/v1/devices?lastSeenBefore=${at(MIN)}&kind=machine`, who.admin))).toEqual(['m-2']);
  });

  it('refuses a cursor it did not make, a bad limit and unknown parameters with 400', async () => {
    const bad = await get('/v1/devices?cursor=bm90LWEtY3Vyc29y', who.admin);
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('STRATA_ERR_HTTP_BAD_CURSOR');
    for (const q of ['limit=0', 'limit=1001', 'kind=robot', 'tag=nocolon', 'lastSeenAfter=yesterday', 'lastSeenAfter=0000-01-01T00:00:00Z', 'lastSeenBefore=2016-12-31T23:59:60Z', 'colour=red']) {
      expect((await get(`/v1/devices?${q}`, who.admin)).statusCode, q).toBe(400);
    }
  });

  it('shows each caller only the kinds it may see, and a bound key only its device', async () => {
    expect(ids(await get('/v1/devices', who.operator))).toEqual(['m-1', 'm-2', 's-1']);
    expect(ids(await get('/v1/devices', who.analyst))).toEqual(['m-1', 'm-2', 's-1']);
    expect(ids(await get('/v1/devices', who.clinician))).toEqual(['p-1', 'p-2']);
    expect(ids(await get('/v1/devices?kind=patient', who.operator))).toEqual([]);
    expect(ids(await get('/v1/devices', readKey))).toEqual(['m-1', 'm-2', 'p-1', 'p-2', 's-1']);
    expect(ids(await get('/v1/devices', boundKey))).toEqual(['m-1']);
    expect(ids(await get('/v1/devices?kind=sensor', boundKey))).toEqual([]);
  });

  it('writes one audit record per list answer holding patients, naming them, and none otherwise', async () => {
    const before = (await auditRecords(t, 'device.list')).length;
    await get('/v1/devices', who.operator);
    expect(await auditRecords(t, 'device.list')).toHaveLength(before);
    await get('/v1/devices?limit=3', who.clinician);
    const [last, ...rest] = await auditRecords(t, 'device.list');
    expect(rest).toHaveLength(before);
    expect(last).toMatchObject({ actor: 'user:dev-clinician', resource: 'devices', outcome: 'success', details: { patients: ['p-1', 'p-2'] } });
  });
});

describe('GET /v1/devices/:id', () => {
  it('answers a device the caller may not see exactly like a missing one', async () => {
    const hidden = await get('/v1/devices/p-1', who.operator);
    const missing = await get('/v1/devices/p-9', who.operator);
    expect((await get('/v1/devices/p-1', who.clinician)).statusCode).toBe(200);
    expect(hidden.statusCode).toBe(404);
    expect(missing.statusCode).toBe(404);
    expect(hidden.json()).toEqual({ error: { code: 'STRATA_ERR_HTTP_DEVICE_NOT_FOUND', message: 'no device p-1' } });
    expect(missing.json()).toEqual({ error: { code: 'STRATA_ERR_HTTP_DEVICE_NOT_FOUND', message: 'no device p-9' } });
    for (const url of ['/v1/devices/m-2', '/v1/devices/m-2/latest', '/v1/devices/m-2/series?metric=temperature']) {
      expect((await get(url, boundKey)).json(), url).toEqual({ error: { code: 'STRATA_ERR_HTTP_DEVICE_NOT_FOUND', message: 'no device m-2' } });
    }
    expect((await get('/v1/devices/m-1', who.clinician)).statusCode).toBe(404);
    expect((await get('/v1/devices/m-1', boundKey)).statusCode).toBe(200);
  });

  it('audits reads of patient devices only', async () => {
    const before = (await auditRecords(t, 'device.read')).length;
    expect((await get('/v1/devices/m-1', who.admin)).statusCode).toBe(200);
    expect(await auditRecords(t, 'device.read')).toHaveLength(before);
    const res = await get('/v1/devices/p-2', who.clinician);
    expect(res.json()).toMatchObject({ id: 'p-2', kind: 'patient' });
    const records = await auditRecords(t, 'device.read');
    expect(records).toHaveLength(before + 1);
    expect(records[0]).toMatchObject({ actor: 'user:dev-clinician', resource: 'device:p-2', outcome: 'success' });
  });
});

describe('POST and PATCH /v1/devices', () => {
  it('registers a device (201), refuses a taken id (409), and audits the change', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/devices', headers: auth(who.operator), payload: { id: 'pump-7', kind: 'machine', name: 'Pump 7', metadata: { floor: 2 } } });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ id: 'pump-7', kind: 'machine', name: 'Pump 7', metadata: { floor: 2 }, tags: {}, lastSeen: null });
    expect((await get('/v1/devices/pump-7', who.analyst)).json()).toMatchObject({ name: 'Pump 7' });
    const again = await app.inject({ method: 'POST', url: '/v1/devices', headers: auth(t.adminKey), payload: { id: 'pump-7', kind: 'sensor' } });
    expect(again.statusCode).toBe(409);
    const seen = await app.inject({ method: 'POST', url: '/v1/devices', headers: auth(t.adminKey), payload: { id: 's-1', kind: 'sensor' } });
    expect(seen.statusCode).toBe(409);
    const [record] = await auditRecords(t, 'device.create');
    expect(record).toMatchObject({ actor: 'user:dev-operator', resource: 'device:pump-7', details: { kind: 'machine', fields: ['id', 'kind', 'metadata', 'name'] } });
    expect(JSON.stringify(record)).not.toContain('Pump 7');
  });

  it('lets only writers create, and only kinds they may see', async () => {
    const payload = { id: 'bed-1', kind: 'patient' };
    expect((await app.inject({ method: 'POST', url: '/v1/devices', headers: auth(who.analyst), payload })).statusCode).toBe(403);
    expect((await app.inject({ method: 'POST', url: '/v1/devices', headers: auth(readKey), payload })).statusCode).toBe(403);
    expect((await app.inject({ method: 'POST', url: '/v1/devices', headers: auth(who.operator), payload })).statusCode).toBe(403);
    expect((await get('/v1/devices/bed-1', who.admin)).statusCode).toBe(404);
    for (const bad of [{ id: 'bad id', kind: 'machine' }, { id: 'x', kind: 'robot' }, { id: 'x', kind: 'machine', extra: 1 }, { kind: 'machine' }]) {
      expect((await app.inject({ method: 'POST', url: '/v1/devices', headers: auth(t.adminKey), payload: bad })).statusCode, JSON.stringify(bad)).toBe(400);
    }
  });

  it('changes name, metadata and kind, audited, and hides devices the writer may not see', async () => {
    await app.inject({ method: 'POST', url: '/v1/devices', headers: auth(t.adminKey), payload: { id: 'pump-8', kind: 'machine' } });
    const res = await app.inject({ method: 'PATCH', url: '/v1/devices/pump-8', headers: auth(who.operator), payload: { name: 'Pump 8', metadata: { floor: 3 }, kind: 'sensor' } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ id: 'pump-8', kind: 'sensor', name: 'Pump 8', metadata: { floor: 3 } });
    const cleared = await app.inject({ method: 'PATCH', url: '/v1/devices/pump-8', headers: auth(who.operator), payload: { name: null } });
    expect(cleared.json()).toMatchObject({ name: null, kind: 'sensor' });
    expect((await auditRecords(t, 'device.update'))[1]).toMatchObject({ resource: 'device:pump-8', details: { fields: ['kind', 'metadata', 'name'], kind: { from: 'machine', to: 'sensor' } } });

    const hidden = await app.inject({ method: 'PATCH', url: '/v1/devices/p-1', headers: auth(who.operator), payload: { name: 'x' } });
    expect(hidden.json()).toEqual({ error: { code: 'STRATA_ERR_HTTP_DEVICE_NOT_FOUND', message: 'no device p-1' } });
    expect((await app.inject({ method: 'PATCH', url: '/v1/devices/nope', headers: auth(who.operator), payload: { name: 'x' } })).statusCode).toBe(404);
    expect((await app.inject({ method: 'PATCH', url: '/v1/devices/pump-8', headers: auth(who.operator), payload: { kind: 'patient' } })).statusCode).toBe(403);
    expect((await app.inject({ method: 'PATCH', url: '/v1/devices/pump-8', headers: auth(who.operator), payload: {} })).statusCode).toBe(400);
    expect((await get('/v1/devices/pump-8', who.admin)).json()).toMatchObject({ kind: 'sensor' });
  });
});

describe('GET /v1/devices/:id/latest', () => {
  it('answers the latest value of each metric', async () => {
    const res = await get('/v1/devices/m-1/latest', readKey);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({
      device: 'm-1',
      values: [
        { metric: 'rpm', ts: at(MIN), value: 1500, eventId: expect.any(String) },
        { metric: 'temperature', ts: at(HOUR), value: 40, eventId: expect.any(String) },
      ],
    });
  });

  it('needs telemetry:latest and audits patient reads', async () => {
    expect((await get('/v1/devices/m-1/latest', who.analyst)).statusCode).toBe(403);
    const res = await get('/v1/devices/p-1/latest', who.clinician);
    expect(res.json().values).toMatchObject([{ metric: 'heart_rate', value: 80 }]);
    expect((await auditRecords(t, 'device.latest.read'))[0]).toMatchObject({ actor: 'user:dev-clinician', resource: 'device:p-1' });
  });
});

describe('GET /v1/devices/:id/series', () => {
  it('aggregates the rollups into buckets of the step', async () => {
    const minutes = await get(`/v1/devices/m-1/series?metric=temperature&from=${at(0)}&to=${at(2 * HOUR)}&step=1m`, who.analyst);
    expect(minutes.statusCode, minutes.body).toBe(200);
    const body = minutes.json();
    expect(body).toMatchObject({ device: 'm-1', metric: 'temperature', from: at(0), to: at(2 * HOUR), stepSeconds: 60 });
    expect(body.buckets).toHaveLength(120);
    expect(body.buckets[0]).toEqual({ start: at(0), count: 2, min: 10, max: 20, avg: 15, stddev: 5 });
    expect(body.buckets[1]).toMatchObject({ start: at(MIN), count: 1, avg: 30 });
    expect(body.buckets[2]).toEqual({ start: at(2 * MIN), count: 0, min: null, max: null, avg: null, stddev: null });
    expect(body.buckets[60]).toMatchObject({ count: 1, min: 40 });

    const hours = await get(`/v1/devices/m-1/series?metric=temperature&from=${at(0)}&to=${at(2 * HOUR)}&step=1h`, who.analyst);
    expect(hours.json().buckets.map((b: { count: number; avg: number }) => [b.count, b.avg])).toEqual([[3, 20], [1, 40]]);
    const seconds = await get(`/v1/devices/m-1/series?metric=temperature&from=${at(0)}&to=${at(2 * HOUR)}&step=3600`, who.analyst);
    expect(seconds.json().buckets).toEqual(hours.json().buckets);
  });

  it('defaults to the last 24 h in 1-minute buckets', async () => {
    const res = await get('/v1/devices/m-1/series?metric=temperature', who.analyst);
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body.stepSeconds).toBe(60);
    expect(Date.parse(body.to) - Date.parse(body.from)).toBe(24 * HOUR);
    expect(body.buckets.reduce((n: number, b: { count: number }) => n + b.count, 0)).toBe(4);
  });

  it('answers 400 with the reason for a bad range, step or metric', async () => {
    const cases: [string, RegExp][] = [
      [`from=${at(HOUR)}&to=${at(0)}`, /from must be a time before to/],
      [`from=${at(0)}&to=${at(0)}`, /from must be a time before to/],
      [`from=${at(0)}&to=${at(HOUR)}&step=30`, /multiple of 60/],
      [`from=${at(0)}&to=${at(HOUR)}&step=90s`, /multiple of 60/],
      ['from=2020-01-01T00:00:00Z&to=2025-01-01T00:00:00Z&step=1m', /more than 10000/],
      ['step=1w', /step/],
      ['to=0001-01-01T00:00:00Z', /to must be an RFC 3339 time between 1970 and 9999/],
      ['from=2016-12-31T23:59:60Z', /from must be/],
      ['from=last-week', /from/],
    ];
    for (const [q, reason] of cases) {
      const res = await get(`/v1/devices/m-1/series?metric=temperature&${q}`, who.admin);
      expect(res.statusCode, q).toBe(400);
      expect(res.json().error.message, q).toMatch(reason);
    }
    expect((await get('/v1/devices/m-1/series', who.admin)).statusCode).toBe(400);
    expect((await get('/v1/devices/m-1/series?metric=a%20b', who.admin)).statusCode).toBe(400);
  });

  it('audits patient series reads with the range', async () => {
    const res = await get(`/v1/devices/p-1/series?metric=heart_rate&from=${at(0)}&to=${at(HOUR)}&step=5m`, who.clinician);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().buckets[1]).toMatchObject({ count: 1, avg: 80 });
    expect((await auditRecords(t, 'device.series.read'))[0]).toMatchObject({
      actor: 'user:dev-clinician',
      resource: 'device:p-1',
      details: { metric: 'heart_rate', from: at(0), to: at(HOUR), stepSeconds: 300 },
    });
  });
});

describe('GET /v1/devices/:id/metrics', () => {
  it('gives analysts, who may not read latest values, the names of the metrics with series', async () => {
    expect((await get('/v1/devices/m-1/latest', who.analyst)).statusCode).toBe(403);
    const res = await get('/v1/devices/m-1/metrics', who.analyst);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ device: 'm-1', metrics: ['rpm', 'temperature'] });
    // Each name gives a series (the device page's charts).
    const rpm = await get(`/v1/devices/m-1/series?metric=rpm&from=${at(0)}&to=${at(HOUR)}&step=1h`, who.analyst);
    expect(rpm.json().buckets).toMatchObject([{ count: 1, avg: 1500 }]);
    expect((await get('/v1/devices/m-2/metrics', readKey)).json()).toEqual({ device: 'm-2', metrics: ['temperature'] });
  });

  it('answers an empty list before any rollup, and 404 for a device the caller may not see', async () => {
    expect((await app.inject({ method: 'POST', url: '/v1/devices', headers: auth(t.adminKey), payload: { id: 'fresh-1', kind: 'sensor' } })).statusCode).toBe(201);
    expect((await get('/v1/devices/fresh-1/metrics', who.analyst)).json()).toEqual({ device: 'fresh-1', metrics: [] });
    expect((await get('/v1/devices/p-1/metrics', who.analyst)).statusCode).toBe(404);
    expect((await get('/v1/devices/m-2/metrics', boundKey)).statusCode).toBe(404);
    expect((await get('/v1/devices/nope/metrics', who.admin)).statusCode).toBe(404);
  });

  it('audits patient reads', async () => {
    const res = await get('/v1/devices/p-1/metrics', who.clinician);
    expect(res.json()).toEqual({ device: 'p-1', metrics: ['heart_rate'] });
    expect((await auditRecords(t, 'device.metrics.read'))[0]).toMatchObject({ actor: 'user:dev-clinician', resource: 'device:p-1', details: { metrics: 1 } });
  });
});

describe('hostile parameters', () => {
  it('answer 400 or 404 and change nothing', async () => {
    const count = async () => Number((await sql<{ n: number }>`select count(*)::int as n from devices`.execute(t.platform.db.kysely)).rows[0]!.n);
    const before = await count();
    const urls = [
      `/v1/devices/${encodeURIComponent("m-1'; drop table devices; --")}`,
      `/v1/devices/${encodeURIComponent('../../etc/passwd')}`,
      '/v1/devices/..%2F..%2Fetc%2Fpasswd/latest',
      '/v1/devices/%00',
      `/v1/devices/m-1/series?metric=${encodeURIComponent("temperature' or '1'='1")}`,
      `/v1/devices?kind=${encodeURIComponent("machine' or 1=1 --")}`,
      `/v1/devices?lastSeenAfter=${encodeURIComponent("2025-01-01T00:00:00Z'; delete from devices; --")}`,
      `/v1/devices?cursor=${encodeURIComponent("'; drop table devices; --")}`,
    ];
    for (const url of urls) {
      const res = await get(url, who.admin);
      expect([400, 404], `${url}: ${res.body}`).toContain(res.statusCode);
    }
    // Valid as a value, so it is a parameter: it matches no tag.
    const tag = await get(`/v1/devices?tag=${encodeURIComponent("site:a' or '1'='1")}`, who.admin);
    expect(ids(tag)).toEqual([]);
    const patch = await app.inject({ method: 'PATCH', url: `/v1/devices/${encodeURIComponent("x' or '1'='1")}`, headers: auth(t.adminKey), payload: { name: 'pwned' } });
    expect(patch.statusCode).toBe(400);
    expect(await count()).toBe(before);
    expect(ids(await get('/v1/devices?tag=site:a', who.admin))).toEqual(['m-1']);
  });
});

describe('when the audit log cannot be written', () => {
  it('refuses patient reads and changes with 503 and returns no data', async () => {
    await sql`alter table audit_log rename to audit_log_away`.execute(t.platform.db.kysely);
    try {
      for (const url of ['/v1/devices/p-1', '/v1/devices/p-1/latest', '/v1/devices/p-1/metrics', `/v1/devices/p-1/series?metric=heart_rate&from=${at(0)}&to=${at(HOUR)}`, '/v1/devices?kind=patient']) {
        const res = await get(url, who.clinician);
        expect(res.statusCode, url).toBe(503);
        expect(res.json(), url).toEqual({ error: { code: 'STRATA_ERR_HTTP_AUDIT_UNAVAILABLE', message: expect.any(String) } });
        expect(res.headers['retry-after']).toBe('1');
      }
      // Nothing to audit: machines are served as usual.
      expect((await get('/v1/devices/m-1/latest', who.operator)).statusCode).toBe(200);
      // A change whose audit record cannot be written does not happen.
      const patch = await app.inject({ method: 'PATCH', url: '/v1/devices/m-2', headers: auth(who.operator), payload: { name: 'unaudited' } });
      expect(patch.statusCode).toBe(503);
      const create = await app.inject({ method: 'POST', url: '/v1/devices', headers: auth(who.operator), payload: { id: 'ghost', kind: 'sensor' } });
      expect(create.statusCode).toBe(503);
    } finally {
      await sql`alter table audit_log_away rename to audit_log`.execute(t.platform.db.kysely);
    }
    expect((await get('/v1/devices/m-2', who.operator)).json().name).toBeNull();
    expect((await get('/v1/devices/ghost', who.admin)).statusCode).toBe(404);
  });
});

describe('OpenAPI', () => {
  it('documents the device routes with tags, summaries and parameters', async () => {
    const doc = (await app.inject('/openapi.json')).json();
    for (const [path, method] of [['/v1/devices', 'get'], ['/v1/devices', 'post'], ['/v1/devices/{id}', 'get'], ['/v1/devices/{id}', 'patch'], ['/v1/devices/{id}/latest', 'get'], ['/v1/devices/{id}/metrics', 'get'], ['/v1/devices/{id}/series', 'get']] as const) {
      const op = doc.paths[path]?.[method];
      expect(op, `${method} ${path}`).toBeDefined();
      expect(op.summary, `${method} ${path}`).toBeTruthy();
      expect(op.tags.length, `${method} ${path}`).toBeGreaterThan(0);
    }
    const series = doc.paths['/v1/devices/{id}/series'].get;
    expect(series.parameters.map((p: { name: string }) => p.name).sort()).toEqual(['from', 'id', 'metric', 'step', 'to']);
  });
});
