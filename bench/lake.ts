/**
 * bench:lake — the lake jobs (`Lakehouse.run()`: raw → bronze → silver → gold) over a raw zone
 * of N events, against a floor measured in the same run: DuckDB reading the same gzip NDJSON
 * objects (`read_json`, the bronze reader's columns) and writing them to one Parquet file with no
 * logic at all. The ratio survives a noisy shared machine.
 *
 *   npm run bench:lake [-- --events 10000000] [--out none] [--keep]
 *   (--out none: print only, leave the results file; --keep: leave the lake and staging dirs to inspect)
 *
 * Input (generation is not measured): 1,000 devices, half machines (temperature, vibration,
 * current; a `line` tag) and half patients (heart_rate, spo2, resp_rate, temperature), event
 * times spread evenly over two whole UTC days ending yesterday, 4 stream partitions (device mod
 * 4). Written as delivery writes the raw zone: gzip (level 1) NDJSON, one object per partition
 * and event hour, cut at 5 MiB uncompressed. 0.5% of the events are delivered a second time
 * (same id) and 0.1% arrive late (received 20–60 min after their event time); both come in
 * later objects of their event hour, as a later flush would write them. About one machine
 * temperature in 10,000 is a spike (180 °C), for silver's outlier flag.
 *
 * Reported: events/s per layer (input events / layer seconds) and in total, rows per layer,
 * peak RSS per phase (VmHWM, reset between phases; DuckDB runs in-process, so it counts) and
 * DuckDB's own peak memory in the floor. Writes bench/results/lake.json.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { hourPath, Lakehouse, objectKey, type DeviceMeta, type RunSummary } from '@strata/lake';
import { openLocalStore } from '@strata/storage';
import { tempDir } from '@strata/testkit';

const gzipAsync = promisify(gzip);

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const EVENTS = Number(arg('events') ?? 10_000_000);
if (!Number.isSafeInteger(EVENTS) || EVENTS < 10_000) throw new Error('--events must be an integer >= 10000');
const DEVICES = 1000;
const PARTITIONS = 4;
const TOPIC = 'telemetry';
const FLUSH_BYTES = 5 * 1024 * 1024;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const SPAN_MS = 2 * DAY_MS;
/** One event in this many is delivered twice; one in LATE_EVERY arrives late. */
const DUPLICATE_EVERY = 200;
const LATE_EVERY = 1000;
/** One machine reading in about this many is a temperature spike. */
const OUTLIER_EVERY = 9973; // prime: spread over devices
const GZIP_IN_FLIGHT = 4;
const here = fileURLToPath(new URL('.', import.meta.url));

const T0 = Math.floor(Date.now() / DAY_MS) * DAY_MS - SPAN_MS; // two whole days ending yesterday midnight

const devices: DeviceMeta[] = Array.from({ length: DEVICES }, (_, d) => {
  const machine = d % 2 === 0;
  return {
    id: machine ? `press-${String(d).padStart(4, '0')}` : `patient-${String(d).padStart(4, '0')}`,
    kind: machine ? 'machine' : 'patient',
    site: machine ? `plant-${'abcd'[d % 4]}` : `ward-${(d % 6) + 1}`,
    model: machine ? `P${200 + (d % 5) * 100}` : 'W-2',
    sampleIntervalSeconds: Math.round(SPAN_MS / 1000 / Math.ceil(EVENTS / DEVICES)) || 1,
  };
});

// ---------------------------------------------------------------------------------------------
// Generation, ~1.5 µs per event: lines from template strings over lookup tables (no float
// printing, no toString(16)), written as latin1 into one 6 MiB buffer per partition.

const HEX3 = Array.from({ length: 4096 }, (_, i) => i.toString(16).padStart(3, '0'));
const D2 = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));
const D3 = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

let isoMinute = NaN;
let isoPrefix = '';
/** `toISOString()` of `ms`, from a per-minute prefix. */
function iso(ms: number): string {
  const minute = Math.floor(ms / 60_000);
  if (minute !== isoMinute) {
    isoMinute = minute;
    isoPrefix = new Date(minute * 60_000).toISOString().slice(0, 17); // 2025-12-04T10:07:
  }
  const rest = ms - minute * 60_000;
  const s = Math.floor(rest / 1000);
  return `${isoPrefix}${D2[s]}.${D3[rest - s * 1000]}Z`;
}

/** A UUIDv7-shaped id: 48-bit time, version 7, variant 8, then the event number. */
function eventId(tsMs: number, i: number): string {
  const hi = Math.floor(tsMs / 16_777_216);
  const lo = tsMs - hi * 16_777_216;
  const mid = HEX3[lo >>> 12]!;
  return `${HEX3[hi >>> 12]}${HEX3[hi & 4095]}${mid.slice(0, 2)}-${mid.slice(2)}${HEX3[lo & 4095]}-7${HEX3[Math.floor(i / 2 ** 36) & 4095]}-8${HEX3[Math.floor(i / 2 ** 24) & 4095]}-000000${HEX3[(i >>> 12) & 4095]}${HEX3[i & 4095]}`;
}

