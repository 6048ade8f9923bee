/**
 * `strata doctor` against a real deployment: `strata start` as a child process on a real
 * PostgreSQL 15 server (`db.url`), the local lake and stream in its data dir, and `strata doctor`
 * run as a user runs it (a child process, `--config` and `--data` of that deployment, `--url` of the
 * server, the admin key read from `DATA/admin.key`, `--format json`). A healthy deployment: every
 * check passes or is a documented skip, exit 0. Then real faults, one at a time: a lake zone that
 * cannot be written (its directory replaced by a file: the tests run as root, which mode bits do
 * not stop), and PostgreSQL stopped; the matching checks fail, the others do not, exit 1.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startPostgres, startServerProcess, tempDir, waitUntil, type PostgresServer, type ServerProcess } from '@strata/testkit';
import type { DoctorResult, DoctorStatus } from './doctor.js';

const CLI = fileURLToPath(new URL('../../../../apps/cli/bin/strata.js', import.meta.url));

let pg: PostgresServer | undefined;
let server: ServerProcess | undefined;
let tmp: ReturnType<typeof tempDir> | undefined;
let configFile: string;
let dataDir: string;

beforeAll(async () => {
  tmp = tempDir('doctor-engines');
  pg = await startPostgres();
  dataDir = join(tmp.dir, 'data');
  configFile = join(tmp.dir, 'strata.yaml');
  writeFileSync(configFile, stringify({ db: { url: await pg.createDatabase('strata_doctor') }, log: { level: 'warn' } }));
  server = await startServerProcess(['--config', configFile, '--data', dataDir, '--no-demo', '--host', '127.0.0.1'], {}, 60_000);
  // A deployment in use: a few events in, and its consumer groups have committed them (an idle,
  // brand-new one warns on stream.consumer_lag: no group has committed yet).
  const auth = { authorization: `Bearer ${readFileSync(join(dataDir, 'admin.key'), 'utf8').trim()}` };
  const events = Array.from({ length: 5 }, (_, i) => ({ id: `doctor-${i}`, device: `pump-${i}`, ts: new Date().toISOString(), metrics: { rpm: 100 + i } }));
  const res = await fetch(`${server.url}/v1/ingest`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(events) });
  expect(res.status).toBe(200);
  await waitUntil('consumer groups to commit', async () => /^strata_stream_consumer_lag_records\{.*\} 0$/m.test(await (await fetch(`${server!.url}/metrics`, { headers: auth })).text()), 30_000, 200);
});

afterAll(async () => {
  if (server && server.child.exitCode === null && server.child.signalCode === null) {
    const s = server;
    s.child.kill('SIGTERM');
    const killer = setTimeout(() => s.child.kill('SIGKILL'), 15_000);
    await s.exited;
    clearTimeout(killer);
  }
  await pg?.close();
  tmp?.remove();
});

interface DoctorRun {
  code: number;
  ok: boolean;
  results: DoctorResult[];
  status: Record<string, DoctorStatus>;
  stderr: string;
}

/** `strata doctor --format json` as a child process; its exit code and parsed report. */
function doctor(): Promise<DoctorRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'doctor', '--config', configFile, '--data', dataDir, '--url', server!.url, '--format', 'json'], {
      env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('STRATA_'))), // only the config file and flags
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Kill a doctor that hangs rather than leave it behind (no assertion on the time it takes).
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(killer);
      try {
        const report = JSON.parse(stdout) as { ok: boolean; results: DoctorResult[] };
        resolve({ code: code ?? (signal ? -1 : -2), ok: report.ok, results: report.results, status: Object.fromEntries(report.results.map((r) => [r.id, r.status])), stderr });
      } catch (err) {
        reject(new Error(`strata doctor exited ${code ?? signal} without a JSON report: ${stdout}\n${stderr}`, { cause: err }));
      }
    });
  });
}

