import { sql, type Kysely } from 'kysely';

/**
 * Patient records (issue 8), imported from the healthcare CSV. The source has no patient id:
 * a patient is (name, gender, blood type, birth year), and the row itself is an admission.
 * Names are the only direct identifier: they are sealed with a data key (envelope encryption,
 * packages/records), so this database alone never reveals them.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- Data keys, each sealed by the master key (config/env, never stored here). 'names' seals
    -- patient names; 'index' keys the HMAC that turns an identity into a patient id.
    create table data_keys (
      id text primary key,
      purpose text not null check (purpose in ('names', 'index')),
      wrapped bytea not null,
      master_id text not null,
      created timestamptz not null default now()
    );
    create unique index data_keys_one_per_purpose on data_keys (purpose);

    -- id = 'pat_' + HMAC(index key, identity): the same person gets the same id on every import.
    create table patients (
      id text primary key,
      -- base64 of the sealed name (iv | tag | ciphertext): text, since bytea costs PGlite ~40 µs a value.
      name_sealed text not null,
      key_id text not null references data_keys (id),
      gender text not null,
      blood_type text not null,
      birth_year integer not null,
      created timestamptz not null default now()
    );

    -- id = 'adm_' + HMAC(index key, cleaned row): exact duplicates collapse, a re-import is a no-op.
    create table admissions (
      id text primary key,
      patient_id text not null references patients (id) on delete cascade,
      age integer not null,
      condition text not null,
      admitted date not null,
      discharged date not null,
      doctor text not null,
      hospital text not null,
      insurer text not null,
      billing numeric not null,
      room integer not null,
      admission_type text not null,
      medication text not null,
      test_result text not null,
      flags text[] not null default '{}',
      import_id text not null
    );
    -- The API's filters: by condition, hospital or doctor within a date range, by date range,
    -- and a patient's admissions.
    create index admissions_patient on admissions (patient_id);
    create index admissions_condition on admissions (condition, admitted);
    create index admissions_hospital on admissions (hospital, admitted);
    create index admissions_doctor on admissions (doctor, admitted);
    create index admissions_admitted on admissions (admitted);

    create table imports (
      id text primary key,
      status text not null check (status in ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED')),
      file_name text not null,
      requested_by text not null,
      owner text not null,
      created timestamptz not null default now(),
      started_at timestamptz,
      finished_at timestamptz,
      phase text,
      rows_read integer not null default 0,
      report jsonb,
      error text
    );
    create index imports_created on imports (created desc);

    -- Devices whose telemetry was erased (GDPR erasure of their patient). The id is retired: the
    -- lake drops its events from then on, so none that come back (a stream replay within its
    -- retention) is stored again; a device handed to another patient gets a new id.
    -- lake_erased_at: when the lake role removed the device from the lake (null: still to do).
    create table erased_devices (
      device_id text primary key,
      erased_at timestamptz not null,
      lake_erased_at timestamptz
    );
  `.execute(db);
}
