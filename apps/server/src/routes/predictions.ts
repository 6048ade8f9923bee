import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { visibleKinds } from '@strata/auth';
import { PREDICTION } from '@strata/core';
import { DEVICE_KINDS, getDevice, type Db } from '@strata/db';
import type { Lakehouse } from '@strata/lake';
import { audit } from '../audit.js';
import { httpErrors } from '../errors.js';
import { callerOf, visibleDevice } from './devices.js';
import { DEVICE_ID, ErrorReply, parseTime, Rfc3339 } from './schemas.js';

/** The metrics the scoring role's prediction events carry (topic `predictions`), kept as latest values by the state consumer. */
const PROBABILITY = PREDICTION.probabilityMetric;
const PREDICTED = PREDICTION.predictedMetric;
const DAY_MS = 24 * 3600 * 1000;
/** Widest `from`–`to` span of `GET /v1/predictions`: each day is a lake partition read. */
export const MAX_HISTORY_DAYS = 31;

const LatestQuery = Type.Object(
  {
    kind: Type.Optional(Type.Union(DEVICE_KINDS.map((k) => Type.Literal(k)))),
    limit: Type.Integer({ minimum: 1, maximum: 10_000, default: 10_000, description: 'Devices at most, by id.' }),
  },
  { additionalProperties: false },
);
type LatestQuery = Static<typeof LatestQuery>;

const LatestReply = Type.Object({
  predictions: Type.Array(
    Type.Object({
      device: Type.String(),
      ts: Type.String({ format: 'date-time', description: 'Event time of the latest prediction.' }),
      probability: Type.Number({ description: 'Latest `failure_probability`, 0 to 1.' }),
      predicted: Type.Union([Type.Boolean(), Type.Null()], { description: 'Latest `failure_predicted` = 1; null when the store has none.' }),
      eventId: Type.String(),
    }),
    { description: 'Devices you may see that have a latest `failure_probability`, by id. A device without one has no model scoring it.' },
  ),
});

const HistoryQuery = Type.Object(
  {
    device: Type.String({ pattern: DEVICE_ID, description: 'Device id.' }),
    from: Type.Optional(Rfc3339(`Start (inclusive). Default: \`to\` minus 7 days; at most ${MAX_HISTORY_DAYS} days before \`to\`.`)),
    to: Type.Optional(Rfc3339('End (exclusive). Default: now.')),
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  },
  { additionalProperties: false },
);
type HistoryQuery = Static<typeof HistoryQuery>;

const HistoryReply = Type.Object({
  device: Type.String(),
  predictions: Type.Array(
    Type.Object({
      eventId: Type.String(),
      ts: Type.String({ format: 'date-time' }),
      model: Type.String({ description: 'The model that scored it, e.g. `pm@3`.' }),
      probability: Type.Number(),
      predicted: Type.Boolean(),
      topFeatures: Type.Array(Type.String(), { description: 'The features that weighed most, first the heaviest.' }),
      receivedAt: Type.String({ format: 'date-time' }),
    }),
    { description: 'Newest first, from the lake (`predictions` table): as of its last run, so minutes behind the stream.' },
  ),
});

const tags = ['predictions'];

export interface PredictionRoutesOptions {
  db: Db;
  /** The lake: without it, `GET /v1/predictions` (history, model, top features) is absent. */
  lake?: Pick<Lakehouse, 'predictions'>;
}

/**
 * The scoring role's failure predictions: the latest of every device (from latest values, as the
 * state consumer stores them: real time) and one device's history with model and top features
 * (from the lake). Both need `telemetry:latest` (a device's current state; analysts read
 * predictions in the lake's `gold_predictions_daily`, pseudonymised) and show only devices the
 * caller may see; reads of patient devices are audited like `/v1/devices/:id/latest`.
 */
export async function predictionRoutes(app: FastifyInstance, opts: PredictionRoutesOptions): Promise<void> {
  const { db, lake } = opts;

  app.get<{ Querystring: LatestQuery }>(
    '/v1/predictions/latest',
    {
      config: { permission: 'telemetry:latest' },
      schema: { tags, summary: 'The latest failure prediction of every device you may see that has one', querystring: LatestQuery, response: { 200: LatestReply, 400: ErrorReply } },
    },
    async (req) => {
      const caller = callerOf(req);
      const kinds = visibleKinds(caller).filter((k) => req.query.kind === undefined || k === req.query.kind);
      if (kinds.length === 0) return { predictions: [] };
      let q = db.kysely
        .selectFrom('latest_values as p')
        .innerJoin('devices as d', 'd.id', 'p.device')
        .leftJoin('latest_values as f', (j) => j.onRef('f.device', '=', 'p.device').on('f.metric', '=', PREDICTED))
        .select(['p.device', 'p.ts', 'p.value', 'p.event_id', 'd.kind', 'f.value as predicted'])
        .where('p.metric', '=', PROBABILITY)
        .where('d.kind', 'in', kinds)
        .orderBy('p.device')
        .limit(req.query.limit);
      if (caller.kind === 'key' && caller.device !== undefined) q = q.where('p.device', '=', caller.device);
      const rows = await q.execute();
      const patients = rows.filter((r) => r.kind === 'patient').map((r) => r.device);
      if (patients.length > 0) await audit(db.kysely, req, { action: 'device.latest.read', resource: 'devices', details: { patients, metrics: [PROBABILITY, PREDICTED] } });
      return {
        predictions: rows.map((r) => ({ device: r.device, ts: r.ts.toISOString(), probability: r.value, predicted: r.predicted === null ? null : r.predicted === 1, eventId: r.event_id })),
      };
    },
  );

  if (!lake) return;
  app.get<{ Querystring: HistoryQuery }>(
    '/v1/predictions',
    {
      config: { permission: 'telemetry:latest' },
      schema: { tags, summary: "One device's failure predictions with their model and top features, newest first (from the lake)", querystring: HistoryQuery, response: { 200: HistoryReply, 400: ErrorReply, 404: ErrorReply } },
    },
    async (req) => {
      const q = req.query;
      const device = visibleDevice(callerOf(req), q.device, await getDevice(db.kysely, q.device));
      const to = q.to !== undefined ? parseTime(q.to, 'to') : new Date();
      const from = q.from !== undefined ? parseTime(q.from, 'from') : new Date(to.getTime() - 7 * DAY_MS);
      if (to.getTime() - from.getTime() > MAX_HISTORY_DAYS * DAY_MS) throw httpErrors.STRATA_ERR_HTTP_BAD_REQUEST({ reason: `from–to spans more than ${MAX_HISTORY_DAYS} days; ask for a shorter range` });
      const found = from < to ? await lake.predictions({ device: device.id, from, to, limit: q.limit }) : [];
      if (device.kind === 'patient') await audit(db.kysely, req, { action: 'device.predictions.read', resource: `device:${device.id}`, details: { from: from.toISOString(), to: to.toISOString() } });
      return {
        device: device.id,
        predictions: found.map((p) => ({ eventId: p.eventId, ts: p.ts.toISOString(), model: p.model, probability: p.probability, predicted: p.predicted, topFeatures: p.topFeatures, receivedAt: p.receivedAt.toISOString() })),
      };
    },
  );
}
