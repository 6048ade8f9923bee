import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { waitUntil } from '@strata/testkit';
import { healthcareFixture } from '../../../../packages/records/src/testing/fixture.js';
import { startTestPlatform, type TestPlatform } from '../test-platform.js';
import { auditRecords, auth, createKey, ingest, usersOfEachRole, type Callers } from './test-support.js';

const require = createRequire(import.meta.url);
const FhirValidator = require('@asymmetrik/fhir-json-schema-validator') as new () => { validate(resource: unknown, verbose: true): unknown[] };

let t: TestPlatform;
let who: Callers;
const fixture = healthcareFixture({ seed: 11, rows: 1200 });

beforeAll(async () => {
  t = await startTestPlatform();
  who = await usersOfEachRole(t, 'rec');
});
afterAll(async () => t?.close());

/** Every line of every raw-zone object, decompressed. */
function rawLines(): string[] {
  const root = join(t.dataDir, 'lake', 'raw');
  if (!existsSync(root)) return []; // erasure deletes an object left empty, and the store its empty folders
  return readdirSync(root, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ndjson.gz'))
    .flatMap((f) => gunzipSync(readFileSync(join(root, f))).toString('utf8').split('\n'));
}

const get = (url: string, credential: string) => t.platform.app.inject({ method: 'GET', url, headers: auth(credential) });
const postCsv = (credential: string, body: string) =>
  t.platform.app.inject({ method: 'POST', url: '/v1/imports?name=fixture.csv', headers: { ...auth(credential), 'content-type': 'text/csv' }, payload: body });

describe('patient records through the API', () => {
  it('imports a CSV asynchronously (admins only) and reports its integrity proof', async () => {
    expect((await postCsv(who.clinician, fixture.csv)).statusCode).toBe(403);
    expect((await postCsv(who.analyst, fixture.csv)).statusCode).toBe(403);
    const bad = await postCsv(who.admin, 'id,name\r\n1,x\r\n');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.message).toMatch(/header lacks Name, Age/);

    const queued = await postCsv(who.admin, fixture.csv);
    expect(queued.statusCode, queued.body).toBe(202);
    const id = queued.json<{ import_id: string }>().import_id;
    let status: { status: string; report: { ok: boolean; distinctRows: number; duplicates: number } | null } | undefined;
    await waitUntil('the import to finish', async () => {
      status = (await get(`/v1/imports/${id}`, who.admin)).json();
      return status!.status === 'SUCCEEDED' || status!.status === 'FAILED';
    }, 60_000, 200);
    expect(status).toMatchObject({ status: 'SUCCEEDED', report: { ok: true, distinctRows: fixture.expected.length, duplicates: fixture.duplicates } });
    expect((await auditRecords(t, 'records.import'))[0]).toMatchObject({ resource: `import:${id}` });
  });

  it('lists patients by condition with names for clinicians, page by page, and audits the read; analysts are refused', async () => {
    const condition = fixture.expected[0]!.condition;
    const want = new Set(fixture.expected.filter((r) => r.condition === condition).map((r) => r.name));
    const names: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await get(`/v1/patients?condition=${encodeURIComponent(condition)}&limit=7${cursor ? `&cursor=${cursor}` : ''}`, who.clinician);
      expect(res.statusCode, res.body).toBe(200);
      const page = res.json<{ items: Array<{ name: string }>; nextCursor: string | null }>();
      names.push(...page.items.map((p) => p.name));
      cursor = page.nextCursor;
    } while (cursor);
    expect(new Set(names)).toEqual(want);
    expect((await auditRecords(t, 'patient.list'))[0]).toMatchObject({ actor: 'user:rec-clinician', resource: 'patients' });
    expect((await get('/v1/patients', who.analyst)).statusCode).toBe(403);
    expect((await get('/v1/patients', who.operator)).statusCode).toBe(403);
    expect((await get('/v1/patients?admittedFrom=yesterday', who.admin)).statusCode).toBe(400);
  });

  it('filters by hospital, doctor and admission dates, and lists one patient’s admissions', async () => {
    const row = fixture.expected[5]!;
    const res = await get(`/v1/patients?hospital=${encodeURIComponent(row.hospital)}&doctor=${encodeURIComponent(row.doctor)}&admittedFrom=${row.admitted}&admittedTo=${row.admitted}`, who.admin);
    const items = res.json<{ items: Array<{ id: string; name: string }> }>().items;
    expect(items.map((p) => p.name)).toContain(row.name);
    const patient = items.find((p) => p.name === row.name)!;
    const admissions = (await get(`/v1/patients/${patient.id}/admissions`, who.clinician)).json<{ items: Array<Record<string, unknown>> }>().items;
    expect(admissions).toContainEqual(expect.objectContaining({ admitted: row.admitted, discharged: row.discharged, billing: row.billing, hospital: row.hospital }));
    expect((await get('/v1/patients/pat_000000000000000000000000', who.clinician)).statusCode).toBe(404);
  });

  it('gives analysts k-anonymous admissions without names or identifiers', async () => {
    const report = (await get('/v1/admissions/anonymity', who.analyst)).json<{ kRequired: number; kReached: number; released: number; suppressed: number }>();
    expect(report.kReached).toBeGreaterThanOrEqual(report.kRequired);
    expect(report.released + report.suppressed).toBe(fixture.expected.length);
    const res = await get('/v1/admissions/anonymised?limit=1000', who.analyst);
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json<{ items: Array<Record<string, unknown>> }>();
    expect(body.items.length).toBe(Math.min(1000, report.released));
    for (const name of fixture.expected.slice(0, 200).map((r) => r.name)) expect(res.body).not.toContain(name);
    expect(res.body).not.toMatch(/pat_|adm_/);
    expect(Object.keys(body.items[0]!).sort()).toEqual(['admissionType', 'admittedYear', 'ageBand', 'billingRounded', 'bloodType', 'condition', 'gender', 'insurer', 'lengthOfStayDays', 'medication', 'ref', 'testResult']);
    // Every released combination of quasi-identifiers is shared by at least k released rows.
    const groups = new Map<string, number>();
    for (const i of body.items) groups.set(`${i.ageBand}|${i.gender}|${i.bloodType}|${i.admittedYear}`, (groups.get(`${i.ageBand}|${i.gender}|${i.bloodType}|${i.admittedYear}`) ?? 0) + 1);
    if (report.released <= 1000) for (const n of groups.values()) expect(n).toBeGreaterThanOrEqual(report.kRequired);
  });

  it('exports a patient with linked device vitals as a valid FHIR R4 Bundle and as JSON, then erases them everywhere', async () => {
    const row = fixture.expected[9]!;
    const patient = (await get(`/v1/patients?hospital=${encodeURIComponent(row.hospital)}&limit=500`, who.admin)).json<{ items: Array<{ id: string; name: string }> }>().items.find((p) => p.name === row.name)!;
    const created = await t.platform.app.inject({ method: 'POST', url: '/v1/devices', headers: auth(who.admin), payload: { id: 'wear-77', kind: 'patient', metadata: { patient_id: patient.id } } });
    expect(created.statusCode, created.body).toBe(201);
    const wearableKey = await createKey(t.platform.app, who.admin, { scopes: ['ingest'], device: 'wear-77' });
    const ts = Date.now() - 60_000;
    await ingest(t, [{ device: 'wear-77', ts: new Date(ts).toISOString(), metrics: { heart_rate: 88, spo2: 97 } }, { device: 'wear-77', ts: new Date(ts + 1000).toISOString(), metrics: { heart_rate: 92 } }]);
    await waitUntil('rollups of the wearable', async () => Number((await sql<{ n: number }>`select count(*)::int as n from rollups_1m where device = 'wear-77'`.execute(t.platform.db.kysely)).rows[0]!.n) >= 2, 20_000, 200);
    // Into the lake too: the raw zone now, and bronze to gold.
    expect((await t.platform.app.inject({ method: 'POST', url: '/v1/admin/flush', headers: auth(who.admin) })).statusCode).toBe(200);
    await t.platform.lake!.run();
    expect(rawLines().some((l) => l.includes('"wear-77"'))).toBe(true);

    const fhir = await get(`/v1/patients/${patient.id}/export?format=fhir`, who.admin);
    expect(fhir.statusCode, fhir.body).toBe(200);
    expect(fhir.headers['content-type']).toMatch(/application\/fhir\+json/);
    const bundle = fhir.json<{ resourceType: string; entry: Array<{ resource: { resourceType: string } }> }>();
    expect(new FhirValidator().validate(bundle, true)).toEqual([]);
    const types = bundle.entry.map((e) => e.resource.resourceType);
    expect(types).toEqual(expect.arrayContaining(['Patient', 'Encounter', 'Condition', 'MedicationStatement', 'Observation']));
    expect(fhir.body).toContain('8867-4'); // the heart rate from the linked wearable
    const json = (await get(`/v1/patients/${patient.id}/export`, who.admin)).json<Record<string, unknown>>();
    expect(JSON.stringify(json)).toContain(row.billing);
    expect((await get(`/v1/patients/${patient.id}/export`, who.clinician)).statusCode).toBe(403);

    expect((await t.platform.app.inject({ method: 'DELETE', url: `/v1/patients/${patient.id}`, headers: auth(who.clinician) })).statusCode).toBe(403);
    const erased = await t.platform.app.inject({ method: 'DELETE', url: `/v1/patients/${patient.id}`, headers: auth(who.admin) });
    expect(erased.statusCode, erased.body).toBe(200);
    expect(erased.json()).toMatchObject({ patient: patient.id, store: { devices: 1, keysRevoked: 1 }, lake: { rawRecordsRemoved: 2 } });
    // The wearable's own key is refused at once; events of the device sent with another key are not stored again.
    const late = [{ device: 'wear-77', metrics: { heart_rate: 70 } }];
    expect((await t.platform.app.inject({ method: 'POST', url: '/v1/ingest', headers: { ...auth(wearableKey), 'content-type': 'application/json' }, payload: late })).statusCode).toBe(401);
    await ingest(t, [...late, { device: 'canary-1', metrics: { heart_rate: 60 } }]);
    await waitUntil('the canary to be stored', async () => (await get('/v1/devices/canary-1', who.admin)).statusCode === 200, 20_000, 200);
    expect(erased.json().lake.rowsRemoved).toBeGreaterThan(0);
    expect(rawLines().some((l) => l.includes('"wear-77"'))).toBe(false);
    expect((await get(`/v1/patients/${patient.id}`, who.admin)).statusCode).toBe(404);
    expect((await get('/v1/devices/wear-77', who.admin)).statusCode).toBe(404);
    const left = (await sql<{ n: number }>`select (select count(*) from rollups_1m where device = 'wear-77') + (select count(*) from latest_values where device = 'wear-77') + (select count(*) from admissions where patient_id = ${patient.id}) as n`.execute(t.platform.db.kysely)).rows[0]!;
    expect(Number(left.n)).toBe(0);
    // What remains is the audit trail, and it holds no personal data.
    expect((await auditRecords(t, 'patient.erase'))[0]).toMatchObject({ resource: `patient:${patient.id}`, outcome: 'success' });
    const trail = JSON.stringify(await t.platform.db.kysely.selectFrom('audit_log').selectAll().execute());
    expect(trail).not.toContain(row.name);
    expect((await t.platform.app.inject({ method: 'DELETE', url: `/v1/patients/${patient.id}`, headers: auth(who.admin) })).statusCode).toBe(404);
  });
});
