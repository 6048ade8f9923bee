/**
 * The web role's static serving (./web.ts) on a fake build, and the dashboard's JSON routes. No
 * browser: the browser tests are dashboard.engines.test.ts.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync, brotliCompressSync } from 'node:zlib';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installAuthHook } from '@strata/auth';
import { tempDir } from '@strata/testkit';
import { startTestPlatform, type TestPlatform } from './test-platform.js';
import { webRoutes } from './web.js';

let t: TestPlatform;
const dist = tempDir('web-dist');
const INDEX = '<!doctype html><title>Strata</title><div id="root"></div><script type="module" src="/assets/index-abc123.js"></script>';
const JS = `console.log(${JSON.stringify('x'.repeat(2000))});`;

async function webApp(root: string): Promise<FastifyInstance> {
  const app = Fastify();
  installAuthHook(app, t.platform.auth);
  await app.register(webRoutes, { root, directory: t.platform.auth.directory, sessions: t.platform.auth.sessions });
  await app.ready();
  return app;
}

beforeAll(async () => {
  // One lake object before start, for the overview's lake size.
  t = await startTestPlatform({}, undefined, (dataDir) => {
    mkdirSync(join(dataDir, 'lake', 'raw', 'telemetry'), { recursive: true });
    writeFileSync(join(dataDir, 'lake', 'raw', 'telemetry', 'before-start.ndjson.gz'), Buffer.alloc(1234));
  });
  mkdirSync(join(dist.dir, 'assets'));
  writeFileSync(join(dist.dir, 'index.html'), INDEX);
  writeFileSync(join(dist.dir, 'index.html.br'), brotliCompressSync(INDEX));
  writeFileSync(join(dist.dir, 'index.html.gz'), gzipSync(INDEX));
  writeFileSync(join(dist.dir, 'assets', 'index-abc123.js'), JS);
  writeFileSync(join(dist.dir, 'assets', 'index-abc123.js.gz'), gzipSync(JS));
});
afterAll(async () => {
  await t.close();
  dist.remove();
});

describe('the built dashboard', () => {
  it('is served at / to anyone, never cached stale, compressed when the browser accepts it', async () => {
    const app = await webApp(dist.dir);
    const plain = await app.inject('/');
    expect(plain.statusCode).toBe(200);
    expect(plain.headers['content-type']).toMatch(/text\/html/);
    expect(plain.headers['cache-control']).toBe('no-cache');
    expect(plain.body).toBe(INDEX);
    const br = await app.inject({ url: '/', headers: { 'accept-encoding': 'br, gzip' } });
    expect(br.headers['content-encoding']).toBe('br');
    expect(br.headers.vary).toMatch(/accept-encoding/i);
    expect(br.rawPayload.length).toBeLessThan(INDEX.length);
    await app.close();
  });

  it('serves hashed assets as immutable, and only files that exist', async () => {
    const app = await webApp(dist.dir);
    const js = await app.inject({ url: '/assets/index-abc123.js', headers: { 'accept-encoding': 'gzip' } });
    expect(js.statusCode).toBe(200);
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(js.headers['content-encoding']).toBe('gzip');
    expect(js.headers['content-type']).toMatch(/javascript/);
    expect((await app.inject('/assets/missing.js')).statusCode).toBe(404);
    expect((await app.inject('/assets/..%2F..%2Fetc%2Fpasswd')).statusCode).toBe(404);
    expect((await app.inject('/..%2Fweb.ts')).statusCode).toBe(404);
    await app.close();
  });

  it('answers page paths with index.html (SPA fallback) but unknown API paths as the API does', async () => {
    const app = await webApp(dist.dir);
    const page = await app.inject('/devices/pump-7');
    expect(page.statusCode).toBe(200);
    expect(page.body).toBe(INDEX);
    expect((await app.inject('/v1/no-such-route')).statusCode).toBe(401);
    expect((await app.inject({ url: '/v1/no-such-route', headers: { authorization: 'Bearer stk_000000000000_nope' } })).statusCode).toBe(401);
    expect((await app.inject({ url: '/v1/no-such-route', headers: { authorization: `Bearer ${t.adminKey}` } })).statusCode).toBe(404);
    expect((await app.inject('/metrics/x')).statusCode).toBe(401);
    await app.close();
  });

  it('says so at / when the dashboard is not built', async () => {
    const app = await webApp(join(dist.dir, 'nothing-here'));
    const res = await app.inject('/');
    expect(res.statusCode).toBe(200);
    expect(res.body).toMatch(/dashboard is not built/);
    await app.close();
  });
});

describe('the platform with the web role', () => {
  it('keeps / public and out of the API document', async () => {
    expect((await t.platform.app.inject('/')).statusCode).toBe(200);
    const doc = (await t.platform.app.inject('/openapi.json')).json<{ paths: Record<string, unknown> }>();
    expect(Object.keys(doc.paths).filter((p) => p === '/' || p.startsWith('/assets') || p === '/*')).toEqual([]);
    expect(Object.keys(doc.paths)).toContain('/v1/overview');
  });

  it('gives the overview in one call, counting only the kinds the caller may see', async () => {
    const { directory, sessions } = t.platform.auth;
    await t.platform.db.kysely
      .insertInto('devices')
      .values([
        { id: 'm-web', kind: 'machine', metadata: '{}', tags: '{}', last_seen: new Date() },
        { id: 'p-web', kind: 'patient', metadata: '{}', tags: '{}', last_seen: new Date(Date.now() - 3_600_000) },
      ])
      .execute();
    const admin = await t.platform.app.inject({ url: '/v1/overview', headers: { authorization: `Bearer ${t.adminKey}` } });
    expect(admin.statusCode).toBe(200);
    const body = admin.json<{ devices: { online: number; offline: number; byKind: Record<string, number> }; alerts: Record<string, number> | null; lag: unknown[]; storage: { streamBytes: number } }>();
    expect(body.devices).toMatchObject({ online: 1, offline: 1, byKind: { machine: 1, patient: 1 } });
    expect(body.alerts).toMatchObject({ critical: 0, high: 0 });
    expect(typeof body.storage.streamBytes).toBe('number');
    // The lake is measured in the background when the overview is read (at most every 5 min): every object's size, as listed.
    let listed = 0;
    for await (const o of t.platform.store.list('')) listed += o.size;
    expect(listed).toBeGreaterThanOrEqual(1234);
    let lake: { lakeBytes: number | null; lakeMeasuredAt: string | null } = { lakeBytes: null, lakeMeasuredAt: null };
    for (let i = 0; i < 50 && lake.lakeMeasuredAt === null; i++) {
      lake = (await t.platform.app.inject({ url: '/v1/overview', headers: { authorization: `Bearer ${t.adminKey}` } })).json<{ storage: typeof lake }>().storage;
      if (lake.lakeMeasuredAt === null) await new Promise((r) => setTimeout(r, 100));
    }
    expect(lake.lakeBytes).toBe(listed);

    await directory.createUser({ username: 'web-analyst', password: 'Correct-horse-battery-42', role: 'analyst' }, { actor: 'test' });
    const { accessToken } = await sessions.login('web-analyst', 'Correct-horse-battery-42', {});
    const analyst = (await t.platform.app.inject({ url: '/v1/overview', headers: { authorization: `Bearer ${accessToken}` } })).json<typeof body>();
    expect(analyst.devices.byKind).toEqual({ machine: 1 });
    expect(analyst.alerts).toBeNull();
  });

  it('scores a patient with NEWS2, with band and clinical response, for those who may see patients only', async () => {
    const now = new Date();
    await t.platform.db.kysely
      .insertInto('devices')
      .values({ id: 'p-news', kind: 'patient', metadata: '{}', tags: '{}', last_seen: now })
      .execute();
    await t.platform.db.kysely
      .insertInto('latest_values')
      .values([
        { device: 'p-news', metric: 'respiration_rate', ts: now, value: 26, event_id: 'e1' },
        { device: 'p-news', metric: 'heart_rate', ts: now, value: 135, event_id: 'e1' },
        { device: 'p-news', metric: 'spo2', ts: now, value: 90, event_id: 'e1' },
      ])
      .execute();
    const res = await t.platform.app.inject({ url: '/v1/patients/p-news/news2', headers: { authorization: `Bearer ${t.adminKey}` } });
    expect(res.statusCode).toBe(200);
    const current = res.json<{ current: { score: number; level: string; band: string; response: string; partial: boolean } }>().current;
    expect(current).toMatchObject({ score: 9, level: 'high', partial: true });
    expect(current.response).toMatch(/critical-care/);
    expect((await t.platform.app.inject({ url: '/v1/patients/m-web/news2', headers: { authorization: `Bearer ${t.adminKey}` } })).statusCode).toBe(404);
  });
});
