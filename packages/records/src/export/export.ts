/**
 * GDPR portability export (art. 20) of one patient: everything the platform holds about them,
 * as a versioned Strata JSON document (`toPortableJson`) and as a FHIR R4 `collection` Bundle
 * (`toFhirBundle`). Both are pure functions of a `PatientExport`, which the repository fills.
 *
 * Invariants:
 * - Deterministic: the same export gives byte-identical output. Admissions, vitals and points are
 *   sorted, and every bundle entry's `urn:uuid` is a UUID v5 of a key made from the patient id
 *   and the URI-encoded source ids (`strata:patient/<pid>/admission/<admissionId>/encounter`, ...).
 * - Every literal `reference` in the bundle points to an entry's `fullUrl`; things the platform
 *   holds only as text (doctor, hospital, room, a device not in `devices`) are display-only
 *   references.
 * - The JSON export is lossless; the bundle is not: billing, insurer, the age at admission, row
 *   flags and device metadata have no faithful home in these resources and are left to the JSON.
 *   See README.md beside this file for both formats.
 */
import { createHash } from 'node:crypto';
import type { Admission, PatientRecord } from '../types.js';
import type {
  FhirBundle,
  FhirBundleEntry,
  FhirCodeableConcept,
  FhirCoding,
  FhirDevice,
  FhirHumanName,
  FhirObservation,
  FhirObservationComponent,
  FhirPatient,
  FhirQuantity,
  FhirReference,
  FhirResource,
} from './fhir-types.js';

export type * from './fhir-types.js';

export interface PatientVitals {
  deviceId: string;
  deviceName: string | null;
  metric: string;
  unit?: string;
  /** Width of one bucket in seconds, for the FHIR `effectivePeriod.end`. Default 3600 (hourly rollup). */
  bucketSeconds?: number;
  /** one point per bucket (e.g. hourly rollup) */
  points: Array<{ start: string /* ISO */; count: number; mean: number; min: number; max: number }>;
}

export interface PatientExport {
  patient: PatientRecord;
  admissions: Admission[];
  devices: Array<{ id: string; name: string | null; kind: string; metadata: Record<string, unknown> }>;
  vitals: PatientVitals[];
  /** ISO date-time of the export. */
  generatedAt: string;
}

export const PORTABLE_FORMAT = 'strata.patient-export';
export const PORTABLE_VERSION = 1;

/**
 * Version 1 of the Strata JSON export. Fields are never renamed or removed within a version;
 * additions are backwards compatible, anything else bumps `version`.
 */
export interface PortableExportV1 {
  format: typeof PORTABLE_FORMAT;
  version: typeof PORTABLE_VERSION;
  /** When the export was made, ISO instant in UTC. */
  generatedAt: string;
  patient: PatientRecord;
  /**
   * Every admission with every stored field, oldest first. `billing` is the exact decimal as
   * text ('18856.281305978155', may be negative): parse it with a decimal library, not a float.
   * `flags` lists the questionable values kept on import (negative_billing, ...).
   */
  admissions: Admission[];
  /** The devices assigned to the patient, with their metadata as stored. */
  devices: PatientExport['devices'];
  /**
   * Device readings as rollups: one point per bucket starting at `start` and lasting
   * `bucketSeconds`, with the count, mean, min and max of the readings in it. `unit` is null
   * when the device does not declare one.
   */
  vitals: Array<Omit<PatientVitals, 'unit' | 'bucketSeconds'> & { unit: string | null; bucketSeconds: number }>;
}

const DEFAULT_BUCKET_SECONDS = 3600;

/** The JSON export: everything in `exp`, in a documented, versioned shape. */
export function toPortableJson(exp: PatientExport): PortableExportV1 {
  return {
    format: PORTABLE_FORMAT,
    version: PORTABLE_VERSION,
    generatedAt: instant(exp.generatedAt, 'generatedAt'),
    patient: { ...exp.patient },
    admissions: sortedAdmissions(exp.admissions).map((a) => ({ ...a, flags: [...a.flags] })),
    devices: [...exp.devices]
      .sort((a, b) => compare(a.id, b.id))
      .map((d) => ({ ...d, metadata: structuredClone(d.metadata) })),
    vitals: sortedVitals(exp.vitals).map((v) => ({
      deviceId: v.deviceId,
      deviceName: v.deviceName,
      metric: v.metric,
      unit: v.unit ?? null,
      bucketSeconds: v.bucketSeconds ?? DEFAULT_BUCKET_SECONDS,
      points: sortedPoints(v.points).map((p) => ({ ...p })),
    })),
  };
}

