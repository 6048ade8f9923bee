import { existsSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlatform, type TestPlatform } from './test-platform.js';

/** One process per role set, on one data dir each: what each serves, and what it leaves to others. */
describe('roles', () => {
  let ingestOnly: TestPlatform;
  let apiOnly: TestPlatform;
  let workers: TestPlatform;
  beforeAll(async () => {
    [ingestOnly, apiOnly, workers] = await Promise.all([
      startTestPlatform({ roles: ['ingest'] }),
      startTestPlatform({ roles: ['api'] }),
      startTestPlatform({ roles: ['delivery', 'state', 'rules', 'lake'] }),
    ]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([ingestOnly?.close(), apiOnly?.close(), workers?.close()]);
  });

  const get = (t: TestPlatform, url: string) => t.platform.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${t.adminKey}` } });
  const ingest = (t: TestPlatform) =>
    t.platform.app.inject({ method: 'POST', url: '/v1/ingest', headers: { authorization: `Bearer ${t.adminKey}`, 'content-type': 'application/json' }, payload: { device: 'd1', metrics: { t: 1 } } });

  it('an ingest process takes telemetry over HTTP and MQTT and serves no API', async () => {
    expect((await ingest(ingestOnly)).statusCode).toBe(200);
    expect(ingestOnly.platform.mqttPort).toBeGreaterThan(0);
    expect((await get(ingestOnly, '/v1/devices')).statusCode).toBe(404);
    expect(ingestOnly.platform.delivery).toBeUndefined();
    expect(ingestOnly.platform.state).toBeUndefined();
    expect(ingestOnly.platform.rules).toBeUndefined();
  });

  it('signs devices in to MQTT with a key for that device, never with an admin key', async () => {
    const { directory } = ingestOnly.platform.auth;
    const deviceKey = (await directory.createKey({ scopes: ['ingest'], device: 'pump-7' }, { actor: 'test' })).key;
    const connect = async (username: string, password: string): Promise<string> => {
      const client = mqtt.connect(`mqtt://127.0.0.1:${ingestOnly.platform.mqttPort}`, { username, password, reconnectPeriod: 0, connectTimeout: 5000 });
      try {
        return await new Promise<string>((resolve) => {
          client.once('connect', () => resolve('connected'));
          client.once('error', (err) => resolve(err.message));
        });
      } finally {
        await client.endAsync(true);
      }
    };
    expect(await connect('pump-7', deviceKey)).toBe('connected');
    expect(await connect('pump-8', deviceKey)).toMatch(/Not authorized/i);
    expect(await connect('pump-7', ingestOnly.adminKey)).toMatch(/Not authorized/i);
    expect(await connect('pump-7', 'stk_000000000000_' + 'x'.repeat(43))).toMatch(/Not authorized/i);
  });

  it('an API process serves the API, not ingest, and runs no consumers', async () => {
    expect((await get(apiOnly, '/v1/devices')).statusCode).toBe(200);
    expect((await get(apiOnly, '/v1/rules')).statusCode).toBe(200);
    expect((await ingest(apiOnly)).statusCode).toBe(404);
    expect(apiOnly.platform.mqttPort).toBeUndefined();
    expect(apiOnly.platform.state).toBeUndefined();
    expect(apiOnly.platform.delivery).toBeUndefined();
  });

  it('a worker process runs delivery, state, rules and lake jobs behind health, readiness and metrics only', async () => {
    expect(workers.platform.delivery).toBeDefined();
    expect(workers.platform.state).toBeDefined();
    expect(workers.platform.rules).toBeDefined();
    expect(workers.platform.lake).toBeDefined();
    expect((await get(workers, '/ready')).statusCode).toBe(200);
    expect((await get(workers, '/metrics')).statusCode).toBe(200);
    expect((await get(workers, '/v1/devices')).statusCode).toBe(404);
    expect((await ingest(workers)).statusCode).toBe(404);
  });

  it('makes the admin key in the API process only', () => {
    expect(existsSync(join(apiOnly.dataDir, 'admin.key'))).toBe(true);
    expect(existsSync(join(ingestOnly.dataDir, 'admin.key'))).toBe(false);
    expect(existsSync(join(workers.dataDir, 'admin.key'))).toBe(false);
  });
});
