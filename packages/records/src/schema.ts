/**
 * The records tables as Kysely sees them (the SQL in @strata/db's migration 0004-records is the
 * source of truth; this mirrors it).
 */
import type { ColumnType, Kysely } from 'kysely';

export interface DataKeysTable {
  id: string;
  purpose: 'names' | 'index';
  wrapped: Uint8Array;
  master_id: string;
  created: ColumnType<Date, Date | undefined, never>;
}

export interface PatientsTable {
  id: string;
  /** base64 of `envelope.seal(names key, name, patient id)`. */
  name_sealed: string;
  key_id: string;
  gender: string;
  blood_type: string;
  birth_year: number;
  created: ColumnType<Date, Date | undefined, never>;
}

export interface AdmissionsTable {
  id: string;
  patient_id: string;
  age: number;
  condition: string;
  /** `date` columns: 'YYYY-MM-DD' strings in and out (see ./dates). */
  admitted: ColumnType<string, string, string>;
  discharged: ColumnType<string, string, string>;
  doctor: string;
  hospital: string;
  insurer: string;
  /** numeric: an exact decimal string, never a float. */
  billing: string;
  room: number;
  admission_type: string;
  medication: string;
  test_result: string;
  flags: string[];
  import_id: string;
}

export interface ImportsTable {
  id: string;
  status: 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  file_name: string;
  requested_by: string;
  owner: string;
  created: ColumnType<Date, Date | undefined, never>;
  started_at: Date | null;
  finished_at: Date | null;
  phase: string | null;
  rows_read: ColumnType<number, number | undefined, number>;
  report: ColumnType<Record<string, unknown> | null, string | null, string | null>;
  error: string | null;
}

export interface ErasedDevicesTable {
  device_id: string;
  erased_at: Date;
  lake_erased_at: Date | null;
}

export interface RecordsDatabase {
  data_keys: DataKeysTable;
  patients: PatientsTable;
  admissions: AdmissionsTable;
  imports: ImportsTable;
  erased_devices: ErasedDevicesTable;
}

export type RecordsDb = Kysely<RecordsDatabase>;