// --- FHIR -------------------------------------------------------------------------------------

const SYS = {
  loinc: 'http://loinc.org',
  ucum: 'http://unitsofmeasure.org',
  actCode: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
  actPriority: 'http://terminology.hl7.org/CodeSystem/v3-ActPriority',
  participationType: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType',
  interpretation: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation',
  obsCategory: 'http://terminology.hl7.org/CodeSystem/observation-category',
  statistics: 'http://terminology.hl7.org/CodeSystem/observation-statistics',
  dataAbsent: 'http://terminology.hl7.org/CodeSystem/data-absent-reason',
  conditionCategory: 'http://terminology.hl7.org/CodeSystem/condition-category',
  conditionClinical: 'http://terminology.hl7.org/CodeSystem/condition-clinical',
  conditionVerification: 'http://terminology.hl7.org/CodeSystem/condition-ver-status',
  rfc3986: 'urn:ietf:rfc:3986',
  patient: 'urn:strata:patient',
  admission: 'urn:strata:admission',
  device: 'urn:strata:device',
} as const;

/**
 * Metrics with a LOINC vital-sign code and their UCUM unit when the device declares none.
 * Oxygen saturation carries 2708-6 as well as 59408-5 (pulse oximetry) because the R4 vital-signs
 * profile for it requires 2708-6. A lone systolic pressure is not the R4 blood-pressure panel
 * (85354-9), so that one is plain FHIR, not the profile; no `meta.profile` is claimed for any.
 */
const VITAL_SIGNS: Record<string, { coding: FhirCoding[]; ucum: string }> = {
  heart_rate: { coding: [loinc('8867-4', 'Heart rate')], ucum: '/min' },
  spo2: {
    coding: [loinc('59408-5', 'Oxygen saturation in Arterial blood by Pulse oximetry'), loinc('2708-6', 'Oxygen saturation in Arterial blood')],
    ucum: '%',
  },
  temperature: { coding: [loinc('8310-5', 'Body temperature')], ucum: 'Cel' },
  respiration_rate: { coding: [loinc('9279-1', 'Respiratory rate')], ucum: '/min' },
  systolic_bp: { coding: [loinc('8480-6', 'Systolic blood pressure')], ucum: 'mm[Hg]' },
};
/** Names devices use for the same metrics. */
const VITAL_ALIASES: Record<string, string> = { hr: 'heart_rate', body_temp: 'temperature' };

/** Unit spellings devices send → UCUM code; anything else is passed on as text only. */
const UCUM_ALIASES: Record<string, string> = {
  '/min': '/min', 'bpm': '/min', 'beats/min': '/min', 'breaths/min': '/min', '1/min': '/min', 'min-1': '/min',
  '%': '%', 'percent': '%',
  'cel': 'Cel', '°c': 'Cel', 'degc': 'Cel', 'c': 'Cel', 'celsius': 'Cel',
  '[degf]': '[degF]', '°f': '[degF]', 'degf': '[degF]', 'f': '[degF]', 'fahrenheit': '[degF]',
  'mm[hg]': 'mm[Hg]', 'mmhg': 'mm[Hg]',
};
const UCUM_DISPLAY: Record<string, string> = { '/min': '/min', '%': '%', 'Cel': '°C', '[degF]': '°F', 'mm[Hg]': 'mmHg' };

/** Admission type → Encounter.class: every row is a hospital stay with a room, so inpatient unless it is an emergency. */
const EMERGENCY = 'emergency';
/** Admission type → Encounter.priority (v3 ActPriority), which keeps what `class` folds together. */
const PRIORITY: Record<string, FhirCoding> = {
  emergency: { system: SYS.actPriority, code: 'EM', display: 'emergency' },
  urgent: { system: SYS.actPriority, code: 'UR', display: 'urgent' },
  elective: { system: SYS.actPriority, code: 'EL', display: 'elective' },
};
/** Test result → Observation.interpretation (v3 ObservationInterpretation). */
const INTERPRETATION: Record<string, FhirCoding> = {
  normal: { system: SYS.interpretation, code: 'N', display: 'Normal' },
  abnormal: { system: SYS.interpretation, code: 'A', display: 'Abnormal' },
  inconclusive: { system: SYS.interpretation, code: 'IND', display: 'Indeterminate' },
};

