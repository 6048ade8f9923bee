import { createReadStream, existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { envelope } from '@strata/core';
import { openTestDatabase, type TestDb } from '@strata/db/testing';
import { healthcareFixture } from '../testing/fixture.js';
import { loadRecordKeys, rotateMasterKey, type RecordKeys } from '../keys.js';
import type { RecordsDb } from '../schema.js';
import { importPatients, formatImportReport, type ImportReport } from './import.js';
import { verifyImport } from './verify.js';
import { admissionId, patientId } from './ids.js';

const REAL_FILE = new URL('../../../../../shared/data/healthcare_dataset/healthcare_dataset.csv', import.meta.url).pathname;

let db: TestDb;
let records: RecordsDb;
let master: Buffer;
let keys: RecordKeys;
const fixture = healthcareFixture({ seed: 7, rows: 3000 });

beforeAll(async () => {
  db = await openTestDatabase();
  records = db.kysely as unknown as RecordsDb;
  master = envelope.newKey();
  keys = await loadRecordKeys(records, master);
});
afterAll(async () => db.dispose());

const run = (importId: string, extra: Partial<Parameters<typeof importPatients>[0]> = {}): Promise<ImportReport> =>
  importPatients({ db: records, keys, source: [fixture.csv], importId, batchSize: 250, seed: 1, ...extra });

async function count(table: 'patients' | 'admissions'): Promise<number> {
  return Number((await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`.execute(records)).rows[0]!.n);
}

describe('importPatients on a fixture with every quirk', () => {
  let first: ImportReport;

  it('cleans, rejects with reasons, removes exact duplicates, loads the rest and proves it', async () => {
    first = await run('00000000-0000-4000-8000-000000000001');
    expect(first.rowsRead).toBe(fixture.rowsRead);
    expect(first.duplicates).toBe(fixture.duplicates);
    expect(first.rejected).toBe(new Set(fixture.rejected.map((r) => r.line)).size);
    expect(first.distinctRows).toBe(fixture.expected.length);
    expect(first.admissions.inserted).toBe(fixture.expected.length);
    expect(await count('admissions')).toBe(fixture.expected.length);
    expect(first.checks.length).toBeGreaterThan(20);
    expect(first.checks.filter((c) => !c.ok)).toEqual([]);
    expect(first.ok).toBe(true);
    // Each rejected line is named, with the column at fault.
    for (const want of fixture.rejected) expect(first.rejections).toContainEqual(expect.objectContaining({ line: want.line, column: want.column }));
    expect(formatImportReport(first)).toMatch(/OK, integrity proven/);
  });

  it('changes nothing when the same file is imported again, and proves it again', async () => {
    const again = await run('00000000-0000-4000-8000-000000000002');
    expect(again.admissions).toEqual({ inSource: fixture.expected.length, inserted: 0, alreadyPresent: fixture.expected.length });
    expect(again.patients.inserted).toBe(0);
    expect(again.ok).toBe(true);
    expect(await count('admissions')).toBe(fixture.expected.length);
  });

  it('stores names only sealed: no name appears in the database, and each opens only for its own patient', async () => {
    const rows = await records.selectFrom('patients').select(['id', 'name_sealed']).execute();
    const dump = Buffer.concat(rows.map((r) => Buffer.from(r.name_sealed, 'base64')));
    for (const row of fixture.expected.slice(0, 50)) expect(dump.includes(Buffer.from(row.name))).toBe(false);
    const [a, b] = rows;
    expect(() => envelope.open(keys.names, Buffer.from(a!.name_sealed, 'base64'), b!.id)).toThrow();
    const wrapped = await records.selectFrom('data_keys').select('wrapped').execute();
    for (const w of wrapped) expect(Buffer.from(w.wrapped).includes(keys.names)).toBe(false);
  });

  it('fails the proof, naming the check, when the database differs from the source', async () => {
    const source = fixture.expected.map((row) => ({ admissionId: admissionId(keys.index, row), patientId: patientId(keys.index, row), row }));
    const victim = source[3]!;
    await sql`update admissions set billing = billing + 0.01 where id = ${victim.admissionId}`.execute(records);
    let checks = await verifyImport(records, keys, source, { sampleSize: source.length, seed: 3 });
    expect(checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['admissions: sum of billing', 'admissions.billing: checksum', expect.stringMatching(/^sample of/)]);
    await sql`update admissions set billing = billing - 0.01 where id = ${victim.admissionId}`.execute(records);

    // A name changed (validly sealed): only unsealing every name shows it.
    const p1 = await records.selectFrom('patients').select(['id', 'name_sealed']).orderBy('id').executeTakeFirstOrThrow();
    await records.updateTable('patients').set({ name_sealed: envelope.seal(keys.names, 'Someone Else', p1.id).toString('base64') }).where('id', '=', p1.id).execute();
    checks = await verifyImport(records, keys, source, { sampleSize: 10, seed: 3 });
    expect(checks.find((c) => c.name === 'patients.name: checksum (unsealed)')?.ok).toBe(false);
    await records.updateTable('patients').set({ name_sealed: p1.name_sealed }).where('id', '=', p1.id).execute();

    await sql`delete from admissions where id = ${victim.admissionId}`.execute(records);
    checks = await verifyImport(records, keys, source, { sampleSize: 10, seed: 3 });
    expect(checks.find((c) => c.name === 'admissions: rows')).toMatchObject({ ok: false, source: source.length, database: source.length - 1 });
    await run('00000000-0000-4000-8000-000000000003'); // puts it back
    expect((await verifyImport(records, keys, source, { sampleSize: 10, seed: 3 })).every((c) => c.ok)).toBe(true);
  });

  it('is all-or-nothing: an import that fails during the load leaves nothing of itself', async () => {
    const other = healthcareFixture({ seed: 99, rows: 800 });
    const before = await count('admissions');
    let batches = 0;
    await expect(
      importPatients({
        db: records,
        keys,
        source: [other.csv],
        importId: '00000000-0000-4000-8000-000000000004',
        batchSize: 100,
        onProgress: (p) => {
          if (p.phase === 'load' && p.rows > 0 && ++batches === 3) throw new Error('process died here');
        },
      }),
    ).rejects.toThrow('process died here');
    expect(await count('admissions')).toBe(before);
    expect(await records.selectFrom('admissions').select('id').where('import_id', '=', '00000000-0000-4000-8000-000000000004').execute()).toEqual([]);
  });

  it('rolls the load back when the proof finds the database differs from the source', async () => {
    // A trigger that alters one value on its way in: what a faulty driver or a bad column type would do.
    const other = healthcareFixture({ seed: 42, rows: 300 });
    const before = await count('admissions');
    await sql`create function shave() returns trigger language plpgsql as $$ begin new.billing := new.billing - 0.01; return new; end $$`.execute(records);
    await sql`create trigger shave before insert on admissions for each row when (new.room = ${sql.lit(other.expected[0]!.room)}) execute function shave()`.execute(records);
    try {
      const report = await importPatients({ db: records, keys, source: [other.csv], importId: '00000000-0000-4000-8000-000000000007', seed: 1 });
      expect(report).toMatchObject({ ok: false, rolledBack: true, admissions: { inserted: 0 } });
      expect(report.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(expect.arrayContaining(['admissions: sum of billing', 'admissions.billing: checksum']));
      expect(formatImportReport(report)).toMatch(/FAILED: integrity checks differ; the load was rolled back/);
      expect(await count('admissions')).toBe(before);
    } finally {
      await sql`drop trigger shave on admissions`.execute(records);
      await sql`drop function shave()`.execute(records);
    }
  });

  it('keeps every name readable after the master key is rotated, and only with the new key', async () => {
    const next = envelope.newKey();
    expect((await rotateMasterKey(records, master, next)).rewrapped).toBe(2);
    await expect(loadRecordKeys(records, master)).rejects.toThrow(/sealed by master key/);
    const reopened = await loadRecordKeys(records, next);
    expect(reopened.names.equals(keys.names)).toBe(true);
    expect((await rotateMasterKey(records, master, next)).rewrapped).toBe(0); // a retried rotation is a no-op
    const again = await importPatients({ db: records, keys: reopened, source: [fixture.csv], importId: '00000000-0000-4000-8000-000000000005', seed: 2 });
    expect(again.ok).toBe(true);
    master = next;
  });

  it('refuses a file that is not a healthcare CSV, naming what is wrong', async () => {
    await expect(importPatients({ db: records, keys, source: ['a,b,c\r\n1,2,3\r\n'], importId: '00000000-0000-4000-8000-000000000006' })).rejects.toThrow(/not a healthcare CSV/);
  });
});

describe.skipIf(!existsSync(REAL_FILE))('the real healthcare file (../shared/data)', () => {
  it('reads 55,500 rows, removes 534 duplicates, loads 54,966 and proves it', async () => {
    const real = await openTestDatabase();
    try {
      const realDb = real.kysely as unknown as RecordsDb;
      const report = await importPatients({ db: realDb, keys: await loadRecordKeys(realDb, envelope.newKey()), source: createReadStream(REAL_FILE), importId: '00000000-0000-4000-8000-0000000000aa' });
      expect({ read: report.rowsRead, rejected: report.rejected, duplicates: report.duplicates, loaded: report.admissions.inserted }).toEqual({ read: 55_500, rejected: 0, duplicates: 534, loaded: 54_966 });
      expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    } finally {
      await real.dispose();
    }
  }, 120_000);
});
