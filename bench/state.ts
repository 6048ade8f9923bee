/**
 * bench:state — how fast the state consumer turns telemetry into devices, latest values and
 * 1-minute rollups, against how fast the ingest path can append the same events, measured in the
 * same run (a ratio that survives a noisy shared machine). Ratio > 1: the database keeps up
 * with ingest at full speed.
 *
 *   node --import tsx bench/state.ts [--events 1000000] [--db postgres://...]
 *
 * 1 000 devices × 3 metrics, event times spread over 5 minutes. Steps:
 *  1. fill an embedded stream with N events with `stream.append` (the state consumer's input);
 *  2. baseline: the same events through `IngestService.ingestBody` (parse, validate, encode,
 *     durable append) into a second embedded stream, 500 events per body, 16 bodies in flight;
 *  3. the state consumer catches up the first stream into a fresh database on its own thread, as
 *     in the platform: embedded PGlite, or the server at --db (which must hold no devices yet).
 * Writes bench/results/state.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_INGEST_LIMITS, uuidv7, type TelemetryEvent } from '@strata/core';
import { openDatabaseThread, startStateConsumer } from '@strata/db';
import { seededDataDir } from '@strata/db/testing';
import { IngestService } from '@strata/ingest';
import { openEmbeddedStream, type AppendRecord } from '@strata/stream';
import { tempDir } from '@strata/testkit';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const EVENTS = Number(arg('events') ?? 1_000_000);
const DB_URL = arg('db');
if (!Number.isSafeInteger(EVENTS) || EVENTS < 1000) throw new Error('--events must be an integer >= 1000');
const DEVICES = 1000;
const METRICS = ['temperature', 'humidity', 'vibration'] as const;
const SPAN_MS = 5 * 60_000;
const PARTITIONS = 4;
const TOPIC = 'telemetry';
const BODY_EVENTS = 500;
const IN_FLIGHT = 16;
const here = fileURLToPath(new URL('.', import.meta.url));

const t0 = Math.floor((Date.now() - 10 * 60_000) / 60_000) * 60_000;
const perDevice = Math.ceil(EVENTS / DEVICES);
/** Event i: device i mod 1000, its k-th reading at t0 + k × (span / readings per device). */
function eventAt(i: number): { device: string; tsMs: number; metrics: Record<string, number> } {
  const d = i % DEVICES;
  const k = Math.floor(i / DEVICES);
  return {
    device: `sensor-${String(d).padStart(4, '0')}`,
    tsMs: t0 + Math.floor((k * SPAN_MS) / perDevice) + (d % 997),
    metrics: {
      temperature: Math.round((20 + ((d * 7 + k) % 600) / 10) * 100) / 100,
      humidity: Math.round((30 + ((d * 13 + k * 3) % 500) / 10) * 10) / 10,
      vibration: Math.round(Math.abs(Math.sin(d + k)) * 1000) / 1000,
    },
  };
}

const seconds = (startNs: bigint): number => Number(process.hrtime.bigint() - startNs) / 1e9;
const rate = (n: number, s: number): number => Math.round(n / s);