function line(i: number, d: number, tsMs: number, receivedMs: number): string {
  const dev = devices[d]!;
  const k = Math.floor(i / DEVICES);
  const j = (i * 7919) % 1000; // noise
  let metrics: string;
  if (dev.kind === 'machine') {
    // centi-degrees 40.00–79.99, and a rare spike (an outlier for silver)
    const temp = i % OUTLIER_EVERY === 0 ? 18_000 + j : 4000 + ((d * 7 + k * 3 + j) % 4000);
    metrics = `{"temperature":${Math.floor(temp / 100)}.${D2[temp % 100]},"vibration":${(d + k) & 3}.${D3[(d * 13 + k * 5 + j) % 1000]},"current":${10 + ((d + k) % 5)}.${(d + j) % 10}}`;
  } else {
    const temp = 362 + ((d + k + (j & 7)) % 30); // deci-degrees 36.2–39.1
    metrics = `{"heart_rate":${60 + ((d * 3 + k + (j & 15)) % 50)},"spo2":${90 + ((d + k) % 10)},"resp_rate":${12 + ((d + k * 7) % 12)},"temperature":${Math.floor(temp / 10)}.${temp % 10}}`;
  }
  const tags = dev.kind === 'machine' ? `,"tags":{"line":"L${d % 8}"}` : '';
  return `{"id":"${eventId(tsMs, i)}","device":"${dev.id}","ts":"${iso(tsMs)}","metrics":${metrics}${tags},"received_at":"${iso(receivedMs)}","source":"http"}\n`;
}

/** The NDJSON body of the object a partition is filling: one event hour, up to FLUSH_BYTES. */
interface Filling {
  hour: number;
  first: number;
  records: number;
  buf: Buffer;
  used: number;
}

async function generate(root: string): Promise<{ objects: number; lines: number; bytesIn: number; bytesOut: number; duplicates: number; late: number }> {
  const next = new Array<number>(PARTITIONS).fill(0); // next offset per partition
  const open: (Filling | undefined)[] = new Array<Filling | undefined>(PARTITIONS).fill(undefined);
  /** Re-delivered and late lines, per partition and event hour: written last, as a later flush would. */
  const stragglers = new Map<string, { partition: number; hour: number; lines: string[] }>();
  const writes = new Set<Promise<void>>();
  const stats = { objects: 0, lines: 0, bytesIn: 0, bytesOut: 0, duplicates: 0, late: 0 };

  const write = async (partition: number, hour: number, first: number, records: number, body: Buffer): Promise<void> => {
    while (writes.size >= GZIP_IN_FLIGHT) await Promise.race(writes);
    const key = objectKey('raw', TOPIC, hourPath(hour), partition, first, first + records - 1);
    stats.objects++;
    stats.lines += records;
    stats.bytesIn += body.length;
    const p = gzipAsync(body, { level: 1 }).then(async (gz) => {
      stats.bytesOut += gz.length;
      const path = join(root, key);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, gz);
    });
    writes.add(p);
    void p.finally(() => writes.delete(p));
  };
  const flush = async (partition: number): Promise<void> => {
    const f = open[partition];
    open[partition] = undefined;
    if (f && f.records > 0) await write(partition, f.hour, f.first, f.records, f.buf.subarray(0, f.used));
  };
  const straggler = (partition: number, hour: number, text: string): void => {
    const id = `${partition}/${hour}`;
    let s = stragglers.get(id);
    if (!s) stragglers.set(id, (s = { partition, hour, lines: [] }));
    s.lines.push(text);
  };

  const perDevice = Math.ceil(EVENTS / DEVICES);
  for (let i = 0; i < EVENTS; i++) {
    const d = i % DEVICES;
    const k = Math.floor(i / DEVICES);
    const tsMs = T0 + Math.floor((k * SPAN_MS) / perDevice) + ((d * 37) % 1000);
    const partition = d % PARTITIONS;
    const hour = Math.floor(tsMs / HOUR_MS) * HOUR_MS;
    if (i % LATE_EVERY === 500) {
      stats.late++;
      straggler(partition, hour, line(i, d, tsMs, tsMs + 20 * 60_000 + ((i * 7919) % (40 * 60_000))));
      continue;
    }
    const text = line(i, d, tsMs, tsMs + 150 + (i % 1850));
    if (i % DUPLICATE_EVERY === 7) {
      stats.duplicates++;
      straggler(partition, hour, text);
    }
    let f = open[partition];
    if (f && (f.hour !== hour || f.used >= FLUSH_BYTES)) {
      await flush(partition);
      f = undefined;
    }
    if (!f) open[partition] = f = { hour, first: next[partition]!, records: 0, buf: Buffer.allocUnsafe(FLUSH_BYTES + 64 * 1024), used: 0 };
    f.used += f.buf.write(text, f.used, 'latin1'); // ASCII only
    f.records++;
    next[partition]!++;
  }
  for (let p = 0; p < PARTITIONS; p++) await flush(p);
  for (const s of stragglers.values()) {
    await write(s.partition, s.hour, next[s.partition]!, s.lines.length, Buffer.from(s.lines.join(''), 'latin1'));
    next[s.partition]! += s.lines.length;
  }
  await Promise.all(writes);
  return stats;
}

