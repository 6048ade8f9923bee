import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { sql } from 'kysely';
import { authErrors, canSeeDevice, visibleKinds, type Caller } from '@strata/auth';
import {
  createDevice,
  DEVICE_KINDS,
  getDevice,
  latestValues,
  listDevices,
  series,
  STATE_DEFAULTS,
  updateDevice,
  type Db,
  type Device,
  type DeviceKind,
} from '@strata/db';
import type { Lakehouse } from '@strata/lake';
import { httpErrors } from '../errors.js';
import { audit } from '../audit.js';
import { CURSOR, decodeCursor, DEVICE_ID, encodeCursor, ErrorReply, METRIC_NAME, parseTime, Rfc3339 } from './schemas.js';

const KindSchema = Type.Union(DEVICE_KINDS.map((k) => Type.Literal(k)));
const Metadata = Type.Record(Type.String(), Type.Unknown(), { maxProperties: 100, description: 'Free-form JSON object (at most 100 keys at the top).' });

const DeviceReply = Type.Object({
  id: Type.String(),
  kind: KindSchema,
  name: Type.Union([Type.String(), Type.Null()]),
  metadata: Metadata,
  tags: Type.Record(Type.String(), Type.String(), { description: 'Latest tags seen on its events (merged).' }),
  created: Type.String({ format: 'date-time' }),
  lastSeen: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'Latest event time seen; null before any telemetry.' }),
});
type DeviceReply = Static<typeof DeviceReply>;

const IdParams = Type.Object({ id: Type.String({ pattern: DEVICE_ID, description: 'Device id.' }) }, { additionalProperties: false });

const ListQuery = Type.Object(
  {
    kind: Type.Optional(KindSchema),
    tag: Type.Optional(
      Type.String({ pattern: '^[A-Za-z0-9._/-]{1,128}:.{0,256}$', description: '`key:value`: devices whose latest tags hold it (split at the first colon).' }),
    ),
    lastSeenAfter: Type.Optional(Rfc3339('Devices last seen at or after this time.')),
    lastSeenBefore: Type.Optional(Rfc3339('Devices last seen before this time.')),
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
    cursor: Type.Optional(CURSOR),
  },
  { additionalProperties: false },
);
type ListQuery = Static<typeof ListQuery>;

const CreateBody = Type.Object(
  {
    id: Type.String({ pattern: DEVICE_ID }),
    kind: KindSchema,
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    metadata: Type.Optional(Metadata),
  },
  { additionalProperties: false },
);
const UpdateBody = Type.Object(
  {
    name: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 256 }), Type.Null()], { description: 'null clears it.' })),
    metadata: Type.Optional(Metadata),
    kind: Type.Optional(KindSchema),
  },
  { additionalProperties: false, minProperties: 1 },
);

const LatestReply = Type.Object({
  device: Type.String(),
  values: Type.Array(
    Type.Object({ metric: Type.String(), ts: Type.String({ format: 'date-time' }), value: Type.Number(), eventId: Type.String() }),
    { description: 'The latest value of each metric, by metric name.' },
  ),
});

const MetricsReply = Type.Object({
  device: Type.String(),
  metrics: Type.Array(Type.String(), { description: 'Names of the metrics the store holds 1-minute rollups of (the range `/series` reads without the lake), sorted.' }),
});

/** Default step: the first of these that gives at most DEFAULT_BUCKETS buckets (a day at 1 min). */
const DEFAULT_STEPS = [60, 300, 900, 3600, 21_600, 86_400];
const DEFAULT_BUCKETS = 1440;
const DAY_MS = 24 * 3600 * 1000;
const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };

const SeriesQuery = Type.Object(
  {
    metric: Type.String({ pattern: METRIC_NAME }),
    from: Type.Optional(Rfc3339('Start (inclusive). Default: `to` minus 24 h.')),
    to: Type.Optional(Rfc3339('End (exclusive). Default: now.')),
    step: Type.Optional(
      Type.String({
        pattern: '^[0-9]{1,7}[smhd]?$',
        description: 'Bucket width: seconds (`300`) or with a unit (`1m`, `5m`, `1h`, `1d`); a multiple of 60 s, at least 60 s, at most 10,000 buckets in the range. Default: the first of 1m, 5m, 15m, 1h, 6h, 1d that gives at most 1,440 buckets.',
      }),
    ),
  },
  { additionalProperties: false },
);
type SeriesQuery = Static<typeof SeriesQuery>;