const input = tempDir('bench-state-input');
const ingestDir = tempDir('bench-state-ingest');
try {
  // 1. The state consumer's input, appended directly.
  const stream = await openEmbeddedStream({ dir: input.dir });
  await stream.ensureTopic(TOPIC, { partitions: PARTITIONS });
  let started = process.hrtime.bigint();
  for (let i = 0; i < EVENTS; ) {
    const records: AppendRecord[] = [];
    for (const end = Math.min(EVENTS, i + 5000); i < end; i++) {
      const e = eventAt(i);
      const ev: TelemetryEvent = { id: uuidv7(), device: e.device, ts: new Date(e.tsMs).toISOString(), metrics: e.metrics, received_at: new Date().toISOString(), source: 'bench' };
      records.push({ key: e.device, value: Buffer.from(JSON.stringify(ev)), ts: e.tsMs });
    }
    await stream.append(TOPIC, records);
  }
  const fillSeconds = seconds(started);
  console.log(`filled the input stream: ${EVENTS} events in ${fillSeconds.toFixed(2)} s`);

  // 2. Baseline: the same events through the ingest path (bodies built before the clock starts).
  const ingestStream = await openEmbeddedStream({ dir: ingestDir.dir });
  await ingestStream.ensureTopic(TOPIC, { partitions: PARTITIONS });
  const ingest = new IngestService({ stream: ingestStream, topic: TOPIC, limits: DEFAULT_INGEST_LIMITS });
  const bodies: Buffer[] = [];
  for (let i = 0; i < EVENTS; i += BODY_EVENTS) {
    const items = [];
    for (let j = i; j < Math.min(EVENTS, i + BODY_EVENTS); j++) {
      const e = eventAt(j);
      items.push({ device: e.device, ts: new Date(e.tsMs).toISOString(), metrics: e.metrics });
    }
    bodies.push(Buffer.from(JSON.stringify(items)));
  }
  const writer = {}; // an API key not bound to a device
  let next = 0;
  let ingested = 0;
  started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++]!;
        const { accepted } = await ingest.ingestBody(body, 'application/json', writer, 'bench');
        ingested += accepted;
      }
    }),
  );
  const ingestSeconds = seconds(started);
  await ingestStream.close();
  if (ingested !== EVENTS) throw new Error(`ingest accepted ${ingested} of ${EVENTS} events`);
  console.log(`ingest baseline: ${rate(EVENTS, ingestSeconds)} events/s`);

  // 3. The state consumer catching up into a fresh database, on its own thread as in the platform.
  const dbDir = DB_URL ? undefined : await seededDataDir('bench-state-db');
  const { db, applier } = await openDatabaseThread(DB_URL ? { url: DB_URL } : { dir: join(dbDir!.dir, 'db') });
  const { n } = await db.kysely.selectFrom('devices').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  if (Number(n) > 0) {
    await db.close();
    throw new Error('--db must name a database without devices (the bench would add to its rollups)');
  }
  const rssBefore = process.memoryUsage().rss;
  started = process.hrtime.bigint();
  const state = await startStateConsumer({ db, applier, stream });
  await state.caughtUp();
  const stateSeconds = seconds(started);
  const stats = state.stats();
  await state.stop();
  const rows = await db.kysely
    .selectFrom('rollups_1m')
    .select((eb) => [eb.fn.countAll<number>().as('rows'), eb.fn.sum<number>('count').as('events')])
    .executeTakeFirstOrThrow();
  if (Number(rows.events) !== EVENTS * METRICS.length) throw new Error(`rollups hold ${rows.events} values, expected ${EVENTS * METRICS.length}`);
  await db.close();
  dbDir?.remove();
  await stream.close();

  const ingestRate = rate(EVENTS, ingestSeconds);
  const stateRate = rate(EVENTS, stateSeconds);
  const result = {
    bench: 'state',
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
    input: { events: EVENTS, devices: DEVICES, metricsPerEvent: METRICS.length, spanSeconds: SPAN_MS / 1000, partitions: PARTITIONS },
    database: DB_URL ? 'postgres' : 'pglite',
    streamAppend: { eventsPerSec: rate(EVENTS, fillSeconds), seconds: Math.round(fillSeconds * 100) / 100 },
    ingest: { eventsPerSec: ingestRate, seconds: Math.round(ingestSeconds * 100) / 100, eventsPerBody: BODY_EVENTS, inFlight: IN_FLIGHT },
    state: {
      eventsPerSec: stateRate,
      seconds: Math.round(stateSeconds * 100) / 100,
      batches: stats.batches,
      eventsPerBatch: Math.round(stats.events / Math.max(1, stats.batches)),
      rollupRows: Number(rows.rows),
      rssGrowthMb: Math.round((process.memoryUsage().rss - rssBefore) / 2 ** 20),
    },
    ratios: { stateVsIngest: Math.round((stateRate / ingestRate) * 1000) / 1000 },
  };
  mkdirSync(join(here, 'results'), { recursive: true });
  writeFileSync(join(here, 'results', DB_URL ? 'state-pg.json' : 'state.json'), JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify(result, null, 2));
} finally {
  input.remove();
  ingestDir.remove();
}
