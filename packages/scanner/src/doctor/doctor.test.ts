/**
 * The doctor on a real local object store and data dir, with the API, PostgreSQL and a TLS
 * certificate stood in for (a fetch answering like the server, a SQL stub, an openssl certificate
 * that expires tomorrow): each check says pass, warn, fail or skip for the right reason.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type StrataConfig } from '@strata/config';
import { openLocalStore, type ObjectStore } from '@strata/storage';
import { tempDir } from '@strata/testkit';
import { parseLag, runDoctor, renderDoctorTable, type DoctorOptions, type DoctorResult } from './doctor.js';

const KEY = `stk_${'a'.repeat(40)}`;
let tmp: ReturnType<typeof tempDir>;
let store: ObjectStore;
let config: StrataConfig;
let certFile: string;

beforeAll(async () => {
  tmp = tempDir('doctor');
  store = await openLocalStore({ root: join(tmp.dir, 'lake') });
  certFile = join(tmp.dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', join(tmp.dir, 'key.pem'), '-out', certFile], { stdio: 'ignore' });
  config = loadConfig({ overrides: { dataDir: tmp.dir, 'stream.retentionMs': 3_600_000, 'mqtt.tls': { certFile, keyFile: join(tmp.dir, 'key.pem'), port: 8883 } } });
});
afterAll(async () => {
  await store.close();
  tmp.remove();
});

/** A fetch answering like a healthy server, or with `status` for every route. */
function server(opts: { status?: number; lag?: number; dateOffsetMs?: number } = {}): typeof fetch {
  return (async (input: string | URL | Request) => {
    const path = new URL(String(input)).pathname;
    const headers = { date: new Date(Date.now() + (opts.dateOffsetMs ?? 0)).toUTCString() };
    if (opts.status) return new Response('{"error":{}}', { status: opts.status, headers });
    if (path === '/openapi.json') return new Response(JSON.stringify({ openapi: '3.1.0', paths: { '/health': {} } }), { headers });
    if (path === '/metrics') return new Response(`# HELP x\nstrata_stream_consumer_lag_records{topic="telemetry",group="delivery"} ${opts.lag ?? 3}\nstrata_stream_consumer_lag_records{topic="alerts",group="delivery"} 0\n`, { headers });
    return new Response('{"status":"ready"}', { headers });
  }) as typeof fetch;
}

const sql = (migrations: string[]) => ({
  query: async (text: string) => {
    if (text.startsWith('select version()')) return { rows: [{ v: 'PostgreSQL 15.8 on x86_64' }] };
    if (text.includes('schema_migrations')) return { rows: migrations.map((name) => ({ name })) };
    return { rows: [{ key: 'jwt_secret', value: Buffer.alloc(32, 1).toString('base64url') }, { key: 'lake_pseudonym_key', value: Buffer.alloc(32, 2).toString('base64url') }] };
  },
});

const statusOf = (results: DoctorResult[]) => Object.fromEntries(results.map((r) => [r.id, r.status]));
const run = (o: Partial<DoctorOptions> = {}) => runDoctor({ config, url: 'http://strata.test', adminKey: KEY, store, migrations: ['0001-initial', '0002-rules'], fetch: server(), ...o });

describe('strata doctor', () => {
  it('runs at least 20 checks and passes a healthy deployment, naming what it could not check', async () => {
    const { results, ok } = await run({ sql: sql(['0001-initial', '0002-rules']) });
    expect(results.length).toBeGreaterThanOrEqual(20);
    expect(statusOf(results)).toMatchObject({
      'api.health': 'pass', 'api.ready': 'pass', 'api.auth': 'pass', 'api.openapi': 'pass', 'clock.skew': 'pass', 'stream.consumer_lag': 'pass',
      'storage.raw': 'pass', 'storage.bronze': 'pass', 'storage.silver': 'pass', 'storage.gold': 'pass', 'storage.quarantine': 'pass', 'storage.errors': 'pass', 'storage._state': 'pass',
      'db.reachable': 'pass', 'db.migrations': 'pass', 'secrets.master_key': 'pass', 'secrets.round_trip': 'pass', 'admin_key.not_default': 'pass', 'admin_key.file': 'skip',
      // The certificate made here expires tomorrow; the stream keeps 1 h.
      'tls.certificates': 'warn', 'retention.stream': 'warn',
    });
    expect(ok).toBe(true);
    const probes: string[] = [];
    for await (const o of store.list('')) probes.push(o.key);
    expect(probes).toEqual([]);
    expect(renderDoctorTable(results)).toMatch(/checks: \d+ pass, 2 warn, 0 fail/);
  });

  it('fails when the API is down, the key is a default, migrations lag, lag is huge or the clock is off', async () => {
    const down = await run({ fetch: server({ status: 503 }) });
    expect(statusOf(down.results)).toMatchObject({ 'api.health': 'fail', 'api.ready': 'fail', 'api.auth': 'fail', 'stream.consumer_lag': 'fail' });
    expect(down.results.find((r) => r.id === 'api.auth')?.detail).toBe('503: the server could not check the key (see api.ready)');
    expect((await run({ fetch: server({ status: 401 }) })).results.find((r) => r.id === 'api.auth')?.detail).toBe('401: the key is unknown, revoked or not admin');
    expect(statusOf((await run({ adminKey: 'changeme' })).results)['admin_key.not_default']).toBe('fail');
    const behind = await run({ sql: sql(['0001-initial']) });
    expect(behind.ok).toBe(false);
    expect(behind.results.find((r) => r.id === 'db.migrations')?.detail).toContain('not applied: 0002-rules');
    expect(statusOf((await run({ sql: sql(['0001-initial', '0002-rules', '0099-future']) })).results)['db.migrations']).toBe('fail');
    expect(statusOf((await run({ fetch: server({ lag: 5_000_000 }) })).results)['stream.consumer_lag']).toBe('fail');
    expect(statusOf((await run({ fetch: server({ lag: 500_000 }) })).results)['stream.consumer_lag']).toBe('warn');
    expect(statusOf((await run({ fetch: server({ dateOffsetMs: 60_000 }) })).results)['clock.skew']).toBe('fail');
  });

  it('fails an admin key file others can read', async () => {
    const file = join(tmp.dir, 'admin.key');
    writeFileSync(file, KEY);
    chmodSync(file, 0o644);
    expect(statusOf((await run({ adminKeyFile: file })).results)['admin_key.file']).toBe('fail');
    chmodSync(file, 0o600);
    expect(statusOf((await run({ adminKeyFile: file })).results)['admin_key.file']).toBe('pass');
  });

  it('reads consumer lag from the Prometheus exposition', () => {
    expect(parseLag('strata_stream_consumer_lag_records{topic="t",group="g"} 42\nother 1\n')).toEqual([{ topic: 't', group: 'g', lag: 42 }]);
  });
});