const Nullable = Type.Union([Type.Number(), Type.Null()]);
const SeriesReply = Type.Object({
  device: Type.String(),
  metric: Type.String(),
  from: Type.String({ format: 'date-time' }),
  to: Type.String({ format: 'date-time' }),
  stepSeconds: Type.Integer(),
  buckets: Type.Array(
    Type.Object({ start: Type.String({ format: 'date-time' }), count: Type.Integer(), min: Nullable, max: Nullable, avg: Nullable, stddev: Nullable }),
    { description: 'Every bucket of the range, aligned on the Unix epoch, from the 1-minute rollups; an empty bucket has count 0 and nulls.' },
  ),
});

const tags = ['devices'];
const telemetryTags = ['telemetry'];

/** The caller the auth hook set: every route here names a permission, so there is one. */
export function callerOf(req: FastifyRequest): Caller {
  if (!req.caller) throw new Error(`route ${req.routeOptions.url ?? req.url} reached without a caller`);
  return req.caller;
}

/** The device if the caller may see it; a device it may not see is answered exactly like a missing one. */
export function visibleDevice(caller: Caller, id: string, device: Device | undefined): Device {
  if (!device || !canSeeDevice(caller, device)) throw httpErrors.STRATA_ERR_HTTP_DEVICE_NOT_FOUND({ id });
  return device;
}

function toReply(d: Device): DeviceReply {
  return {
    id: d.id,
    kind: d.kind,
    name: d.name,
    metadata: d.metadata,
    tags: d.tags,
    created: d.created.toISOString(),
    lastSeen: d.last_seen === null ? null : d.last_seen.toISOString(),
  };
}

/** Seconds of a `step` the schema accepted (`300`, `5m`, `1h`, ...). */
function stepSeconds(step: string): number {
  const unit = /[smhd]$/.test(step) ? step.slice(-1) : 's';
  return Number.parseInt(step, 10) * UNIT_SECONDS[unit]!;
}

function defaultStep(fromMs: number, toMs: number): number {
  return DEFAULT_STEPS.find((s) => (toMs - fromMs) / (s * 1000) <= DEFAULT_BUCKETS) ?? DEFAULT_STEPS.at(-1)!;
}

/** A device kind the caller could not see afterwards is not one it may create or switch to. */
function checkWritableKind(caller: Caller, id: string, kind: DeviceKind): void {
  if (!canSeeDevice(caller, { id, kind })) throw authErrors.STRATA_ERR_AUTH_FORBIDDEN({ reason: `devices of kind ${kind} are not yours to manage` });
}

/** A device-bound key lists its one device at most, through the same filters. */
async function listBound(db: Db, caller: Caller, bound: string, q: ListQuery, after: string | undefined): Promise<Device[]> {
  const d = await getDevice(db.kysely, bound);
  if (!d || !canSeeDevice(caller, d)) return [];
  if (after !== undefined && d.id <= after) return [];
  if (q.kind !== undefined && d.kind !== q.kind) return [];
  if (q.tag !== undefined) {
    const colon = q.tag.indexOf(':');
    if (d.tags[q.tag.slice(0, colon)] !== q.tag.slice(colon + 1)) return [];
  }
  const seen = d.last_seen?.getTime();
  if (q.lastSeenAfter !== undefined && !(seen !== undefined && seen >= parseTime(q.lastSeenAfter, 'lastSeenAfter').getTime())) return [];
  if (q.lastSeenBefore !== undefined && !(seen !== undefined && seen < parseTime(q.lastSeenBefore, 'lastSeenBefore').getTime())) return [];
  return [d];
}

/**
 * The device registry and its telemetry: list, get, create, update, latest values, metric names
 * and series from the 1-minute rollups. A caller sees only devices whose kind `visibleKinds` gives it (and a
 * device-bound key only its device); any other device is answered as missing. Reads of patient
 * devices and every change are audited before the answer goes out.
 */
export interface DeviceRoutesOptions {
  db: Db;
  /** Told of each device created here (ingest's known-devices cache). */
  onCreated?: (id: string) => void;
  /** Older series from the lake (silver), for ranges the store's rollups no longer hold. */
  lake?: Pick<Lakehouse, 'series'>;
  /** Days of 1-minute rollups the store keeps (the state consumer's setting). */
  rollupRetentionDays?: number;
}