/**
 * A FHIR R4 `collection` Bundle of the patient: Patient, blood group Observation, Devices, and
 * per admission an Encounter, Condition, MedicationStatement and test-result Observation, then
 * one vital-signs Observation per rollup point. Throws a RangeError when a date is not ISO.
 */
export function toFhirBundle(exp: PatientExport): FhirBundle {
  const pid = exp.patient.id;
  const entries: FhirBundleEntry[] = [];
  // Ids are URI-encoded in the keys so that no two different (device, metric) pairs make the same key.
  const idOf = (key: string): string => uuidV5(`strata:patient/${enc(pid)}${key}`);
  const add = (key: string, build: (id: string) => FhirResource): FhirReference => {
    const id = idOf(key);
    entries.push({ fullUrl: `urn:uuid:${id}`, resource: build(id) });
    return { reference: `urn:uuid:${id}` };
  };

  const patient = add('', (id) => patientResource(id, exp.patient));
  add('/blood-group', (id) => ({
    resourceType: 'Observation',
    id,
    status: 'final',
    category: [category('laboratory', 'Laboratory')],
    code: { coding: [loinc('882-1', 'ABO and Rh group [Type] in Blood')], text: 'Blood group' },
    subject: patient,
    valueCodeableConcept: { text: exp.patient.bloodType },
  }));

  const devices = new Map<string, FhirReference>();
  for (const d of [...exp.devices].sort((a, b) => compare(a.id, b.id))) {
    const ref = add(`/device/${enc(d.id)}`, (id): FhirDevice => ({
      resourceType: 'Device',
      id,
      identifier: [{ system: SYS.device, value: d.id }],
      ...ifText(d.name ?? '', (name) => ({ deviceName: [{ name, type: 'user-friendly-name' as const }] })),
      ...ifText(d.kind, (text) => ({ type: { text } })),
      patient,
    }));
    devices.set(d.id, ref);
  }

  for (const a of sortedAdmissions(exp.admissions)) {
    const key = `/admission/${enc(a.id)}`;
    // The encounter and its condition refer to each other, so both references are known first.
    const encounter = { reference: `urn:uuid:${idOf(`${key}/encounter`)}` };
    const condition = { reference: `urn:uuid:${idOf(`${key}/condition`)}` };
    const type = a.admissionType.trim().toLowerCase();
    const priority = PRIORITY[type];
    const period = { start: a.admitted, end: a.discharged };
    // A blank value gets no resource (FHIR strings cannot be empty); cleaned rows have none.
    const conditionText = text(a.condition);
    const medicationText = text(a.medication);
    const testText = text(a.testResult);

    add(`${key}/encounter`, (id) => ({
      resourceType: 'Encounter',
      id,
      identifier: [{ system: SYS.admission, value: a.id }],
      status: 'finished',
      class: type === EMERGENCY
        ? { system: SYS.actCode, code: 'EMER', display: 'emergency' }
        : { system: SYS.actCode, code: 'IMP', display: 'inpatient encounter' },
      ...ifText(a.admissionType, (t) => ({ type: [{ text: t }] })),
      ...(priority ? { priority: { coding: [priority], text: a.admissionType.trim() } } : {}),
      subject: patient,
      ...ifText(a.doctor, (display) => ({
        participant: [{
          type: [{ coding: [{ system: SYS.participationType, code: 'ATND', display: 'attender' }] }],
          individual: { display },
        }],
      })),
      period,
      ...(conditionText ? { diagnosis: [{ condition }] } : {}),
      location: [{ location: { display: `Room ${a.room}` } }],
      ...ifText(a.hospital, (display) => ({ serviceProvider: { display } })),
    }));
    if (conditionText) add(`${key}/condition`, (id) => ({
      resourceType: 'Condition',
      id,
      clinicalStatus: { coding: [{ system: SYS.conditionClinical, code: 'active', display: 'Active' }] },
      verificationStatus: { coding: [{ system: SYS.conditionVerification, code: 'confirmed', display: 'Confirmed' }] },
      category: [{ coding: [{ system: SYS.conditionCategory, code: 'encounter-diagnosis', display: 'Encounter Diagnosis' }] }],
      code: { text: conditionText },
      subject: patient,
      encounter,
      recordedDate: a.admitted,
    }));
    if (medicationText) add(`${key}/medication`, (id) => ({
      resourceType: 'MedicationStatement',
      id,
      status: 'completed',
      medicationCodeableConcept: { text: medicationText },
      subject: patient,
      context: encounter,
      effectivePeriod: period,
      ...(conditionText ? { reasonReference: [condition] } : {}),
    }));
    const interpretation = INTERPRETATION[testText?.toLowerCase() ?? ''];
    if (testText) add(`${key}/test-result`, (id) => ({
      resourceType: 'Observation',
      id,
      status: 'final',
      code: { text: 'Test result' },
      subject: patient,
      encounter,
      valueCodeableConcept: { text: testText },
      ...(interpretation ? { interpretation: [{ coding: [interpretation], text: testText }] } : {}),
    }));
  }

  for (const v of sortedVitals(exp.vitals)) {
    const bucketMs = (v.bucketSeconds ?? DEFAULT_BUCKET_SECONDS) * 1000;
    const device: FhirReference = { ...devices.get(v.deviceId), display: v.deviceId };
    const vital = VITAL_SIGNS[VITAL_ALIASES[v.metric] ?? v.metric];
    const code: FhirCodeableConcept = vital ? { coding: vital.coding, text: v.metric } : { text: v.metric };
    const quantity = quantityOf(v.unit, vital?.ucum);
    for (const p of sortedPoints(v.points)) {
      const start = instant(p.start, `vitals point start of ${v.deviceId}/${v.metric}`);
      add(`/vitals/${enc(v.deviceId)}/${enc(v.metric)}/${start}`, (id): FhirObservation => ({
        resourceType: 'Observation',
        id,
        status: 'final',
        ...(vital ? { category: [category('vital-signs', 'Vital Signs')] } : {}),
        code,
        subject: patient,
        effectivePeriod: { start, end: new Date(Date.parse(start) + bucketMs).toISOString() },
        ...valueOf(p.mean, quantity),
        note: [{ text: 'The value is the mean of the readings in the period; the components give their minimum, maximum and count.' }],
        device,
        component: [
          { code: statistic('minimum', 'Minimum'), ...valueOf(p.min, quantity) },
          { code: statistic('maximum', 'Maximum'), ...valueOf(p.max, quantity) },
          { code: statistic('count', 'Count'), valueInteger: p.count },
        ],
      }));
    }
  }

  const generatedAt = instant(exp.generatedAt, 'generatedAt');
  return {
    resourceType: 'Bundle',
    identifier: { system: SYS.rfc3986, value: `urn:uuid:${idOf(`/export/${generatedAt}`)}` },
    type: 'collection',
    timestamp: generatedAt,
    entry: entries,
  };
}

