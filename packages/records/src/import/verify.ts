/**
 * The integrity proof of an import: what the database holds for the source's rows, compared
 * with the source itself, computed separately on each side. Counts per table, exact aggregates
 * (sum of billing as an exact decimal, date ranges, distinct counts), a checksum of every column
 * (MD5 of the column's values in id order, as PostgreSQL prints them; names unsealed), and a
 * random sample compared field by field.
 */
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { envelope, mulberry32 } from '@strata/core';
import { sumDecimals } from '../csv/decimal.js';
import type { RecordKeys } from '../keys.js';
import type { RecordsDb } from '../schema.js';
import type { CleanRow } from '../types.js';
import { birthYear } from './ids.js';
import type { SourceRow } from './load.js';

export interface IntegrityCheck {
  name: string;
  source: string | number;
  database: string | number;
  ok: boolean;
}

/** Admission columns checksummed, with the text PostgreSQL prints for each source value. */
const ADMISSION_COLUMNS: ReadonlyArray<[column: string, text: (r: SourceRow) => string]> = [
  ['patient_id', (r) => r.patientId],
  ['age', (r) => String(r.row.age)],
  ['condition', (r) => r.row.condition],
  ['admitted', (r) => r.row.admitted],
  ['discharged', (r) => r.row.discharged],
  ['doctor', (r) => r.row.doctor],
  ['hospital', (r) => r.row.hospital],
  ['insurer', (r) => r.row.insurer],
  ['billing', (r) => numericText(r.row.billing)],
  ['room', (r) => String(r.row.room)],
  ['admission_type', (r) => r.row.admissionType],
  ['medication', (r) => r.row.medication],
  ['test_result', (r) => r.row.testResult],
  ['flags', (r) => `{${r.row.flags.join(',')}}`],
];

const PATIENT_COLUMNS: ReadonlyArray<[column: string, text: (r: CleanRow) => string]> = [
  ['gender', (r) => r.gender],
  ['blood_type', (r) => r.bloodType],
  ['birth_year', (r) => String(birthYear(r))],
];

export async function verifyImport(db: RecordsDb, keys: RecordKeys, rows: readonly SourceRow[], opts: { sampleSize: number; seed: number }): Promise<IntegrityCheck[]> {
  const sorted = [...rows].sort((a, b) => (a.admissionId < b.admissionId ? -1 : 1));
  const patients = new Map<string, CleanRow>();
  for (const r of sorted) if (!patients.has(r.patientId)) patients.set(r.patientId, r.row);
  const patientIds = [...patients.keys()].sort();
  // One update of the joined text: hashing value by value costs ~1 µs a call, seconds over a file.
  const md5 = (values: string[]) => createHash('md5').update(values.join('\n')).digest('hex');
  // The database's side first: its queries run while this process computes the source's side.
  // Ids are `adm_`/`pat_` + hex, so the array literals need no quoting.
  const database = Promise.all([
    // Patients first: their names are unsealed while the server computes the aggregates.
    db.selectFrom('patients').select(['id', 'name_sealed', 'gender', 'blood_type', 'birth_year']).where('id', '=', sql<string>`any(${idArray(patientIds)}::text[])`).orderBy(sql`id collate "C"`).execute()
      .then((p) => ({ p, names: md5(p.map((row) => unsealName(keys, row.id, row.name_sealed) ?? '<does not open>')) })),
    sql<Record<string, string | number | null>>`
      select count(*)::int as count, sum(billing)::text as billing_sum,
             min(admitted)::text as admitted_min, max(admitted)::text as admitted_max,
             min(discharged)::text as discharged_min, max(discharged)::text as discharged_max,
             count(distinct condition)::int as conditions, count(distinct doctor)::int as doctors,
             count(distinct hospital)::int as hospitals, count(distinct insurer)::int as insurers,
             count(distinct medication)::int as medications,
             ${sql.join(ADMISSION_COLUMNS.map(([c]) => sql`md5(string_agg(${sql.ref(c)}::text, E'\n' order by id collate "C")) as ${sql.ref(`md5_${c}`)}`))}
      from admissions where id = any(${idArray(sorted.map((r) => r.admissionId))}::text[])`.execute(db),
    compareSample(db, keys, sorted, opts),
  ]);
  // Observed below; kept from surfacing as unhandled if the source's side throws first.
  database.catch(() => undefined);
  const checks: IntegrityCheck[] = [];
  const check = (name: string, source: string | number, database: string | number | null) =>
    checks.push({ name, source, database: database ?? 'none', ok: source === database });

  const distinct = (f: (r: CleanRow) => string) => new Set(rows.map((r) => f(r.row))).size;
  const dates = (f: (r: CleanRow) => string) => rows.map((r) => f(r.row)).sort();

  const billing = sumDecimals(rows.map((r) => r.row.billing));
  const admitted = dates((r) => r.admitted);
  const discharged = dates((r) => r.discharged);
  const columns = ADMISSION_COLUMNS.map(([, text]) => (sorted.length ? md5(sorted.map(text)) : 'none'));
  const sourceNames = md5(patientIds.map((id) => patients.get(id)!.name));
  const patientColumns = PATIENT_COLUMNS.map(([, text]) => md5(patientIds.map((id) => text(patients.get(id)!))));

  const [{ p, names }, aggregates, sample] = await database;
  const a = aggregates.rows[0]!;
  check('admissions: rows', sorted.length, a.count!);
  check('admissions: sum of billing', billing, sumDecimals(a.billing_sum === null ? [] : [String(a.billing_sum)]));
  check('admissions: first admission', admitted[0] ?? 'none', a.admitted_min!);
  check('admissions: last admission', admitted.at(-1) ?? 'none', a.admitted_max!);
  check('admissions: first discharge', discharged[0] ?? 'none', a.discharged_min!);
  check('admissions: last discharge', discharged.at(-1) ?? 'none', a.discharged_max!);
  check('admissions: distinct conditions', distinct((r) => r.condition), a.conditions!);
  check('admissions: distinct doctors', distinct((r) => r.doctor), a.doctors!);
  check('admissions: distinct hospitals', distinct((r) => r.hospital), a.hospitals!);
  check('admissions: distinct insurers', distinct((r) => r.insurer), a.insurers!);
  check('admissions: distinct medications', distinct((r) => r.medication), a.medications!);
  ADMISSION_COLUMNS.forEach(([column], i) => check(`admissions.${column}: checksum`, columns[i]!, a[`md5_${column}`] ?? null));

  check('patients: rows', patientIds.length, p.length);
  check('patients.name: checksum (unsealed)', sourceNames, names);
  const dbColumn = { gender: (r: (typeof p)[number]) => r.gender, blood_type: (r: (typeof p)[number]) => r.blood_type, birth_year: (r: (typeof p)[number]) => String(r.birth_year) };
  PATIENT_COLUMNS.forEach(([column], i) => check(`patients.${column}: checksum`, patientColumns[i]!, md5(p.map(dbColumn[column as keyof typeof dbColumn]))));

  checks.push(sample);
  return checks;
}

