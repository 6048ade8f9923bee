import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlatform, type TestPlatform } from './test-platform.js';

let t: TestPlatform;
beforeAll(async () => {
  t = await startTestPlatform();
});
afterAll(async () => t.close());

describe('/metrics', () => {
  it('passes promtool check metrics after traffic of every kind', async () => {
    const app = t.platform.app;
    const headers = { authorization: `Bearer ${t.adminKey}`, 'content-type': 'application/json' };
    await app.inject({ method: 'POST', url: '/v1/ingest', headers, payload: [{ sensorId: 'm-1', temperature: 20 }] });
    await app.inject({ method: 'POST', url: '/v1/ingest', headers, payload: [{ sensorId: 'bad id', temperature: 20 }] });
    await app.inject({ method: 'POST', url: '/v1/ingest', headers: { 'content-type': 'application/json' }, payload: '{}' });
    await app.inject({ method: 'POST', url: '/v1/admin/flush', headers: { authorization: headers.authorization } });
    const res = await app.inject({ url: '/metrics', headers: { authorization: headers.authorization } });
    expect(res.statusCode).toBe(200);
    expect(res.body).toMatch(/^strata_ingest_rejected_total\{reason="invalid"\} 1$/m);
    expect(res.body).toMatch(/^strata_ingest_rejected_total\{reason="unauthorized"\} 1$/m);
    expect(res.body).toMatch(/^strata_delivery_flushes_total [1-9]/m);

    const check = spawnSync('promtool', ['check', 'metrics'], { input: res.body, encoding: 'utf8' });
    expect(check.error).toBeUndefined();
    expect(check.stdout + check.stderr).toBe('');
    expect(check.status).toBe(0);
  });
});