// --- Patient name -----------------------------------------------------------------------------

const NAME_PREFIXES = new Set(['mr', 'mrs', 'ms', 'miss', 'mx', 'dr', 'prof', 'sir', 'dame', 'rev']);
const NAME_SUFFIXES = new Set(['jr', 'sr', 'ii', 'iii', 'iv', 'md', 'dds', 'dvm', 'phd', 'esq']);
const bare = (token: string): string => token.toLowerCase().replace(/[.,]+$/, '');

/**
 * Best effort split of a full name: leading titles → prefix, trailing Jr./MD/... → suffix, the
 * last remaining word → family, the others → given. A single word is taken as the family name
 * (mononym); `text` always keeps the name as written.
 */
export function splitName(fullName: string): FhirHumanName {
  const text = fullName.trim().replace(/\s+/g, ' ');
  const words = text.split(' ').filter((w) => w !== '');
  let first = 0;
  let last = words.length;
  while (last - first > 1 && NAME_PREFIXES.has(bare(words[first] ?? ''))) first++;
  while (last - first > 1 && NAME_SUFFIXES.has(bare(words[last - 1] ?? ''))) last--;
  const core = words.slice(first, last).map((w) => w.replace(/,+$/, '')).filter((w) => w !== '');
  const family = core.at(-1);
  const given = core.slice(0, -1);
  return {
    use: 'official',
    text,
    ...(family ? { family } : {}),
    ...(given.length > 0 ? { given } : {}),
    ...(first > 0 ? { prefix: words.slice(0, first) } : {}),
    ...(last < words.length ? { suffix: words.slice(last).map((w) => w.replace(/,+$/, '')) } : {}),
  };
}

