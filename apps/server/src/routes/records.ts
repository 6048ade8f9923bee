import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { Kysely } from 'kysely';
import { callerName } from '@strata/auth';
import type { Database, Db } from '@strata/db';
import {
  anonymisedAdmissions,
  anonymityReport,
  erasePatientFromStore,
  getPatient,
  CSV_COLUMNS,
  ImportService,
  isIsoDate,
  recordsErrors,
  listPatients,
  patientAdmissions,
  patientExport,
  toFhirBundle,
  toPortableJson,
  type RecordKeys,
  type RecordsDb,
} from '@strata/records';
import { audit } from '../audit.js';
import { httpErrors } from '../errors.js';
import { ErrorReply } from './schemas.js';

export interface RecordsRouteOptions {
  db: Db;
  keys: RecordKeys;
  /** k of the analysts' anonymised view. */
  anonymityK: number;
  importBatchSize?: number;
  /** Largest CSV `POST /v1/imports` takes. Default 64 MiB. */
  importLimitBytes?: number;
  /** Removes devices' telemetry from the lake now (a process with the lake role); without it the lake role does it within a minute (`lake: "pending"`). */
  eraseLake?: (deviceIds: string[]) => Promise<Record<string, number>>;
  /** After an erasure revoked device keys: this process refuses them at once (others within their reload). */
  afterErase?: () => Promise<void>;
}