/** Checks a healthy deployment of this config skips, and the reason it gives. */
const HEALTHY_SKIPS = { 'tls.certificates': 'no TLS listener configured' };
const ZONES = ['raw', 'errors', 'bronze', 'quarantine', 'silver', 'gold', '_state'];

describe('strata doctor against a running platform on PostgreSQL', () => {
  let healthy: DoctorRun;

  it('passes a healthy deployment: every check pass or a documented skip, exit 0', async () => {
    healthy = await doctor();
    const notPassing = healthy.results.filter((r) => r.status !== 'pass').map((r) => ({ id: r.id, status: r.status, detail: r.detail }));
    expect(notPassing).toEqual(Object.entries(HEALTHY_SKIPS).map(([id, detail]) => ({ id, status: 'skip', detail })));
    expect(healthy.code).toBe(0);
    expect(healthy.ok).toBe(true);
    // The checks that prove it talked to the real things, not just that nothing failed.
    const detail = (id: string) => healthy.results.find((r) => r.id === id)?.detail;
    expect(detail('db.reachable')).toMatch(/^PostgreSQL 15\./);
    expect(detail('db.migrations')).toMatch(/^\d+ applied, latest /);
    expect(detail('secrets.round_trip')).toBe('with the platform secret');
    expect(detail('admin_key.file')).toMatch(/admin\.key mode 600$/);
    expect(detail('config.valid')).toContain('db server');
    for (const zone of ZONES) expect(detail(`storage.${zone}`)).toBe('local: put, get, delete');
    expect(healthy.results.length).toBe(27);
    // The probes are gone: no `_doctor/` left in any zone.
    const lake = join(dataDir, 'lake');
    for (const zone of ZONES) expect(existsSync(join(lake, zone, '_doctor')) && readdirSync(join(lake, zone, '_doctor')).length > 0).toBe(false);
  });

  it('fails storage.gold when the gold zone cannot be written, and nothing else', async () => {
    const gold = join(dataDir, 'lake', 'gold');
    const aside = join(dataDir, 'lake', 'gold.aside');
    const had = existsSync(gold);
    if (had) renameSync(gold, aside);
    mkdirSync(join(dataDir, 'lake'), { recursive: true });
    writeFileSync(gold, 'not a directory'); // gold/… cannot be created by anyone: ENOTDIR
    try {
      const broken = await doctor();
      expect(broken.results.filter((r) => r.status === 'fail').map((r) => r.id)).toEqual(['storage.gold']);
      expect(broken.results.find((r) => r.id === 'storage.gold')?.detail).toMatch(/gold\/_doctor\/probe-/);
      expect({ ...broken.status, 'storage.gold': 'pass' }).toEqual(healthy.status);
      expect(broken.ok).toBe(false);
      expect(broken.code).toBe(1);
    } finally {
      rmSync(gold, { force: true });
      if (had) renameSync(aside, gold);
    }
  });

  it('fails the database checks and readiness when PostgreSQL is stopped, exit 1', async () => {
    await pg!.stop();
    const down = await doctor();
    const detail = (id: string) => down.results.find((r) => r.id === id)?.detail;
    // Every check that needs the database fails, each saying why; the API looks keys up in it.
    expect(down.results.filter((r) => r.status === 'fail').map((r) => r.id).sort()).toEqual(['api.auth', 'api.ready', 'db.migrations', 'db.reachable', 'secrets.master_key']);
    expect(detail('db.reachable')).toMatch(/ECONNREFUSED/);
    expect(detail('api.ready')).toMatch(/^503 /);
    expect(detail('api.auth')).toMatch(/^5\d\d: the server could not check the key/);
    // The rest of the deployment still answers as before: the API is up, the lake is writable.
    expect(down.status).toMatchObject({ 'api.health': 'pass', 'api.openapi': 'pass', 'secrets.round_trip': 'pass', ...Object.fromEntries(ZONES.map((z) => [`storage.${z}`, 'pass'])) });
    expect(down.ok).toBe(false);
    expect(down.code).toBe(1);
  });
});
