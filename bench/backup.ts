/**
 * bench:backup — backup, restore (the RTO figure) and verify of a deployment the size of the
 * seeds: the healthcare records (55,000 patients, 55,500 admissions, generated straight into
 * the tables by SQL) and 1,000,000 telemetry events in the lake (raw gzip NDJSON objects in the
 * delivery layout, 1,000 devices over 24 hours, and the bronze Parquet the lake job makes of
 * them), on the embedded engines: PGlite and the local object store, to a local target.
 *
 *   npm run bench:backup [-- --events 1000000] [--patients 55000] [--no-bronze] [--out none] [--keep]
 *
 * Measured: a full backup; an incremental one after one new raw object (what a daily backup
 * copies); a restore into an empty data dir (the database checked table by table before commit:
 * RTO of the data); a verify (every file checked and the database restored into a scratch
 * database). Writes bench/results/backup.json.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { sql } from 'kysely';
import { createBackup, openTarget, restoreBackup, verifyBackup } from '@strata/backup';
import { envelope } from '@strata/core';
import { openDatabase } from '@strata/db';
import { seedEmbeddedDatabase } from '@strata/db/testing';
import { hourPath, Lakehouse, objectKey } from '@strata/lake';
import { openLocalStore } from '@strata/storage';
import { tempDir } from '@strata/testkit';
import { arg, int } from './args.js';

const gzipAsync = promisify(gzip);
const EVENTS = int('events', 1_000_000, 1000);
const PATIENTS = int('patients', 55_000, 10);
const ADMISSIONS = Math.round(PATIENTS * 1.009); // the CSV's 55,500 rows for 55,000 people
const DEVICES = 1000;
const PARTITIONS = 4;
const BRONZE = !process.argv.includes('--no-bronze');
const here = fileURLToPath(new URL('.', import.meta.url));
const seconds = (startNs: bigint): number => Math.round(Number(process.hrtime.bigint() - startNs) / 1e7) / 100;
const T0 = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 86_400_000; // yesterday, 24 hours

/** Raw objects as delivery writes them: one per partition and event hour. */
async function writeRaw(root: string): Promise<{ objects: number; gzipBytes: number }> {
  const perHour = Math.ceil(EVENTS / 24);
  let objects = 0;
  let gzipBytes = 0;
  const offsets = new Array<number>(PARTITIONS).fill(0);
  for (let h = 0; h < 24; h++) {
    const lines: string[][] = Array.from({ length: PARTITIONS }, () => []);
    for (let i = h * perHour; i < Math.min(EVENTS, (h + 1) * perHour); i++) {
      const d = i % DEVICES;
      const ts = new Date(T0 + h * 3_600_000 + Math.floor(((i - h * perHour) * 3_600_000) / perHour)).toISOString();
      lines[d % PARTITIONS]!.push(`{"id":"ev-${i}","device":"dev-${d}","ts":"${ts}","metrics":{"temperature":${20 + (i % 150) / 10},"vibration":${(i % 97) / 100}},"received_at":"${ts}","source":"http"}`);
    }
    await Promise.all(
      lines.map(async (l, p) => {
        if (l.length === 0) return;
        const first = offsets[p]!;
        offsets[p]! += l.length;
        const gz = await gzipAsync(l.join('\n') + '\n', { level: 1 });
        const path = join(root, objectKey('raw', 'telemetry', hourPath(T0 + h * 3_600_000), p, first, first + l.length - 1));
        mkdirSync(join(path, '..'), { recursive: true });
        writeFileSync(path, gz);
        objects++;
        gzipBytes += gz.length;
      }),
    );
  }
  return { objects, gzipBytes };
}

