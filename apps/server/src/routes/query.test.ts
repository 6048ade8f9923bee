import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Lakehouse } from '@strata/lake';
import { startTestPlatform, type TestPlatform } from '../test-platform.js';
import { auditRecords, auth, createKey, ingest, usersOfEachRole, type Callers } from './test-support.js';

let t: TestPlatform;
let app: FastifyInstance;
let lake: Lakehouse;
let who: Callers;
let readKey: string;
let bronzeFile: string;

const DAY = '2026-11-20';
const at = (minute: number) => new Date(Date.parse(`${DAY}T10:00:00Z`) + minute * 60_000).toISOString();

beforeAll(async () => {
  t = await startTestPlatform();
  app = t.platform.app;
  lake = t.platform.lake!;
  who = await usersOfEachRole(t, 'lq');
  readKey = await createKey(app, t.adminKey, { scopes: ['read'] });
  // The whole path: ingest, delivery to the raw zone, the lake jobs.
  await ingest(t, [
    { device: 'press-1', ts: at(0), metrics: { temperature: 20 } },
    { device: 'press-1', ts: at(1), metrics: { temperature: 22 } },
    { device: 'press-2', ts: at(2), metrics: { temperature: 30 } },
  ]);
  const flushed = await app.inject({ method: 'POST', url: '/v1/admin/flush', headers: auth(t.adminKey) });
  expect(flushed.statusCode, flushed.body).toBe(200);
  await lake.run();
  const bronze = (await lake.tables('admin')).find((x) => x.spec.view === 'bronze')!;
  bronzeFile = bronze.paths[0]!;
  expect(bronzeFile).toBeDefined();
});
afterAll(async () => t.close());

const post = (credential: string, body: Record<string, unknown>) => app.inject({ method: 'POST', url: '/v1/query', headers: auth(credential), payload: body });

describe('POST /v1/query', () => {
  it('answers JSON rows of the lake tables', async () => {
    const res = await post(who.analyst, { sql: `SELECT metric, count(*) AS n, min(ts) AS first, any_value(dt) AS dt FROM silver GROUP BY metric` });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['x-strata-truncated']).toBe('false');
    const body = res.json();
    expect(body.columns).toEqual([
      { name: 'metric', type: 'VARCHAR' },
      { name: 'n', type: 'BIGINT' },
      { name: 'first', type: 'TIMESTAMP WITH TIME ZONE' },
      { name: 'dt', type: 'DATE' },
    ]);
    expect(body.rows).toEqual([{ metric: 'temperature', n: 3, first: at(0), dt: DAY }]);
    expect(body).toMatchObject({ rowCount: 1, truncated: false });
    expect(typeof body.elapsedMs).toBe('number');
  });

  it('lets admins (role or key) read bronze, and nobody else', async () => {
    for (const admin of [t.adminKey, who.admin]) {
      const res = await post(admin, { sql: 'SELECT count(*) AS n FROM bronze' });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().rows).toEqual([{ n: 3 }]);
    }
    for (const analyst of [who.analyst, readKey]) {
      for (const sql of ['SELECT * FROM bronze', `SELECT * FROM read_parquet('${bronzeFile}')`, 'SELECT * FROM quarantine']) {
        const res = await post(analyst, { sql });
        expect(res.statusCode, sql).toBe(400);
        expect(['STRATA_ERR_LAKE_QUERY_REJECTED', 'STRATA_ERR_LAKE_QUERY_FAILED']).toContain(res.json().error.code);
        expect(res.body).not.toContain('press-1');
      }
    }
  });

  it('never reads files of the machine, nor runs anything but one SELECT', async () => {
    for (const sql of [`SELECT * FROM read_text('/etc/passwd')`, `SELECT * FROM read_csv('/etc/passwd')`, `COPY (SELECT 1) TO '${t.dataDir}/x.csv'`, 'SET enable_external_access = true', 'SELECT 1; SELECT 2', 'DROP VIEW silver']) {
      const res = await post(t.adminKey, { sql });
      expect(res.statusCode, sql).toBe(400);
      expect(res.json().error.code, sql).toBe('STRATA_ERR_LAKE_QUERY_REJECTED');
      expect(res.body).not.toContain('root:x:0');
    }
    const failed = await post(who.analyst, { sql: 'SELECT nope FROM silver' });
    expect(failed.statusCode).toBe(400);
    expect(failed.json().error).toMatchObject({ code: 'STRATA_ERR_LAKE_QUERY_FAILED', message: expect.stringContaining('Binder Error') });
  });

  it('answers CSV as text/csv', async () => {
    const res = await post(readKey, { sql: 'SELECT metric, value FROM silver ORDER BY ts', format: 'csv', maxRows: 2 });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['x-strata-truncated']).toBe('true');
    expect(res.body).toBe('metric,value\r\ntemperature,20\r\ntemperature,22\r\n');
  });

  it('stops at maxRows, and checks the body', async () => {
    const res = await post(who.analyst, { sql: 'SELECT * FROM range(100)', maxRows: 10 });
    expect(res.json()).toMatchObject({ rowCount: 10, truncated: true });
    for (const body of [{ sql: '' }, { sql: 'SELECT 1', maxRows: 0 }, { sql: 'SELECT 1', maxRows: 100_001 }, { sql: 'SELECT 1', format: 'xml' }, { sql: 'SELECT 1', extra: 1 }, { sql: `SELECT '${'x'.repeat(100 * 1024)}'` }, {}]) {
      const bad = await post(who.analyst, body);
      expect(bad.statusCode, JSON.stringify(body).slice(0, 80)).toBe(400);
    }
  });

  it('is for admins, analysts and read keys only; a device-bound key is refused', async () => {
    for (const credential of [who.operator, who.clinician, await createKey(app, t.adminKey, { scopes: ['ingest'] })]) {
      expect((await post(credential, { sql: 'SELECT 1' })).statusCode).toBe(403);
    }
    const bound = await createKey(app, t.adminKey, { scopes: ['read'], device: 'press-1' });
    const res = await post(bound, { sql: 'SELECT 1' });
    expect(res.statusCode).toBe(403);
    expect(res.json().error.code).toBe('STRATA_ERR_AUTH_FORBIDDEN');
  });

  it('audits every query with its SQL and outcome', async () => {
    await post(who.analyst, { sql: 'SELECT 42 AS answer' });
    await post(who.analyst, { sql: `SELECT * FROM read_text('/etc/passwd')` });
    await post(who.analyst, { sql: 'SELECT nope' });
    const [failed, denied, ok] = await auditRecords(t, 'lake.query');
    expect(ok).toMatchObject({ actor: 'user:lq-analyst', resource: 'lake', outcome: 'success', details: { sql: 'SELECT 42 AS answer', role: 'analyst', format: 'json', rowCount: 1, truncated: false } });
    expect(denied).toMatchObject({ outcome: 'denied', details: { sql: `SELECT * FROM read_text('/etc/passwd')`, error: 'STRATA_ERR_LAKE_QUERY_REJECTED' } });
    expect(failed).toMatchObject({ outcome: 'failure', details: { sql: 'SELECT nope', error: 'STRATA_ERR_LAKE_QUERY_FAILED' } });
  });

  it('is in the OpenAPI document with its permission', async () => {
    const doc = (await app.inject('/openapi.json')).json();
    expect(doc.paths['/v1/query'].post['x-strata-permission']).toBe('lake:query');
    expect(Object.keys(doc.paths['/v1/query'].post.responses['200'].content).sort()).toEqual(['application/json', 'text/csv']);
  });
});
