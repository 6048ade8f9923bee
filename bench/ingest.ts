/**
 * bench:ingest — durable ingest throughput and ack latency of `strata start` against a bare
 * Fastify endpoint (JSON parse + 200) under the same load in the same run, so the result is a
 * ratio that survives a noisy shared machine. Loopback only, bounded in time.
 *
 *   npm run bench:ingest [-- --seconds 10]
 *   npm run bench:ingest -- --engine nats    durable events/s on NATS JetStream (a local
 *                                            nats-server, R1, file storage) vs the embedded stream
 *
 * Writes bench/results/ingest.json (ingest-nats.json with --engine nats).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { pacedLoad, type PacedResult } from './paced-load.js';
import { startNats, startServerProcess, tempDir, type ServerProcess } from '@strata/testkit';

const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 10;
const engineArg = process.argv.indexOf('--engine') > 0 ? process.argv[process.argv.indexOf('--engine') + 1] : 'embedded';
if (engineArg !== 'embedded' && engineArg !== 'nats') throw new Error(`--engine must be embedded or nats, not ${engineArg}`);
const BATCH = 500;
const here = fileURLToPath(new URL('.', import.meta.url));

interface Run {
  requestsPerSec: number;
  eventsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
}

/** Realistic seed-002 events: a few hundred sensors, temperatures with decimals, current times. */
function bodies(count: number, size: number): string[] {
  const now = Date.now();
  return Array.from({ length: count }, (_, b) =>
    JSON.stringify(
      Array.from({ length: size }, (_, i) => ({
        sensorId: `sensor-${String((b * size + i) % 997).padStart(4, '0')}`,
        temperature: Math.round((20 + Math.random() * 60) * 100) / 100,
        humidity: Math.round(Math.random() * 1000) / 10,
        timestamp: new Date(now - i * 10).toISOString(),
      })),
    ),
  );
}

