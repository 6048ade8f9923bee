/**
 * bench:import — the real healthcare CSV (../shared/data, 55,500 rows) imported and verified,
 * seconds per phase (read = parse + clean + de-duplicate, load, verify), and in the same run the
 * floor: the same file loaded by a bare COPY into a table without indexes, no cleaning, no checks.
 * Each engine: the embedded PGlite (what `npm start` uses) and, with `--postgres`, a PostgreSQL 15
 * server started on 127.0.0.1 (needs `bash scripts/engines.sh install`).
 *
 *   npm run bench:import [-- --runs 3] [--postgres] [--file PATH] [--out none]
 *
 * Runs alternate import and floor, each on a fresh database; the medians are reported. Targets
 * (issue 8): total under 3 s with verification, and under 3× the bare COPY.
 */
import { copyFileSync, createReadStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { envelope } from '@strata/core';
import { openDatabase, type Db } from '@strata/db';
import { createServerDatabase, seedEmbeddedDatabase } from '@strata/db/testing';
import { anonymityReport, importPatients, loadRecordKeys, type AnonymityReport, type ImportReport, type RecordsDb } from '@strata/records';
import { startPostgres, tempDir } from '@strata/testkit';
import { arg, int } from './args.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const FILE = arg('file') ?? join(here, '../../shared/data/healthcare_dataset/healthcare_dataset.csv');
const RUNS = int('runs', 3, 1);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number): number => Math.round(x * 1000) / 1000;

if (!existsSync(FILE)) {
  process.stderr.write(`bench:import needs the healthcare CSV at ${FILE} (../shared/data); give --file PATH\n`);
  process.exit(2);
}

const BARE_TABLE = `create table bare (name text, age int, gender text, blood_type text, condition text, admitted date, doctor text,
  hospital text, insurer text, billing numeric, room int, admission_type text, discharged date, medication text, test_result text)`;

interface Engine {
  name: string;
  /** A fresh migrated database for one import. */
  open(): Promise<{ db: Db; dispose(): Promise<void> }>;
  /** Seconds of a bare COPY of FILE into a fresh table without indexes. */
  floor(): Promise<number>;
}

function embedded(): Engine {
  const tmp = tempDir('bench-import');
  let n = 0;
  return {
    name: 'pglite',
    async open() {
      const dir = join(tmp.dir, `db-${++n}`);
      await seedEmbeddedDatabase(dir);
      const db = await openDatabase({ dir });
      return { db, dispose: () => db.close() };
    },
    async floor() {
      const pglite = await PGlite.create({ dataDir: join(tmp.dir, `bare-${++n}`) });
      try {
        await pglite.exec(BARE_TABLE);
        const blob = new Blob([readFileSync(FILE)]);
        const t = performance.now();
        await pglite.query(`copy bare from '/dev/blob' with (format csv, header true)`, [], { blob });
        return (performance.now() - t) / 1000;
      } finally {
        await pglite.close();
      }
    },
  };
}

async function server(): Promise<Engine & { stop(): Promise<void> }> {
  const pgServer = await startPostgres();
  // The server reads the file itself (COPY FROM a path): a copy where its user may read it.
  const readable = join(pgServer.dataDir, 'healthcare.csv');
  copyFileSync(FILE, readable);
  return {
    name: 'postgres',
    async open() {
      const db = await openDatabase({ url: await createServerDatabase(pgServer.url), poolSize: 2 });
      return { db, dispose: () => db.close() };
    },
    async floor() {
      const client = new pg.Client({ connectionString: await createServerDatabase(pgServer.url) });
      await client.connect();
      try {
        await client.query(BARE_TABLE);
        const t = performance.now();
        await client.query(`copy bare from '${readable}' with (format csv, header true)`);
        return (performance.now() - t) / 1000;
      } finally {
        await client.end();
      }
    },
    stop: () => pgServer.stop(),
  };
}

async function measure(engine: Engine) {
  const reports: ImportReport[] = [];
  const again: number[] = [];
  const floors: number[] = [];
  let anonymity: AnonymityReport | undefined;
  for (let run = 0; run < RUNS; run++) {
    floors.push(await engine.floor());
    const { db, dispose } = await engine.open();
    try {
      const records = db.kysely as unknown as RecordsDb;
      const keys = await loadRecordKeys(records, envelope.newKey());
      reports.push(await importPatients({ db: records, keys, source: createReadStream(FILE), importId: `bench-${run}` }));
      if (run === 0) anonymity = await anonymityReport(records, 5);
      again.push((await importPatients({ db: records, keys, source: createReadStream(FILE), importId: `bench-again-${run}` })).seconds.total);
    } finally {
      await dispose();
    }
  }
  const last = reports.at(-1)!;
  const total = median(reports.map((r) => r.seconds.total));
  const floor = median(floors);
  return {
    engine: engine.name,
    rows: { read: last.rowsRead, rejected: last.rejected, duplicates: last.duplicates, loaded: last.admissions.inserted, patients: last.patients.inserted },
    checks: { total: last.checks.length, passed: last.checks.filter((c) => c.ok).length },
    seconds: {
      read: median(reports.map((r) => r.seconds.read)),
      load: median(reports.map((r) => r.seconds.load)),
      verify: median(reports.map((r) => r.seconds.verify)),
      total,
      reimport: median(again),
      bareCopy: round(floor),
    },
    ratioToBareCopy: round(total / floor),
    anonymisedView: anonymity,
    targets: { totalUnder3s: total < 3, under3xBareCopy: total / floor < 3 },
    runs: reports.map((r, i) => ({ ...r.seconds, bareCopy: round(floors[i]!) })),
  };
}

const results = [await measure(embedded())];
if (process.argv.includes('--postgres')) {
  const pgEngine = await server();
  try {
    results.push(await measure(pgEngine));
  } finally {
    await pgEngine.stop();
  }
}
const out = { bench: 'import', file: FILE, runs: RUNS, machine: { cpus: cpus().length, loadavg: loadavg().map(round) }, at: new Date().toISOString(), results };
process.stdout.write(JSON.stringify(out, null, 2) + '\n');
if (arg('out') !== 'none') {
  mkdirSync(join(here, 'results'), { recursive: true });
  writeFileSync(join(here, 'results', 'import.json'), JSON.stringify(out, null, 2) + '\n');
}
