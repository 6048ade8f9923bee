/**
 * Reading and erasing patient records. Names are unsealed here, for callers the API has already
 * allowed (clinicians, admins) and audited; nothing in this module decides access.
 */
import { sql, type Selectable } from 'kysely';
import { envelope } from '@strata/core';
import { recordsErrors } from './errors.js';
import type { RecordKeys } from './keys.js';
import type { AdmissionsTable, PatientsTable, RecordsDb } from './schema.js';
import type { Admission, BloodType, PatientRecord, RowFlag } from './types.js';
import type { PatientExport, PatientVitals } from './export/export.js';

export interface PatientQuery {
  condition?: string;
  hospital?: string;
  doctor?: string;
  /** Admitted on or after this date (YYYY-MM-DD). */
  admittedFrom?: string;
  /** Admitted on or before this date (YYYY-MM-DD). */
  admittedTo?: string;
  /** Patients after this id (the previous page's `nextCursor`). */
  cursor?: string;
  limit: number;
}

export interface PatientPage {
  items: Array<PatientRecord & { admissions: number }>;
  nextCursor: string | null;
}

/** Patients with at least one admission matching every filter, by id, one page at a time. */
export async function listPatients(db: RecordsDb, keys: RecordKeys, q: PatientQuery): Promise<PatientPage> {
  let matching = db.selectFrom('admissions').select(['patient_id']).select((eb) => eb.fn.countAll<number>().as('admissions')).groupBy('patient_id');
  if (q.condition !== undefined) matching = matching.where('condition', '=', q.condition);
  if (q.hospital !== undefined) matching = matching.where('hospital', '=', q.hospital);
  if (q.doctor !== undefined) matching = matching.where('doctor', '=', q.doctor);
  if (q.admittedFrom !== undefined) matching = matching.where('admitted', '>=', q.admittedFrom);
  if (q.admittedTo !== undefined) matching = matching.where('admitted', '<=', q.admittedTo);
  if (q.cursor !== undefined) matching = matching.where('patient_id', '>', q.cursor);
  const rows = await db
    .selectFrom(matching.orderBy('patient_id').limit(q.limit + 1).as('m'))
    .innerJoin('patients as p', 'p.id', 'm.patient_id')
    .selectAll('p')
    .select('m.admissions')
    .orderBy('p.id')
    .execute();
  const page = rows.slice(0, q.limit);
  return {
    items: page.map((r) => ({ ...toPatient(keys, r), admissions: Number(r.admissions) })),
    nextCursor: rows.length > q.limit ? page.at(-1)!.id : null,
  };
}

export async function getPatient(db: RecordsDb, keys: RecordKeys, id: string): Promise<PatientRecord> {
  const row = await db.selectFrom('patients').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) throw recordsErrors.STRATA_ERR_RECORDS_NOT_FOUND({ id });
  return toPatient(keys, row);
}

/** A patient's admissions, most recent first. */
export async function patientAdmissions(db: RecordsDb, id: string): Promise<Admission[]> {
  const rows = await db
    .selectFrom('admissions')
    .select(['id', 'patient_id', 'age', 'condition', 'doctor', 'hospital', 'insurer', 'room', 'admission_type', 'medication', 'test_result', 'flags', 'import_id'])
    .select([sql<string>`admitted::text`.as('admitted'), sql<string>`discharged::text`.as('discharged'), sql<string>`billing::text`.as('billing')])
    .where('patient_id', '=', id)
    .orderBy(sql`admissions.admitted`, 'desc')
    .orderBy('id')
    .execute();
  return rows.map(toAdmission);
}

/**
 * Everything Strata holds about a patient, for portability: the record, admissions, the devices
 * linked to them (device metadata `patient_id`), and those devices' vitals as hourly buckets
 * from the store's rollups.
 */
export async function patientExport(db: RecordsDb, keys: RecordKeys, id: string, now = new Date()): Promise<PatientExport> {
  const patient = await getPatient(db, keys, id);
  const admissions = await patientAdmissions(db, id);
  const devices = await linkedDevices(db, id);
  const vitals: PatientVitals[] = [];
  if (devices.length > 0) {
    const rows = (
      await sql<{ device: string; metric: string; start: Date; count: number; sum: number; min: number; max: number }>`
        select device, metric, date_trunc('hour', minute) as start, sum(count)::int8 as count, sum(sum) as sum, min(min) as min, max(max) as max
        from rollups_1m where device = any(${devices.map((d) => d.id)}::text[])
        group by device, metric, date_trunc('hour', minute) order by device, metric, start`.execute(db)
    ).rows;
    const names = new Map(devices.map((d) => [d.id, d.name]));
    for (const r of rows) {
      let series = vitals.at(-1);
      if (!series || series.deviceId !== r.device || series.metric !== r.metric) {
        series = { deviceId: r.device, deviceName: names.get(r.device) ?? null, metric: r.metric, points: [] };
        vitals.push(series);
      }
      series.points.push({ start: new Date(r.start).toISOString(), count: Number(r.count), mean: Number(r.sum) / Number(r.count), min: Number(r.min), max: Number(r.max) });
    }
  }
  return { patient, admissions, devices, vitals, generatedAt: now.toISOString() };
}