async function load(url: string, key: string, payloads: string[], opts: { connections: number; overallRate?: number }): Promise<Run> {
  let i = 0;
  const result = await autocannon({
    url: `${url}/v1/ingest`,
    method: 'POST',
    connections: opts.connections,
    duration: seconds,
    ...(opts.overallRate !== undefined && { overallRate: opts.overallRate }),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    requests: [{ setupRequest: (req) => ({ ...req, body: payloads[i++ % payloads.length] }) }],
  });
  const first: unknown = JSON.parse(payloads[0]!);
  const events = Array.isArray(first) ? first.length : 1;
  const ok = result['2xx'] / result.duration;
  return {
    requestsPerSec: Math.round(ok),
    eventsPerSec: Math.round(ok * events),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

function peakRssMb(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Math.round(Number(match[1]) / 1024) : -1;
}

async function startBare(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'bare-server.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve) => {
    createInterface({ input: child.stdout! }).on('line', (line) => resolve((JSON.parse(line) as { url: string }).url));
  });
  return { child, url };
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

async function countAccepted(url: string, key: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${key}` } })).text();
  return Number(/^strata_ingest_events_total (\d+)/m.exec(text)?.[1] ?? NaN);
}

const batchBodies = bodies(64, BATCH);
if (engineArg === 'nats') {
  await compareNats();
  process.exit(0);
}
const singleBodies = bodies(512, 1).map((b) => b.slice(1, -1)); // one object, not an array
const data = tempDir('bench');
const strata = await startServerProcess(['--data', data.dir, '--no-demo'], { STRATA_LOG_LEVEL: 'warn' });
const key = readFileSync(join(data.dir, 'admin.key'), 'utf8').trim();
const bare = await startBare();

console.log(`bench:ingest ${seconds}s per run, batches of ${BATCH}; ceiling = bare Fastify JSON endpoint`);
const runs: Record<string, Run> = {};
const step = async (name: string, url: string, payloads: string[], opts: { connections: number; overallRate?: number }) => {
  runs[name] = await load(url, key, payloads, opts);
  console.log(name.padEnd(28), JSON.stringify(runs[name]));
};
// Alternate the two servers so drift in machine load hits both alike.
await step('bare.batch500', bare.url, batchBodies, { connections: 16 });
await step('strata.batch500', strata.url, batchBodies, { connections: 16 });
await step('bare.single', bare.url, singleBodies, { connections: 64 });
await step('strata.single', strata.url, singleBodies, { connections: 64 });
// Ack latency at half the peak rate, paced evenly (see paced-load.ts).
const paced: Record<string, PacedResult> = {};
const pacedStep = async (name: string, payloads: string[], peak: number, sockets: number) => {
  paced[name] = await pacedLoad({
    url: `${strata.url}/v1/ingest`,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    bodies: payloads,
    rate: Math.max(1, Math.round(peak / 2)),
    seconds,
    sockets,
  });
  console.log(name.padEnd(28), JSON.stringify(paced[name]));
};
await pacedStep('strata.batch500.halfPeak', batchBodies, runs['strata.batch500']!.requestsPerSec, 16);
await pacedStep('strata.single.halfPeak', singleBodies, runs['strata.single']!.requestsPerSec, 64);

const accepted = await countAccepted(strata.url, key);
const rssMb = peakRssMb(strata.child.pid!);
await stop(bare.child);
strata.child.kill('SIGTERM');
await strata.exited;
data.remove();

const r = runs as Record<string, Run>;
const batchRatio = r['strata.batch500']!.eventsPerSec / r['bare.batch500']!.eventsPerSec;
const singleRatio = r['strata.single']!.requestsPerSec / r['bare.single']!.requestsPerSec;
const result = {
  bench: 'ingest',
  at: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
  secondsPerRun: seconds,
  runs,
  pacedAtHalfPeak: paced,
  strata: {
    durableEventsPerSecBatch500: r['strata.batch500']!.eventsPerSec,
    singleRequestsPerSec: r['strata.single']!.requestsPerSec,
    ackP50MsAtHalfPeakBatch: paced['strata.batch500.halfPeak']!.p50Ms,
    ackP99MsAtHalfPeakBatch: paced['strata.batch500.halfPeak']!.p99Ms,
    ackP50MsAtHalfPeakSingle: paced['strata.single.halfPeak']!.p50Ms,
    ackP99MsAtHalfPeakSingle: paced['strata.single.halfPeak']!.p99Ms,
    peakRssMb: rssMb,
    eventsCountedByServer: accepted,
  },
  ratios: { batchEventsVsCeiling: Math.round(batchRatio * 1000) / 1000, singleRequestsVsCeiling: Math.round(singleRatio * 1000) / 1000 },
  targets: {
    batchAtLeast60PctOfCeiling: batchRatio >= 0.6,
    batchAtLeast300kEventsPerSec: r['strata.batch500']!.eventsPerSec >= 300_000,
    singleAtLeast50PctOfCeiling: singleRatio >= 0.5,
    p99Under50MsAtHalfPeak: paced['strata.batch500.halfPeak']!.p99Ms < 50 && paced['strata.single.halfPeak']!.p99Ms < 50,
  },
};
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'ingest.json'), JSON.stringify(result, null, 2) + '\n');
console.log(JSON.stringify({ ratios: result.ratios, targets: result.targets, strata: result.strata }, null, 2));

/**
 * `--engine nats`: the same Strata, once on the embedded stream and once on a local nats-server
 * (JetStream, file storage, R1), under the same batch and single-event loads, alternated.
 */
async function compareNats(): Promise<void> {
  const nats = await startNats();
  const dirs = [tempDir('bench-embedded'), tempDir('bench-nats')];
  const servers: ServerProcess[] = [];
  const runs: Record<string, Run> = {};
  const counted: Record<string, number> = {};
  try {
    servers.push(await startServerProcess(['--data', dirs[0]!.dir, '--no-demo'], { STRATA_LOG_LEVEL: 'warn' }));
    servers.push(await startServerProcess(['--data', dirs[1]!.dir, '--no-demo'], { STRATA_LOG_LEVEL: 'warn', STRATA_STREAM__ENGINE: 'nats', STRATA_STREAM__NATS__SERVERS: nats.servers.join(',') }));
    const targets = [['embedded', servers[0]!], ['nats', servers[1]!]] as const;
    const keys = dirs.map((d) => readFileSync(join(d.dir, 'admin.key'), 'utf8').trim());
    const singles = bodies(512, 1).map((b) => b.slice(1, -1));
    console.log(`bench:ingest --engine nats: ${seconds}s per run, batches of ${BATCH}`);
    for (const [kind, payloads, connections] of [['batch500', batchBodies, 16], ['single', singles, 64]] as const) {
      for (const [i, [name, server]] of targets.entries()) {
        runs[`${name}.${kind}`] = await load(server.url, keys[i]!, payloads, { connections });
        console.log(`${name}.${kind}`.padEnd(20), JSON.stringify(runs[`${name}.${kind}`]));
      }
    }
    for (const [i, [name, server]] of targets.entries()) counted[name] = await countAccepted(server.url, keys[i]!);
  } finally {
    for (const server of servers) {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    await nats.close();
    for (const d of dirs) d.remove();
  }
  const ratio = (kind: string) => Math.round((runs[`nats.${kind}`]!.eventsPerSec / runs[`embedded.${kind}`]!.eventsPerSec) * 1000) / 1000;
  const result = {
    bench: 'ingest-nats',
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
    secondsPerRun: seconds,
    // Not equal durability: the embedded stream fsyncs before it acknowledges; nats-server 2.9
    // acknowledges once written to the OS and syncs on an interval (R3 is the durable setting).
    nats: { replicas: 1, storage: 'file', server: 'nats-server 2.9 (Debian), same machine', sync: 'interval (default), not per append' },
    runs,
    eventsCountedByServer: counted,
    ratios: { natsVsEmbeddedBatch500: ratio('batch500'), natsVsEmbeddedSingle: ratio('single') },
  };
  mkdirSync(join(here, 'results'), { recursive: true });
  writeFileSync(join(here, 'results', 'ingest-nats.json'), JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify({ ratios: result.ratios, durableEventsPerSecBatch500: { embedded: runs['embedded.batch500']!.eventsPerSec, nats: runs['nats.batch500']!.eventsPerSec } }, null, 2));
}