function patientResource(id: string, p: PatientRecord): FhirPatient {
  const name = splitName(p.name);
  const year = String(p.birthYear);
  return {
    resourceType: 'Patient',
    id,
    identifier: [{ system: SYS.patient, value: p.id }],
    ...(name.text === '' ? {} : { name: [name] }),
    gender: p.gender === 'Male' ? 'male' : p.gender === 'Female' ? 'female' : 'other',
    // FHIR dates allow a year alone; the source has nothing finer than the birth year.
    ...(/^[1-9][0-9]{3}$/.test(year) ? { birthDate: year } : {}),
  };
}

// --- Helpers ----------------------------------------------------------------------------------

/** The trimmed text, or undefined when blank. */
function text(value: string): string | undefined {
  const t = value.trim();
  return t === '' ? undefined : t;
}

/** `build(text)` when the value is not blank, else nothing: for optional elements. */
function ifText<T extends object>(value: string, build: (text: string) => T): T | Record<never, never> {
  const t = text(value);
  return t === undefined ? {} : build(t);
}

function loinc(code: string, display: string): FhirCoding {
  return { system: SYS.loinc, code, display };
}

function category(code: string, display: string): FhirCodeableConcept {
  return { coding: [{ system: SYS.obsCategory, code, display }] };
}

function statistic(code: string, display: string): FhirCodeableConcept {
  return { coding: [{ system: SYS.statistics, code, display }], text: display };
}

/** The unit part of a Quantity: UCUM-coded when the unit is known, text-only otherwise. */
function quantityOf(unit: string | undefined, defaultUcum: string | undefined): Omit<FhirQuantity, 'value'> {
  const ucum = unit === undefined ? defaultUcum : UCUM_ALIASES[unit.trim().toLowerCase()];
  if (ucum) return { unit: UCUM_DISPLAY[ucum] ?? ucum, system: SYS.ucum, code: ucum };
  return unit && unit.trim() !== '' ? { unit: unit.trim() } : {};
}

/** `valueQuantity`, or a data-absent reason for NaN/Infinity (JSON would turn them into null). */
function valueOf(value: number, unit: Omit<FhirQuantity, 'value'>): Pick<FhirObservationComponent, 'valueQuantity' | 'dataAbsentReason'> {
  if (Number.isFinite(value)) return { valueQuantity: { value, ...unit } };
  return { dataAbsentReason: { coding: [{ system: SYS.dataAbsent, code: 'not-a-number', display: 'Not a Number (NaN)' }] } };
}

/** A FHIR instant in UTC from an ISO date or date-time. */
function instant(iso: string, what: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new RangeError(`patient export: ${what} is not an ISO date-time: '${iso}'`);
  return new Date(ms).toISOString();
}

/** UUID v5 (RFC 9562 §5.5: SHA-1 of namespace + name) in the Strata export namespace. */
const UUID_NAMESPACE = Buffer.from('6a3f1f0e2c7d4b8e9d51a4c0b7e2f931', 'hex');
function uuidV5(name: string): string {
  const hash = createHash('sha1').update(UUID_NAMESPACE).update(name, 'utf8').digest().subarray(0, 16);
  hash.writeUInt8((hash.readUInt8(6) & 0x0f) | 0x50, 6);
  hash.writeUInt8((hash.readUInt8(8) & 0x3f) | 0x80, 8);
  const hex = hash.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const enc = encodeURIComponent;

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortedAdmissions(admissions: Admission[]): Admission[] {
  return [...admissions].sort((a, b) => compare(a.admitted, b.admitted) || compare(a.id, b.id));
}

function sortedVitals(vitals: PatientVitals[]): PatientVitals[] {
  return [...vitals].sort((a, b) => compare(a.deviceId, b.deviceId) || compare(a.metric, b.metric));
}

function sortedPoints(points: PatientVitals['points']): PatientVitals['points'] {
  return [...points].sort((a, b) => Date.parse(a.start) - Date.parse(b.start) || compare(a.start, b.start));
}