export async function linkedDevices(db: RecordsDb, patientId: string): Promise<PatientExport['devices']> {
  const rows = (
    await sql<{ id: string; name: string | null; kind: string; metadata: Record<string, unknown> }>`
      select id, name, kind, metadata from devices where metadata->>'patient_id' = ${patientId} order by id`.execute(db)
  ).rows;
  return rows.map((r) => ({ id: r.id, name: r.name, kind: r.kind, metadata: r.metadata }));
}

export interface StoreErasure {
  patient: string;
  admissions: number;
  devices: string[];
  rollups: number;
  latestValues: number;
  alerts: number;
  /** Device-bound API keys of those devices, revoked: an erased device sends nothing more. */
  keysRevoked: number;
}

/**
 * Erases a patient from the store in one transaction: the patient and admissions, the linked
 * devices with their latest values, rollups, alerts and notifications, revokes their device-bound
 * API keys, and records the devices
 * in `erased_devices` so that their older telemetry coming back from a stream replay is dropped.
 * The lake is the caller's next step (@strata/lake `eraseDevices`).
 */
export async function erasePatientFromStore(
  db: RecordsDb,
  id: string,
  opts: { now?: Date; /** Runs in the erasure's transaction (the audit record): if it fails, nothing is erased. */ inTransaction?: (tx: RecordsDb, erased: StoreErasure) => Promise<void> } = {},
): Promise<StoreErasure> {
  const now = opts.now ?? new Date();
  return db.transaction().execute(async (tx) => {
    const patient = await tx.selectFrom('patients').select('id').where('id', '=', id).forUpdate().executeTakeFirst();
    if (!patient) throw recordsErrors.STRATA_ERR_RECORDS_NOT_FOUND({ id });
    const devices = (await linkedDevices(tx, id)).map((d) => d.id);
    const count = async (query: ReturnType<typeof sql>) => Number((await query.execute(tx)).numAffectedRows ?? 0);
    let rollups = 0;
    let latestValues = 0;
    let alerts = 0;
    let keysRevoked = 0;
    if (devices.length > 0) {
      keysRevoked = await count(sql`update api_keys set revoked = now() where device = any(${devices}::text[]) and revoked is null`);
      rollups = await count(sql`delete from rollups_1m where device = any(${devices}::text[])`);
      latestValues = await count(sql`delete from latest_values where device = any(${devices}::text[])`);
      await count(sql`delete from notifications where alert_id in (select id from alerts where device_id = any(${devices}::text[]))`);
      alerts = await count(sql`delete from alerts where device_id = any(${devices}::text[])`);
      await count(sql`delete from devices where id = any(${devices}::text[])`);
      await tx
        .insertInto('erased_devices')
        .values(devices.map((d) => ({ device_id: d, erased_at: now, lake_erased_at: null })))
        .onConflict((oc) => oc.column('device_id').doUpdateSet({ erased_at: now, lake_erased_at: null }))
        .execute();
    }
    const admissions = Number((await tx.deleteFrom('admissions').where('patient_id', '=', id).executeTakeFirst()).numDeletedRows);
    await tx.deleteFrom('patients').where('id', '=', id).execute();
    const erased = { patient: id, admissions, devices, rollups, latestValues, alerts, keysRevoked };
    await opts.inTransaction?.(tx, erased);
    return erased;
  });
}

function toPatient(keys: RecordKeys, r: Selectable<PatientsTable>): PatientRecord {
  let name: string;
  try {
    name = envelope.open(keys.names, Buffer.from(r.name_sealed, 'base64'), r.id).toString('utf8');
  } catch (err) {
    throw recordsErrors.STRATA_ERR_RECORDS_MASTER_KEY({ reason: `the name of ${r.id} does not open with data key ${keys.namesKeyId}` }, err);
  }
  return { id: r.id, name, gender: r.gender as PatientRecord['gender'], bloodType: r.blood_type as BloodType, birthYear: r.birth_year };
}

function toAdmission(r: Selectable<AdmissionsTable>): Admission {
  return {
    id: r.id,
    patientId: r.patient_id,
    age: r.age,
    condition: r.condition,
    admitted: r.admitted,
    discharged: r.discharged,
    doctor: r.doctor,
    hospital: r.hospital,
    insurer: r.insurer,
    billing: r.billing,
    room: r.room,
    admissionType: r.admission_type,
    medication: r.medication,
    testResult: r.test_result,
    flags: r.flags as RowFlag[],
  };
}

/** Every erased device id: the lake drops their events (LakeOptions.erasedDevices). */
export async function erasedDeviceIds(db: RecordsDb): Promise<string[]> {
  return (await db.selectFrom('erased_devices').select('device_id').execute()).map((r) => r.device_id);
}