/** `sampleSize` source rows, drawn with a seeded generator, read back and compared field by field. */
async function compareSample(db: RecordsDb, keys: RecordKeys, rows: readonly SourceRow[], opts: { sampleSize: number; seed: number }): Promise<IntegrityCheck> {
  const random = mulberry32(opts.seed);
  const picked = new Map<string, SourceRow>();
  const n = Math.min(opts.sampleSize, rows.length);
  while (picked.size < n) {
    const r = rows[Math.floor(random() * rows.length)]!;
    picked.set(r.admissionId, r);
  }
  const found = (
    await sql<Record<string, unknown>>`
      select a.id, a.patient_id, a.age, a.condition, a.admitted::text as admitted, a.discharged::text as discharged, a.doctor, a.hospital,
             a.insurer, a.billing::text as billing, a.room, a.admission_type, a.medication, a.test_result, a.flags,
             p.name_sealed, p.gender, p.blood_type
      from admissions a join patients p on p.id = a.patient_id
      where a.id = any(${[...picked.keys()]}::text[])`.execute(db)
  ).rows;
  const differences: string[] = [];
  for (const got of found) {
    const want = picked.get(String(got.id))!;
    const fields: Array<[string, unknown, unknown]> = [
      ['name', want.row.name, unsealName(keys, String(got.patient_id), String(got.name_sealed))],
      ['patient', want.patientId, got.patient_id],
      ['age', want.row.age, got.age],
      ['gender', want.row.gender, got.gender],
      ['bloodType', want.row.bloodType, got.blood_type],
      ['condition', want.row.condition, got.condition],
      ['admitted', want.row.admitted, got.admitted],
      ['discharged', want.row.discharged, got.discharged],
      ['doctor', want.row.doctor, got.doctor],
      ['hospital', want.row.hospital, got.hospital],
      ['insurer', want.row.insurer, got.insurer],
      ['billing', numericText(want.row.billing), got.billing],
      ['room', want.row.room, got.room],
      ['admissionType', want.row.admissionType, got.admission_type],
      ['medication', want.row.medication, got.medication],
      ['testResult', want.row.testResult, got.test_result],
      ['flags', want.row.flags.join(','), (got.flags as string[]).join(',')],
    ];
    for (const [field, w, g] of fields) if (w !== g) differences.push(`${want.admissionId}.${field}`);
  }
  const missing = picked.size - found.length;
  return {
    name: `sample of ${picked.size} rows compared field by field`,
    source: picked.size,
    database: missing > 0 || differences.length > 0 ? `${found.length} found, ${differences.length} fields differ${differences.length ? ` (${differences.slice(0, 5).join(', ')})` : ''}` : picked.size,
    ok: missing === 0 && differences.length === 0,
  };
}

/** A text[] literal of ids made only of [a-z0-9_]: built here, since the driver's escaping costs ~5 µs an element. */
function idArray(ids: readonly string[]): string {
  return `{${ids.join(',')}}`;
}

function unsealName(keys: RecordKeys, patientId: string, sealed: string): string | undefined {
  try {
    return envelope.open(keys.names, Buffer.from(sealed, 'base64'), patientId).toString('utf8');
  } catch {
    return undefined;
  }
}

/** A decimal as PostgreSQL's numeric prints it: no '+', no leading zeros, no negative zero; scale kept. */
export function numericText(value: string): string {
  const m = /^([+-]?)0*(\d*)(\.\d+)?$/.exec(value.trim());
  if (!m) return value;
  const int = m[2] === '' ? '0' : m[2]!;
  const frac = m[3] ?? '';
  const zero = /^0*$/.test(int + frac.slice(1));
  return `${m[1] === '-' && !zero ? '-' : ''}${int}${frac}`;
}