const PATIENT_ID = '^pat_[0-9a-f]{24}$';
const DATE = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'YYYY-MM-DD' });
const IdParams = Type.Object({ id: Type.String({ pattern: PATIENT_ID }) }, { additionalProperties: false });
const Text = Type.String({ minLength: 1, maxLength: 200 });
const ListQuery = Type.Object(
  {
    condition: Type.Optional(Text),
    hospital: Type.Optional(Text),
    doctor: Type.Optional(Text),
    admittedFrom: Type.Optional(DATE),
    admittedTo: Type.Optional(DATE),
    cursor: Type.Optional(Type.String({ pattern: PATIENT_ID, description: 'From `nextCursor` of the previous page.' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
  },
  { additionalProperties: false },
);
const Patient = Type.Object({ id: Type.String(), name: Type.String(), gender: Type.String(), bloodType: Type.String(), birthYear: Type.Integer() });
const Admission = Type.Object({
  id: Type.String(), patientId: Type.String(), age: Type.Integer(), condition: Type.String(), admitted: Type.String(), discharged: Type.String(),
  doctor: Type.String(), hospital: Type.String(), insurer: Type.String(), billing: Type.String({ description: 'Exact decimal.' }), room: Type.Integer(),
  admissionType: Type.String(), medication: Type.String(), testResult: Type.String(), flags: Type.Array(Type.String()),
});
const AnonQuery = Type.Object(
  {
    condition: Type.Optional(Text),
    year: Type.Optional(Type.Integer({ minimum: 1900, maximum: 2200 })),
    offset: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  },
  { additionalProperties: false },
);
const ExportQuery = Type.Object({ format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('fhir')], { default: 'json', description: 'json: everything held, as Strata shapes it; fhir: a FHIR R4 Bundle.' })) }, { additionalProperties: false });
const ImportQuery = Type.Object({ name: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._ -]{1,200}$', description: 'File name to record (letters, digits, . _ - and spaces).' })) }, { additionalProperties: false });
const ImportIdParams = Type.Object({ id: Type.String({ format: 'uuid' }) }, { additionalProperties: false });

/**
 * Patient records (issue 8): identified reads for clinicians and admins, the anonymised view for
 * analysts, imports, GDPR portability and erasure for admins. Every read of patient data and
 * every change is audited, in the same transaction as the erasure it records.
 */
export async function recordRoutes(app: FastifyInstance, opts: RecordsRouteOptions): Promise<void> {
  const db = opts.db.kysely as unknown as RecordsDb;
  const auditDb = opts.db.kysely;
  const { keys } = opts;
  const imports = await ImportService.open({ db, keys, ...(opts.importBatchSize !== undefined && { batchSize: opts.importBatchSize }), logger: app.log.child({ component: 'records-import' }) });
  app.addHook('onClose', async () => imports.close());
  const tags = ['records'];

  app.get<{ Querystring: Static<typeof ListQuery> }>('/v1/patients', {
    config: { permission: 'records:read' },
    schema: { tags, summary: 'Patients with an admission matching every filter (names shown: audited)', querystring: ListQuery, response: { 200: Type.Object({ items: Type.Array(Type.Intersect([Patient, Type.Object({ admissions: Type.Integer() })])), nextCursor: Type.Union([Type.String(), Type.Null()]) }), 400: ErrorReply } },
  }, async (req) => {
    const { limit = 100, ...filters } = req.query;
    for (const name of ['admittedFrom', 'admittedTo'] as const) {
      const value = filters[name];
      if (value !== undefined && !isIsoDate(value)) throw httpErrors.STRATA_ERR_HTTP_BAD_REQUEST({ reason: `${name} is not a calendar date` });
    }
    const page = await listPatients(db, keys, { ...filters, limit });
    await audit(auditDb, req, { action: 'patient.list', resource: 'patients', details: { filters, returned: page.items.length } });
    return page;
  });

  app.get<{ Params: Static<typeof IdParams> }>('/v1/patients/:id', {
    config: { permission: 'records:read' },
    schema: { tags, summary: 'One patient (audited)', params: IdParams, response: { 200: Patient, 404: ErrorReply } },
  }, async (req) => {
    const patient = await getPatient(db, keys, req.params.id);
    await audit(auditDb, req, { action: 'patient.read', resource: `patient:${patient.id}` });
    return patient;
  });

  app.get<{ Params: Static<typeof IdParams> }>('/v1/patients/:id/admissions', {
    config: { permission: 'records:read' },
    schema: { tags, summary: "A patient's admissions, most recent first (audited)", params: IdParams, response: { 200: Type.Object({ items: Type.Array(Admission) }), 404: ErrorReply } },
  }, async (req) => {
    await getPatient(db, keys, req.params.id); // 404 for an unknown patient, not an empty list
    const items = await patientAdmissions(db, req.params.id);
    await audit(auditDb, req, { action: 'patient.admissions.read', resource: `patient:${req.params.id}`, details: { returned: items.length } });
    return { items };
  });

  app.get<{ Params: Static<typeof IdParams>; Querystring: Static<typeof ExportQuery> }>('/v1/patients/:id/export', {
    config: { permission: 'records:manage' },
    schema: { tags, summary: 'GDPR portability: everything held about a patient, as JSON or a FHIR R4 Bundle (audited)', params: IdParams, querystring: ExportQuery, response: { 404: ErrorReply } },
  }, async (req, reply) => {
    const exported = await patientExport(db, keys, req.params.id);
    const format = req.query.format ?? 'json';
    await audit(auditDb, req, { action: 'patient.export', resource: `patient:${req.params.id}`, details: { format, admissions: exported.admissions.length, devices: exported.devices.length } });
    reply.header('content-disposition', `attachment; filename="${req.params.id}.${format === 'fhir' ? 'fhir.json' : 'json'}"`);
    if (format === 'fhir') return reply.type('application/fhir+json').send(JSON.stringify(toFhirBundle(exported)));
    return reply.type('application/json').send(JSON.stringify(toPortableJson(exported)));
  });

  app.delete<{ Params: Static<typeof IdParams> }>('/v1/patients/:id', {
    config: { permission: 'records:manage' },
    schema: {
      tags,
      summary: 'GDPR erasure: the patient, admissions, linked devices and their telemetry in the store and the lake; only an audit record without personal data remains',
      params: IdParams,
      response: { 200: Type.Object({ patient: Type.String(), store: Type.Record(Type.String(), Type.Unknown()), lake: Type.Union([Type.Record(Type.String(), Type.Number()), Type.Literal('pending'), Type.Null()], { description: 'What was removed from the lake; "pending" when the lake role of another process does it; null without linked devices.' }) }), 404: ErrorReply },
    },
  }, async (req) => {
    const store = await erasePatientFromStore(db, req.params.id, {
      inTransaction: (tx, erased) =>
        audit(tx as unknown as Kysely<Database>, req, {
          action: 'patient.erase',
          resource: `patient:${erased.patient}`,
          details: { admissions: erased.admissions, devices: erased.devices.length, rollups: erased.rollups, alerts: erased.alerts },
        }),
    });
    if (store.keysRevoked > 0) await opts.afterErase?.();
    const lake = store.devices.length === 0 ? null : opts.eraseLake ? await lakeWithin(opts.eraseLake(store.devices), req.log) : ('pending' as const);
    return { patient: store.patient, store: { ...store, devices: store.devices.length }, lake };
  });

  app.get<{ Querystring: Static<typeof AnonQuery> }>('/v1/admissions/anonymised', {
    config: { permission: 'records:anonymised' },
    schema: { tags, summary: `Admissions without identifiers, coarsened and k-anonymous (k = ${opts.anonymityK})`, querystring: AnonQuery, response: { 400: ErrorReply } },
  }, async (req) => {
    const { offset = 0, limit = 100, ...filters } = req.query;
    const page = await anonymisedAdmissions(db, keys, { k: opts.anonymityK, offset, limit, ...filters });
    await audit(auditDb, req, { action: 'records.anonymised.read', resource: 'admissions', details: { returned: page.items.length } });
    return { k: opts.anonymityK, ...page };
  });

  app.get('/v1/admissions/anonymity', {
    config: { permission: 'records:anonymised' },
    schema: { tags, summary: 'The k-anonymity level the anonymised view reaches, and rows withheld' },
  }, async (req) => {
    const report = await anonymityReport(db, opts.anonymityK);
    await audit(auditDb, req, { action: 'records.anonymity.read', resource: 'admissions' });
    return report;
  });

  app.register(async (scope) => {
    scope.addContentTypeParser('text/csv', { parseAs: 'buffer', bodyLimit: opts.importLimitBytes ?? 64 * 1024 * 1024 }, (_req, body, done) => done(null, body));
    scope.post<{ Querystring: Static<typeof ImportQuery>; Body: Buffer }>('/v1/imports', {
      config: { permission: 'records:manage' },
      schema: { tags, summary: 'Import a healthcare CSV (body text/csv); answers at once, follow it with GET /v1/imports/{id}', querystring: ImportQuery, response: { 202: Type.Object({ import_id: Type.String(), status: Type.Literal('QUEUED') }), 400: ErrorReply, 413: ErrorReply, 415: ErrorReply } },
    }, async (req, reply) => {
      if (!Buffer.isBuffer(req.body)) throw httpErrors.STRATA_ERR_HTTP_MEDIA_TYPE({ type: `${req.headers['content-type'] ?? '(none)'}: send the CSV as text/csv` });
      const problem = headerProblem(req.body);
      if (problem) throw recordsErrors.STRATA_ERR_RECORDS_BAD_FILE({ reason: problem });
      const id = randomUUID();
      // Recorded before it is queued: an import nobody could audit does not run.
      await audit(auditDb, req, { action: 'records.import', resource: `import:${id}`, details: { bytes: req.body.length } });
      return reply.code(202).send(await imports.submit({ id, name: req.query.name ?? 'upload.csv', body: req.body }, req.caller ? callerName(req.caller) : 'anonymous'));
    });
  });

  app.get<{ Params: Static<typeof ImportIdParams> }>('/v1/imports/:id', {
    config: { permission: 'records:manage' },
    schema: { tags, summary: 'An import: status, phase, rows read, and the report with its integrity checks when done', params: ImportIdParams, response: { 404: ErrorReply } },
  }, async (req) => imports.get(req.params.id));
}

/** How long an erasure request waits for the lake; after that (or on a lake error) the lake role finishes it in the background. */
const LAKE_WAIT_MS = 20_000;

/** The lake's erasure report, or 'pending' when it takes longer than LAKE_WAIT_MS or fails (the store part is done and audited either way). */
async function lakeWithin(erasing: Promise<Record<string, number>>, log: FastifyBaseLogger): Promise<Record<string, number> | 'pending'> {
  erasing.catch(() => undefined); // a failure after the wait is the lake role's to retry, not an unhandled rejection
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'pending'>((resolve) => (timer = setTimeout(() => resolve('pending'), LAKE_WAIT_MS)));
  try {
    return await Promise.race([erasing, timeout]);
  } catch (err) {
    log.warn({ err }, 'lake erasure failed; the lake role retries it');
    return 'pending';
  } finally {
    clearTimeout(timer);
  }
}

/** Why the body is not a healthcare CSV, judged from its header line, so the caller hears at once (400) rather than from a failed import. */
function headerProblem(body: Buffer): string | undefined {
  const end = body.indexOf(10);
  const header = body.subarray(0, end < 0 ? Math.min(body.length, 4096) : end).toString('utf8').replace(/^\uFEFF/, '').replace(/\r$/, '');
  const got = header.split(',').map((h) => h.trim());
  const missing = CSV_COLUMNS.filter((c) => !got.includes(c));
  if (missing.length > 0) return `header lacks ${missing.join(', ')}`;
  return undefined;
}