const work = tempDir('bench-backup');
try {
  const master = envelope.newKey();
  const sourceDb = join(work.dir, 'source', 'db');
  await seedEmbeddedDatabase(sourceDb);
  let started = process.hrtime.bigint();
  const db = await openDatabase({ dir: sourceDb });
  await sql`insert into data_keys (id, purpose, wrapped, master_id) values ('dk_names_bench', 'names', ${randomBytes(60)}, 'bench')`.execute(db.kysely);
  await sql`
    insert into patients (id, name_sealed, key_id, gender, blood_type, birth_year, created)
    select 'pat_' || md5(i::text), decode(md5(i::text) || md5((i * 7)::text), 'hex'), 'dk_names_bench',
      (array['Female','Male'])[1 + i % 2], (array['A+','A-','B+','B-','AB+','AB-','O+','O-'])[1 + i % 8], 1930 + i % 80,
      '2025-01-01 00:00:00+00'::timestamptz + (i || ' seconds')::interval + (i % 997 || ' microseconds')::interval
    from generate_series(1, ${PATIENTS}) as i`.execute(db.kysely);
  await sql`
    insert into admissions (id, patient_id, age, condition, admitted, discharged, doctor, hospital, insurer, billing, room, admission_type, medication, test_result, flags, import_id)
    select 'adm_' || md5('a' || i::text), 'pat_' || md5((1 + i % ${PATIENTS})::text), 18 + i % 70,
      (array['Cancer','Obesity','Diabetes','Asthma','Hypertension','Arthritis'])[1 + i % 6],
      date '2019-05-01' + i % 1800, date '2019-05-01' + i % 1800 + 1 + i % 30, 'Dr ' || md5((i % 40000)::text), 'Hospital ' || (i % 39000),
      (array['Aetna','Blue Cross','Cigna','Medicare','UnitedHealthcare'])[1 + i % 5], round((1000 + (i * 7919) % 49000)::numeric + (i % 10000) / 10000.0, 12),
      100 + i % 400, (array['Urgent','Emergency','Elective'])[1 + i % 3], (array['Aspirin','Ibuprofen','Paracetamol','Penicillin','Lipitor'])[1 + i % 5],
      (array['Normal','Abnormal','Inconclusive'])[1 + i % 3], case when i % 50 = 0 then array['billing_negative'] else '{}' end, 'imp_bench'
    from generate_series(1, ${ADMISSIONS}) as i`.execute(db.kysely);
  await sql`insert into devices (id, kind, metadata) select 'dev-' || i, 'machine', jsonb_build_object('site', 'plant-' || i % 4) from generate_series(0, ${DEVICES - 1}) as i`.execute(db.kysely);
  const dbFillSeconds = seconds(started);

  started = process.hrtime.bigint();
  const lakeRoot = join(work.dir, 'source', 'lake');
  const raw = await writeRaw(lakeRoot);
  const lake = await openLocalStore({ root: lakeRoot });
  let bronzeRows = 0;
  if (BRONZE) {
    const lh = await Lakehouse.open({ store: lake, stagingDir: join(work.dir, 'staging'), pseudonymKey: randomBytes(32), devices: async () => [] });
    const summary = await lh.run({ layers: ['bronze'] });
    bronzeRows = summary.layers[0]?.rowsWritten ?? 0;
    await lh.close();
  }
  const lakeFillSeconds = seconds(started);
  console.log(`filled: ${PATIENTS} patients, ${ADMISSIONS} admissions (${dbFillSeconds} s); ${EVENTS} events in ${raw.objects} raw objects, ${bronzeRows} bronze rows (${lakeFillSeconds} s)`);

  const target = await openTarget(join(work.dir, 'target'));
  loadavg();
  const loadAtStart = loadavg()[0]!;
  started = process.hrtime.bigint();
  const full = await createBackup({ db, lake, masterKey: master, target });
  const fullSeconds = seconds(started);
  console.log(`full backup: ${fullSeconds} s`);

  await lake.put(objectKey('raw', 'telemetry', hourPath(T0 + 23 * 3_600_000), 0, 10_000_000, 10_000_000), await gzipAsync('{"id":"late"}\n'));
  started = process.hrtime.bigint();
  const incremental = await createBackup({ db, lake, masterKey: master, target });
  const incrementalSeconds = seconds(started);
  console.log(`incremental backup: ${incrementalSeconds} s`);
  await db.close();
  await lake.close();

  const restoredDb = join(work.dir, 'restored', 'db');
  await seedEmbeddedDatabase(restoredDb); // an empty, migrated data dir (what `strata restore` opens)
  const into = await openDatabase({ dir: restoredDb });
  const intoLake = await openLocalStore({ root: join(work.dir, 'restored', 'lake') });
  started = process.hrtime.bigint();
  const restore = await restoreBackup({ from: target, masterKey: master, db: into, lake: intoLake });
  const restoreSeconds = seconds(started);
  console.log(`restore: ${restoreSeconds} s`);
  await into.close();
  await intoLake.close();

  started = process.hrtime.bigint();
  const verify = await verifyBackup({ from: target, masterKey: master });
  const verifySeconds = seconds(started);
  if (!verify.ok) throw new Error(`verify failed: ${JSON.stringify(verify.problems)}`);
  console.log(`verify: ${verifySeconds} s`);
  await target.store.close();

  const mib = (b: number): number => Math.round((b / 2 ** 20) * 10) / 10;
  const result = {
    bench: 'backup',
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, loadAvg1mAtStart: Math.round(loadAtStart * 100) / 100 },
    engines: { database: 'pglite', lake: 'local', target: 'local' },
    input: { patients: PATIENTS, admissions: ADMISSIONS, devices: DEVICES, events: EVENTS, rawObjects: raw.objects, rawGzipMiB: mib(raw.gzipBytes), bronzeRows, lakeObjects: full.lake.objects, lakeMiB: mib(full.lake.bytes) },
    fullBackup: { seconds: fullSeconds, rows: full.database.rows, tables: full.database.tables, databaseSeconds: full.database.seconds, databaseMiB: mib(full.database.bytes), lakeSeconds: full.lake.seconds, objectsCopied: full.lake.copied, writtenMiB: mib(full.bytesWritten) },
    incrementalBackup: { seconds: incrementalSeconds, databaseSeconds: incremental.database.seconds, lakeSeconds: incremental.lake.seconds, objectsCopied: incremental.lake.copied, objectsReused: incremental.lake.reused, writtenMiB: mib(incremental.bytesWritten) },
    restore: { seconds: restoreSeconds, databaseSeconds: Math.round(restore.database.seconds * 100) / 100, lakeSeconds: Math.round(restore.lake.seconds * 100) / 100, rows: restore.database.rows, objects: restore.lake.objects, checked: restore.database.checked },
    verify: { seconds: verifySeconds, files: verify.files.checked, ok: verify.ok },
    targets: {
      rtoSeconds: { value: restoreSeconds, target: 4 * 3600, met: restoreSeconds < 4 * 3600 },
      rpoSeconds: { note: 'RPO is the backup interval (config backup.schedule) for what only the database holds; a backup takes this long', backupSeconds: incrementalSeconds, target: 3600, met: incrementalSeconds < 3600 },
    },
  };
  mkdirSync(join(here, 'results'), { recursive: true });
  if (arg('out') !== 'none') writeFileSync(join(here, 'results', 'backup.json'), JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify(result, null, 2));
} finally {
  if (process.argv.includes('--keep')) console.log(`kept ${work.dir}`);
  else work.remove();
}