// ---------------------------------------------------------------------------------------------
// Measurement helpers.

const seconds = (startNs: bigint): number => Number(process.hrtime.bigint() - startNs) / 1e9;
const rate = (n: number, s: number): number => Math.round(n / s);
const r2 = (v: number): number => Math.round(v * 100) / 100;

/** Peak RSS of this process since the last reset (VmHWM; `5` in clear_refs resets it). */
function resetPeakRss(): void {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    // not Linux, or not allowed: the peak then covers the whole process
  }
}
function peakRssMb(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : Math.round(process.memoryUsage().rss / 2 ** 20);
}

/** The floor: DuckDB parses the same objects with the bronze reader's columns and writes one Parquet file (snappy, row groups of 122,880, as the jobs write). */
async function floor(rawGlob: string, out: string, threads: number, memoryLimit: string, spill: string): Promise<{ seconds: number; rows: number; duckdbPeakMb: number; parquetMb: number }> {
  const instance = await DuckDBInstance.create(':memory:', { threads: String(threads), memory_limit: memoryLimit, temp_directory: spill });
  const conn = await instance.connect();
  const probe = await instance.connect();
  let duckPeak = 0;
  const timer = setInterval(() => {
    void probe
      .runAndReadAll('SELECT sum(memory_usage_bytes)::BIGINT AS b FROM duckdb_memory()')
      .then((r) => {
        duckPeak = Math.max(duckPeak, Number(r.getRowObjectsJS()[0]?.b ?? 0));
      })
      .catch(() => undefined);
  }, 100);
  try {
    const started = process.hrtime.bigint();
    await conn.run(
      `COPY (SELECT * FROM read_json('${rawGlob}', format = 'newline_delimited', columns = {id: 'VARCHAR', device: 'VARCHAR', ts: 'VARCHAR', metrics: 'MAP(VARCHAR, DOUBLE)', tags: 'MAP(VARCHAR, VARCHAR)', received_at: 'VARCHAR', source: 'VARCHAR'}, maximum_object_size = 16777216))
       TO '${out}' (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 122880)`,
    );
    const s = seconds(started);
    const rows = Number((await conn.runAndReadAll(`SELECT count(*)::BIGINT AS n FROM read_parquet('${out}')`)).getRowObjectsJS()[0]?.n ?? 0);
    return { seconds: s, rows, duckdbPeakMb: Math.round(duckPeak / 2 ** 20), parquetMb: Math.round(statSync(out).size / 2 ** 20) };
  } finally {
    clearInterval(timer);
    probe.closeSync();
    conn.closeSync();
    instance.closeSync();
  }
}

/**
 * Where the pipeline's time goes: every DuckDB statement it runs is timed (wrapping
 * `DuckDBConnection.run`, which every query method goes through), grouped by its first words.
 */
const statements = new Map<string, { seconds: number; calls: number }>();
let timing = false;
const run = DuckDBConnection.prototype.run;
DuckDBConnection.prototype.run = async function timed(this: DuckDBConnection, ...args: Parameters<typeof run>) {
  if (!timing) return run.apply(this, args);
  const started = process.hrtime.bigint();
  try {
    return await run.apply(this, args);
  } finally {
    const shape = args[0].replace(/\s+/g, ' ').replace(/'[^']*'/g, "'…'").replace(/\[('…', )+'…'\]/g, '[…]').slice(0, 110);
    const entry = statements.get(shape) ?? { seconds: 0, calls: 0 };
    entry.seconds += seconds(started);
    entry.calls++;
    statements.set(shape, entry);
  }
};

// ---------------------------------------------------------------------------------------------

