import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { getDevice, latestValues, series, type Db } from '@strata/db';
import { news2, NEWS2_PARAMETERS, type News2Input, type News2Level } from '@strata/rules';
import { audit } from '../audit.js';
import { httpErrors } from '../errors.js';
import { callerOf, visibleDevice } from './devices.js';
import { DEVICE_ID, ErrorReply, parseTime, Rfc3339 } from './schemas.js';

/**
 * The RCP's clinical response to each NEWS2 level (Royal College of Physicians, NEWS2 chart 4,
 * 2017), shown with the band. The scoring itself is @strata/rules' `news2`, the one the rules use.
 */
export const NEWS2_RESPONSE: Readonly<Record<News2Level, { band: string; monitoring: string; response: string }>> = {
  none: { band: 'Score 0', monitoring: 'Minimum 12-hourly', response: 'Continue routine NEWS monitoring.' },
  low: { band: 'Low (1–4)', monitoring: 'Minimum 4–6-hourly', response: 'Inform the registered nurse, who must assess the patient and decide whether increased frequency of clinical monitoring or an escalation of care is required.' },
  'low-medium': { band: 'Low–medium (3 in one parameter)', monitoring: 'Minimum 1-hourly', response: 'Registered nurse to inform the medical team caring for the patient, who will review and decide whether escalation of care is necessary.' },
  medium: { band: 'Medium (5–6)', monitoring: 'Minimum 1-hourly', response: 'Registered nurse to inform the medical team caring for the patient immediately; urgent assessment by a clinician or team with core competencies in the care of acutely ill patients; clinical care in an environment with monitoring facilities.' },
  high: { band: 'High (7 or more)', monitoring: 'Continuous monitoring of vital signs', response: 'Registered nurse to inform the medical team immediately (at least at specialist registrar level); emergency assessment by a team with critical-care competencies, including airway management; consider transfer to a level 2 or 3 care facility (HDU or ICU).' },
};

const IdParams = Type.Object({ id: Type.String({ pattern: DEVICE_ID }) }, { additionalProperties: false });
const Query = Type.Object(
  {
    from: Type.Optional(Rfc3339('Start (inclusive). Default: `to` minus 24 h.')),
    to: Type.Optional(Rfc3339('End (exclusive). Default: now.')),
    step: Type.Optional(Type.Integer({ minimum: 60, maximum: 86_400, multipleOf: 60, description: 'Bucket width in seconds. Default: 15 min.' })),
  },
  { additionalProperties: false },
);
const Score = Type.Object({
  score: Type.Integer(),
  level: Type.String(),
  severity: Type.Union([Type.String(), Type.Null()]),
  partial: Type.Boolean(),
  missing: Type.Array(Type.String()),
  subscores: Type.Record(Type.String(), Type.Integer()),
  values: Type.Record(Type.String(), Type.Number()),
});
const Reply = Type.Object({
  device: Type.String(),
  current: Type.Union([Type.Intersect([Score, Type.Object({ at: Type.String(), band: Type.String(), monitoring: Type.String(), response: Type.String() })]), Type.Null()]),
  history: Type.Array(Type.Intersect([Type.Object({ start: Type.String({ format: 'date-time' }) }), Score])),
});

const DAY_MS = 86_400_000;

/**
 * `GET /v1/patients/:id/news2`: a patient's NEWS2 now (from the latest value of each parameter)
 * and over time (from the bucket means of each parameter), with the band and the RCP clinical
 * response. A read of patient data: audited, and only for callers who may see the patient.
 */
export async function patientRoutes(app: FastifyInstance, opts: { db: Db }): Promise<void> {
  const { db } = opts;
  app.get<{ Params: Static<typeof IdParams>; Querystring: Static<typeof Query> }>('/v1/patients/:id/news2', {
    config: { permission: 'telemetry:latest' },
    schema: { tags: ['telemetry'], summary: "A patient's NEWS2 score now and over time, with band and clinical response", params: IdParams, querystring: Query, response: { 200: Reply, 400: ErrorReply, 404: ErrorReply } },
  }, async (req) => {
    const device = visibleDevice(callerOf(req), req.params.id, await getDevice(db.kysely, req.params.id));
    if (device.kind !== 'patient') throw httpErrors.STRATA_ERR_HTTP_DEVICE_NOT_FOUND({ id: device.id });
    const to = req.query.to !== undefined ? parseTime(req.query.to, 'to') : new Date();
    const from = req.query.from !== undefined ? parseTime(req.query.from, 'from') : new Date(to.getTime() - DAY_MS);
    const stepSeconds = req.query.step ?? 900;

    const latest = await latestValues(db.kysely, device.id);
    const now: News2Input = {};
    let at = 0;
    for (const v of latest) {
      if ((NEWS2_PARAMETERS as readonly string[]).includes(v.metric)) {
        now[v.metric as keyof News2Input] = v.value;
        at = Math.max(at, v.ts.getTime());
      }
    }
    const scored = (input: News2Input) => {
      const r = news2(input);
      return { score: r.score, level: r.level, severity: r.severity ?? null, partial: r.partial, missing: r.missing, subscores: r.subscores as Record<string, number>, values: input as Record<string, number> };
    };
    const current = at > 0 ? { ...scored(now), at: new Date(at).toISOString(), ...NEWS2_RESPONSE[news2(now).level] } : null;

    // Every parameter the device reports, bucketed alike; a bucket with no reading of any is left out.
    const reported = NEWS2_PARAMETERS.filter((p) => p in now);
    const perParameter = await Promise.all(reported.map((metric) => series(db.kysely, { device: device.id, metric, from, to, stepSeconds })));
    const history = [];
    const buckets = perParameter[0]?.length ?? 0;
    for (let i = 0; i < buckets; i++) {
      const input: News2Input = {};
      reported.forEach((p, j) => {
        const b = perParameter[j]![i]!;
        if (b.count > 0 && b.avg !== null) input[p] = p === 'on_oxygen' || p === 'consciousness' ? Math.round(b.avg) : b.avg;
      });
      if (Object.keys(input).length > 0) history.push({ start: perParameter[0]![i]!.start.toISOString(), ...scored(input) });
    }
    await audit(db.kysely, req, { action: 'device.news2.read', resource: `device:${device.id}`, details: { from: from.toISOString(), to: to.toISOString() } });
    return { device: device.id, current, history };
  });
}