export async function deviceRoutes(app: FastifyInstance, opts: DeviceRoutesOptions): Promise<void> {
  const { db, lake } = opts;
  const retentionMs = (opts.rollupRetentionDays ?? STATE_DEFAULTS.rollupRetentionDays) * DAY_MS;

  app.get<{ Querystring: ListQuery }>(
    '/v1/devices',
    {
      config: { permission: 'devices:read' },
      schema: {
        tags,
        summary: 'List the devices you may see, by id, a page at a time',
        querystring: ListQuery,
        response: { 200: Type.Object({ devices: Type.Array(DeviceReply), nextCursor: Type.Optional(Type.String()) }), 400: ErrorReply },
      },
    },
    async (req) => {
      const caller = callerOf(req);
      const q = req.query;
      const after = q.cursor === undefined ? undefined : decodeCursor('devices', q.cursor, (v): v is string => typeof v === 'string');
      let page: { devices: Device[]; nextCursor?: string };
      if (caller.kind === 'key' && caller.device !== undefined) {
        page = { devices: await listBound(db, caller, caller.device, q, after) };
      } else {
        const colon = q.tag?.indexOf(':') ?? -1;
        page = await listDevices(db.kysely, {
          kinds: visibleKinds(caller),
          limit: q.limit,
          ...(q.kind !== undefined && { kind: q.kind }),
          ...(q.tag !== undefined && { tag: [q.tag.slice(0, colon), q.tag.slice(colon + 1)] as const }),
          ...(q.lastSeenAfter !== undefined && { lastSeenAfter: parseTime(q.lastSeenAfter, 'lastSeenAfter') }),
          ...(q.lastSeenBefore !== undefined && { lastSeenBefore: parseTime(q.lastSeenBefore, 'lastSeenBefore') }),
          ...(after !== undefined && { after }),
        });
      }
      const patients = page.devices.filter((d) => d.kind === 'patient').map((d) => d.id);
      if (patients.length > 0) await audit(db.kysely, req, { action: 'device.list', resource: 'devices', details: { patients } });
      return {
        devices: page.devices.map(toReply),
        ...(page.nextCursor !== undefined && { nextCursor: encodeCursor('devices', page.nextCursor) }),
      };
    },
  );

  app.get<{ Params: Static<typeof IdParams> }>(
    '/v1/devices/:id',
    { config: { permission: 'devices:read' }, schema: { tags, summary: 'One device', params: IdParams, response: { 200: DeviceReply, 404: ErrorReply } } },
    async (req) => {
      const device = visibleDevice(callerOf(req), req.params.id, await getDevice(db.kysely, req.params.id));
      if (device.kind === 'patient') await audit(db.kysely, req, { action: 'device.read', resource: `device:${device.id}` });
      return toReply(device);
    },
  );

  app.post<{ Body: Static<typeof CreateBody> }>(
    '/v1/devices',
    {
      config: { permission: 'devices:write' },
      schema: { tags, summary: 'Register a device (before or after its first telemetry is seen)', body: CreateBody, response: { 201: DeviceReply, 400: ErrorReply, 409: ErrorReply } },
    },
    async (req, reply) => {
      const { id, kind, name, metadata } = req.body;
      checkWritableKind(callerOf(req), id, kind);
      const device = await db.kysely.transaction().execute(async (tx) => {
        const created = await createDevice(tx, { id, kind, ...(name !== undefined && { name }), ...(metadata !== undefined && { metadata }) });
        // Kinds and field names only: names and metadata may be personal data, and this log is never erased.
        await audit(tx, req, { action: 'device.create', resource: `device:${id}`, details: { kind, fields: Object.keys(req.body).sort() } });
        return created;
      });
      opts.onCreated?.(device.id);
      return reply.code(201).send(toReply(device));
    },
  );

  app.patch<{ Params: Static<typeof IdParams>; Body: Static<typeof UpdateBody> }>(
    '/v1/devices/:id',
    {
      config: { permission: 'devices:write' },
      schema: { tags, summary: 'Change a device: name, metadata (replaced whole) or kind', params: IdParams, body: UpdateBody, response: { 200: DeviceReply, 400: ErrorReply, 404: ErrorReply } },
    },
    async (req) => {
      const caller = callerOf(req);
      const { id } = req.params;
      if (req.body.kind !== undefined) checkWritableKind(caller, id, req.body.kind);
      return db.kysely.transaction().execute(async (tx) => {
        const before = visibleDevice(caller, id, await getDevice(tx, id));
        const updated = visibleDevice(caller, id, await updateDevice(tx, id, req.body));
        const details = { fields: Object.keys(req.body).sort(), ...(updated.kind !== before.kind && { kind: { from: before.kind, to: updated.kind } }) };
        await audit(tx, req, { action: 'device.update', resource: `device:${id}`, details });
        return toReply(updated);
      });
    },
  );

  app.get<{ Params: Static<typeof IdParams> }>(
    '/v1/devices/:id/latest',
    {
      config: { permission: 'telemetry:latest' },
      schema: { tags: telemetryTags, summary: 'The latest value of each metric of a device', params: IdParams, response: { 200: LatestReply, 404: ErrorReply } },
    },
    async (req) => {
      const device = visibleDevice(callerOf(req), req.params.id, await getDevice(db.kysely, req.params.id));
      const values = await latestValues(db.kysely, device.id);
      if (device.kind === 'patient') await audit(db.kysely, req, { action: 'device.latest.read', resource: `device:${device.id}`, details: { metrics: values.length } });
      return { device: device.id, values: values.map((v) => ({ metric: v.metric, ts: v.ts.toISOString(), value: v.value, eventId: v.eventId })) };
    },
  );

  // The metric names for `/series`, to callers who may read series but not latest values
  // (analysts): the distinct metrics of the device's rollups, one index probe per name (a loose
  // index scan on the primary key (device, metric, minute)), not a scan of its minutes.
  app.get<{ Params: Static<typeof IdParams> }>(
    '/v1/devices/:id/metrics',
    {
      config: { permission: 'telemetry:series' },
      schema: { tags: telemetryTags, summary: 'The names of the metrics of a device that have series (1-minute rollups)', params: IdParams, response: { 200: MetricsReply, 404: ErrorReply } },
    },
    async (req) => {
      const device = visibleDevice(callerOf(req), req.params.id, await getDevice(db.kysely, req.params.id));
      const { rows } = await sql<{ metric: string }>`
        with recursive m(metric) as (
          (select metric from rollups_1m where device = ${device.id} order by metric limit 1)
          union all
          select (select r.metric from rollups_1m r where r.device = ${device.id} and r.metric > m.metric order by r.metric limit 1)
          from m where m.metric is not null
        )
        select metric from m where metric is not null`.execute(db.kysely);
      if (device.kind === 'patient') await audit(db.kysely, req, { action: 'device.metrics.read', resource: `device:${device.id}`, details: { metrics: rows.length } });
      return { device: device.id, metrics: rows.map((r) => r.metric) };
    },
  );

  app.get<{ Params: Static<typeof IdParams>; Querystring: SeriesQuery }>(
    '/v1/devices/:id/series',
    {
      config: { permission: 'telemetry:series' },
      schema: {
        tags: telemetryTags,
        summary: 'One metric of a device over time, in buckets of a fixed step, from the 1-minute rollups (and the lake before their retention)',
        params: IdParams,
        querystring: SeriesQuery,
        response: { 200: SeriesReply, 400: ErrorReply, 404: ErrorReply },
      },
    },
    async (req) => {
      const device = visibleDevice(callerOf(req), req.params.id, await getDevice(db.kysely, req.params.id));
      const q = req.query;
      const to = q.to !== undefined ? parseTime(q.to, 'to') : new Date();
      const from = q.from !== undefined ? parseTime(q.from, 'from') : new Date(to.getTime() - DAY_MS);
      const step = q.step !== undefined ? stepSeconds(q.step) : defaultStep(from.getTime(), to.getTime());
      // Range, step and bucket count are checked by the query (400 STRATA_ERR_DB_BAD_QUERY) before any data is read.
      const buckets = await series(db.kysely, { device: device.id, metric: q.metric, from, to, stepSeconds: step });
      // Before the store's first kept day, rollups are gone: buckets the store finds empty there
      // are filled from the lake.
      const storeStart = Math.floor((Date.now() - retentionMs) / DAY_MS) * DAY_MS;
      if (lake && from.getTime() < storeStart) {
        const old = await lake.series({ device: device.id, metric: q.metric, from, to: new Date(Math.min(to.getTime(), storeStart + DAY_MS)), stepSeconds: step });
        const byStart = new Map(old.map((b) => [b.start.getTime(), b]));
        for (const [i, b] of buckets.entries()) {
          const l = byStart.get(b.start.getTime());
          if (b.count > 0 || !l) continue;
          const avg = l.sum / l.count;
          buckets[i] = { start: b.start, count: l.count, min: l.min, max: l.max, avg, stddev: Math.sqrt(Math.max(0, l.sumSq / l.count - avg * avg)) };
        }
      }
      if (device.kind === 'patient') {
        await audit(db.kysely, req, { action: 'device.series.read', resource: `device:${device.id}`, details: { metric: q.metric, from: from.toISOString(), to: to.toISOString(), stepSeconds: step } });
      }
      return {
        device: device.id,
        metric: q.metric,
        from: from.toISOString(),
        to: to.toISOString(),
        stepSeconds: step,
        buckets: buckets.map((b) => ({ ...b, start: b.start.toISOString() })),
      };
    },
  );
}