const work = tempDir('bench-lake');
/** The machine is shared: how busy it was when the measured part began. */
let loadAtStart = 0;
try {
  const lakeRoot = join(work.dir, 'lake');
  let started = process.hrtime.bigint();
  const gen = await generate(lakeRoot);
  const generationSeconds = seconds(started);
  console.log(`generated ${gen.lines} lines (${EVENTS} events, ${gen.duplicates} re-delivered, ${gen.late} late) in ${gen.objects} objects, ` +
    `${Math.round(gen.bytesIn / 2 ** 20)} MiB → ${Math.round(gen.bytesOut / 2 ** 20)} MiB gzip, in ${generationSeconds.toFixed(1)} s`);

  const store = await openLocalStore({ root: lakeRoot });
  const lake = await Lakehouse.open({
    store,
    stagingDir: join(work.dir, 'staging'),
    pseudonymKey: randomBytes(32),
    devices: async () => devices,
  });
  const { threads, memoryLimit } = lake.settings;

  // 1. The floor, on the same objects (warm in the page cache like the pipeline's).
  loadAtStart = loadavg()[0]!;
  resetPeakRss();
  const fl = await floor(`${lakeRoot}/raw/${TOPIC}/*/*/*/*/*.ndjson.gz`, join(work.dir, 'floor.parquet'), threads, memoryLimit, join(work.dir, 'floor-spill'));
  const floorRss = peakRssMb();
  if (fl.rows !== gen.lines) throw new Error(`the floor read ${fl.rows} rows, expected ${gen.lines}`);
  console.log(`floor: ${rate(EVENTS, fl.seconds)} events/s (${fl.seconds.toFixed(1)} s)`);

  // 2. The pipeline.
  resetPeakRss();
  let rssSamplePeak = 0;
  const sampler = setInterval(() => (rssSamplePeak = Math.max(rssSamplePeak, process.memoryUsage().rss)), 100);
  started = process.hrtime.bigint();
  let summary: RunSummary;
  timing = true;
  try {
    summary = await lake.run();
  } finally {
    timing = false;
    clearInterval(sampler);
  }
  const pipelineSeconds = seconds(started);
  const pipelineRss = Math.max(peakRssMb(), Math.round(rssSamplePeak / 2 ** 20));
  await lake.close();
  await store.close();

  const layers = Object.fromEntries(
    summary.layers.map((l) => [
      l.layer,
      {
        eventsPerSec: rate(EVENTS, l.seconds),
        seconds: r2(l.seconds),
        shareOfRun: r2(l.seconds / summary.seconds),
        objectsRead: l.objectsRead,
        rowsRead: l.rowsRead,
        rowsWritten: l.rowsWritten,
        quarantined: l.quarantined,
        duplicates: l.duplicates,
        partitions: l.partitions.length,
      },
    ]),
  );
  const totalRate = rate(EVENTS, pipelineSeconds);
  const floorRate = rate(EVENTS, fl.seconds);
  const ratio = Math.round((totalRate / floorRate) * 1000) / 1000;
  const result = {
    bench: 'lake',
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, loadAvg1mAtStart: r2(loadAtStart), loadAvg5mAtEnd: r2(loadavg()[1]!) },
    input: {
      events: EVENTS,
      lines: gen.lines,
      redelivered: gen.duplicates,
      late: gen.late,
      devices: DEVICES,
      kinds: { machine: 3, patient: 4 },
      days: SPAN_MS / DAY_MS,
      partitions: PARTITIONS,
      objects: gen.objects,
      rawMiB: Math.round(gen.bytesIn / 2 ** 20),
      gzipMiB: Math.round(gen.bytesOut / 2 ** 20),
      generationSeconds: r2(generationSeconds),
    },
    settings: { threads, memoryLimit },
    floor: { eventsPerSec: floorRate, seconds: r2(fl.seconds), rows: fl.rows, parquetMiB: fl.parquetMb, peakRssMb: floorRss, duckdbPeakMb: fl.duckdbPeakMb },
    pipeline: {
      eventsPerSec: totalRate,
      seconds: r2(pipelineSeconds),
      runSeconds: r2(summary.seconds),
      peakRssMb: pipelineRss,
      layers,
      sqlSeconds: r2([...statements.values()].reduce((n, e) => n + e.seconds, 0)),
      topStatements: [...statements]
        .sort((a, b) => b[1].seconds - a[1].seconds)
        .slice(0, 12)
        .map(([sql, e]) => ({ seconds: r2(e.seconds), calls: e.calls, sql })),
    },
    targets: {
      vsFloor: { ratio, target: 0.4, met: ratio >= 0.4 },
      eventsPerSec: { value: totalRate, target: 500_000, met: totalRate >= 500_000 },
    },
  };
  mkdirSync(join(here, 'results'), { recursive: true });
  if (arg('out') !== 'none') writeFileSync(join(here, 'results', 'lake.json'), JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify(result, null, 2));
} finally {
  if (process.argv.includes('--keep')) console.log(`kept ${work.dir}`);
  else work.remove();
}
