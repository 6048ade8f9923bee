/**
 * Loading cleaned rows, inside the import's transaction (all-or-nothing per run), rows sent
 * in batches of `batchSize` as one `INSERT … SELECT FROM unnest(arrays)` statement each. That is
 * within a small factor of COPY, and unlike COPY it works on both engines through the one query
 * layer (PGlite's COPY needs its own API, and the embedded database is served from its own
 * thread), and it can say `ON CONFLICT DO NOTHING`: rows already present are skipped, so
 * re-running an import changes nothing.
 */
import { sql } from 'kysely';
import { envelope } from '@strata/core';
import type { RecordKeys } from '../keys.js';
import type { RecordsDb } from '../schema.js';
import type { CleanRow } from '../types.js';
import { birthYear } from './ids.js';

export interface SourceRow {
  admissionId: string;
  patientId: string;
  row: CleanRow;
}

export interface LoadResult {
  patientsInserted: number;
  admissionsInserted: number;
}

/**
 * Rows go in id order: two imports of overlapping files lock the same keys in the same order, so
 * on a server they wait for each other instead of deadlocking.
 */
export async function loadRows(
  tx: RecordsDb,
  keys: RecordKeys,
  rows: readonly SourceRow[],
  opts: { importId: string; batchSize: number; onBatch?: (loaded: number) => void },
): Promise<LoadResult> {
  const patients = new Map<string, CleanRow>();
  for (const r of rows) if (!patients.has(r.patientId)) patients.set(r.patientId, r.row);
  const patientList = [...patients].sort(([a], [b]) => (a < b ? -1 : 1));
  const ordered = [...rows].sort((a, b) => (a.admissionId < b.admissionId ? -1 : 1));
  {
    let patientsInserted = 0;
    for (let i = 0; i < patientList.length; i += opts.batchSize) {
      const batch = patientList.slice(i, i + opts.batchSize);
      const res = await sql`
        insert into patients (id, name_sealed, key_id, gender, blood_type, birth_year)
        select id, name_sealed, ${keys.namesKeyId}, gender, blood_type, birth_year
        from unnest(${batch.map(([id]) => id)}::text[], ${batch.map(([id, r]) => envelope.seal(keys.names, r.name, id).toString('base64'))}::text[],
                    ${batch.map(([, r]) => r.gender)}::text[], ${batch.map(([, r]) => r.bloodType)}::text[], ${batch.map(([, r]) => birthYear(r))}::int[])
             as t (id, name_sealed, gender, blood_type, birth_year)
        on conflict (id) do nothing`.execute(tx);
      patientsInserted += Number(res.numAffectedRows ?? 0);
    }
    let admissionsInserted = 0;
    for (let i = 0; i < ordered.length; i += opts.batchSize) {
      const batch = ordered.slice(i, i + opts.batchSize);
      const col = <T>(f: (r: SourceRow) => T): T[] => batch.map(f);
      const res = await sql`
        insert into admissions (id, patient_id, age, condition, admitted, discharged, doctor, hospital, insurer, billing, room,
                                admission_type, medication, test_result, flags, import_id)
        select id, patient_id, age, condition, admitted, discharged, doctor, hospital, insurer, billing, room,
               admission_type, medication, test_result, case when flags = '' then '{}'::text[] else string_to_array(flags, ',') end, ${opts.importId}
        from unnest(${col((r) => r.admissionId)}::text[], ${col((r) => r.patientId)}::text[], ${col((r) => r.row.age)}::int[],
                    ${col((r) => r.row.condition)}::text[], ${col((r) => r.row.admitted)}::date[], ${col((r) => r.row.discharged)}::date[],
                    ${col((r) => r.row.doctor)}::text[], ${col((r) => r.row.hospital)}::text[], ${col((r) => r.row.insurer)}::text[],
                    ${col((r) => r.row.billing)}::numeric[], ${col((r) => r.row.room)}::int[], ${col((r) => r.row.admissionType)}::text[],
                    ${col((r) => r.row.medication)}::text[], ${col((r) => r.row.testResult)}::text[], ${col((r) => r.row.flags.join(','))}::text[])
             as t (id, patient_id, age, condition, admitted, discharged, doctor, hospital, insurer, billing, room,
                   admission_type, medication, test_result, flags)
        on conflict (id) do nothing`.execute(tx);
      admissionsInserted += Number(res.numAffectedRows ?? 0);
      opts.onBatch?.(i + batch.length);
    }
    return { patientsInserted, admissionsInserted };
  }
}
