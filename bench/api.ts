/**
 * bench:api — the read API and the state consumer, each next to a baseline measured in the same
 * run (ratios survive a noisy shared machine). Loopback only, bounded in time.
 *
 *   npm run bench:api [-- --seconds 10 --devices 200 --pg]
 *
 * `--pg` runs it all on a PostgreSQL 15 server started for the run (scripts/engines.sh install)
 * instead of the embedded PGlite.
 * 1. `strata start` (embedded engines, no demo, rate limits off) gets an hour of telemetry for
 *    N devices × 3 metrics through POST /v1/ingest, and the state consumer catches up.
 * 2. Reads at a fixed concurrency (32) with an API key: `GET /v1/devices/:id/latest` and
 *    `GET /v1/devices/:id/series` (the last hour in 1-minute buckets), random devices; baseline:
 *    a bare Fastify route answering a constant latest-values body (the HTTP ceiling).
 * 3. bench/state.ts: the state consumer's sustained events/s into the database against the
 *    ingest path's events/s for the same events (ratio ≥ 1: it keeps up with ingest at full speed).
 * Writes bench/results/api.json.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { startPostgres, startServerProcess, tempDir } from '@strata/testkit';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const seconds = arg('seconds', 10);
const onServer = process.argv.includes('--pg');
const DEVICES = arg('devices', 200);
const CONNECTIONS = 32;
const here = fileURLToPath(new URL('.', import.meta.url));
const device = (i: number) => `sensor-${String(i).padStart(4, '0')}`;

interface Reads {
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
}

async function reads(url: string, key: string, path: (i: number) => string): Promise<Reads> {
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: seconds,
    headers: { authorization: `Bearer ${key}` },
    requests: [{ setupRequest: (req) => ({ ...req, path: path(Math.floor(Math.random() * DEVICES)) }) }],
  });
  return { requestsPerSec: Math.round(result.requests.average), p50Ms: result.latency.p50, p99Ms: result.latency.p99, non2xx: result.non2xx + result.errors };
}

async function startBare(): Promise<{ url: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'bare-server.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const msg = JSON.parse(line) as { url?: string };
      if (msg.url) resolve(msg.url);
    });
    child.once('exit', (code) => reject(new Error(`bare server exited ${code}`)));
  });
  return { url, stop: () => new Promise((resolve) => (child.once('exit', () => resolve()), child.kill('SIGTERM'))) };
}

async function json<T>(url: string, init: RequestInit & { key: string }): Promise<T> {
  const res = await fetch(url, { ...init, headers: { authorization: `Bearer ${init.key}`, 'content-type': 'application/json', ...init.headers } });
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

const pg = onServer ? await startPostgres() : undefined;
const dbArgs = async () => (pg ? ['--db', await pg.createDatabase()] : []);
const data = tempDir('bench-api');
const strata = await startServerProcess(['--data', data.dir, '--no-demo', ...(await dbArgs())], {
  STRATA_LOG_LEVEL: 'warn',
  STRATA_RATE_LIMIT__PER_SECOND: '0',
  STRATA_RATE_LIMIT__INGEST_PER_SECOND: '0',
});
const bare = await startBare();
try {
  const adminKey = readFileSync(join(data.dir, 'admin.key'), 'utf8').trim();
  const { key: readKey } = await json<{ key: string }>(`${strata.url}/v1/keys`, { method: 'POST', key: adminKey, body: JSON.stringify({ scopes: ['read'] }) });

  // An hour of readings every 10 s: 360 per device, 3 metrics each.
  const now = Math.floor(Date.now() / 60_000) * 60_000;
  const events = [];
  for (let k = 0; k < 360; k++) {
    for (let d = 0; d < DEVICES; d++) {
      events.push({ device: device(d), ts: new Date(now - 3_600_000 + k * 10_000).toISOString(), metrics: { temperature: 20 + ((d + k) % 50) / 10, humidity: 40 + (k % 20), vibration: (d % 7) / 10 }, tags: { kind: 'sensor' } });
    }
  }
  for (let i = 0; i < events.length; i += 1000) {
    await json(`${strata.url}/v1/ingest`, { method: 'POST', key: adminKey, body: JSON.stringify(events.slice(i, i + 1000)) });
  }
  // Caught up when the last reading of the last device is the latest value.
  const last = events.at(-1)!;
  for (;;) {
    const latest = await fetch(`${strata.url}/v1/devices/${last.device}/latest`, { headers: { authorization: `Bearer ${readKey}` } });
    if (latest.ok && JSON.stringify(await latest.json()).includes(last.ts)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  console.log(`bench:api: ${events.length} events for ${DEVICES} devices in the store; ${seconds} s per run, ${CONNECTIONS} connections`);

  const from = new Date(now - 3_600_000).toISOString();
  const results = {
    'bare.latest': await reads(bare.url, readKey, (i) => `/v1/devices/${device(i)}/latest`),
    'strata.latest': await reads(strata.url, readKey, (i) => `/v1/devices/${device(i)}/latest`),
    'strata.series': await reads(strata.url, readKey, (i) => `/v1/devices/${device(i)}/series?metric=temperature&from=${from}&step=1m`),
  };
  for (const [name, r] of Object.entries(results)) console.log(`${name.padEnd(14)} ${r.requestsPerSec} req/s  p50 ${r.p50Ms} ms  p99 ${r.p99Ms} ms  non-2xx ${r.non2xx}`);
  await bare.stop();
  strata.child.kill('SIGTERM');
  await strata.exited;

  // The state consumer against the ingest path, same events, same run.
  const dbArgsForState = await dbArgs();
  const state = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'state.ts'), ...dbArgsForState], { stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(readFileSync(join(here, 'results', onServer ? 'state-pg.json' : 'state.json'), 'utf8')) as Record<string, unknown>) : reject(new Error(`bench/state.ts exited ${code}`))));
  });

  const result = {
    bench: 'api',
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model.split(' ').slice(0, 2).join(' '), memGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
    setup: { devices: DEVICES, eventsStored: events.length, seconds, connections: CONNECTIONS, database: onServer ? 'postgresql 15 (server)' : 'pglite (embedded)' },
    reads: results,
    ratios: {
      latestVsBare: Number((results['strata.latest'].requestsPerSec / results['bare.latest'].requestsPerSec).toFixed(3)),
      seriesVsBare: Number((results['strata.series'].requestsPerSec / results['bare.latest'].requestsPerSec).toFixed(3)),
      stateVsIngest: (state.ratios as { stateVsIngest: number }).stateVsIngest,
    },
    state: { ingestEventsPerSec: (state.ingest as { eventsPerSec: number }).eventsPerSec, stateEventsPerSec: (state.state as { eventsPerSec: number }).eventsPerSec, input: state.input },
  };
  mkdirSync(join(here, 'results'), { recursive: true });
  writeFileSync(join(here, 'results', onServer ? 'api-pg.json' : 'api.json'), JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify(result.ratios));
} finally {
  await bare.stop().catch(() => undefined);
  if (strata.child.exitCode === null) strata.child.kill('SIGKILL');
  data.remove();
  await pg?.close();
}
