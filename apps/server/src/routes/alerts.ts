import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { allows, callerName, visibleKinds, type AuthDirectory, type Caller } from '@strata/auth';
import type { Db } from '@strata/db';
import { ALERT_STATUSES, RULE_ID_PATTERN, SEVERITIES, changeAlert, getAlert, listAlerts, listNotifications, retryNotification, severityRank, type AlertEvent, type AlertFeed, type AlertView } from '@strata/rules';
import { audit } from '../audit.js';
import { eventStreams, stillAllowed } from './sse.js';
import { httpErrors } from '../errors.js';
import { callerOf } from './devices.js';
import { DEVICE_ID, ErrorReply, Rfc3339, parseTime } from './schemas.js';

const Severity = Type.Union(SEVERITIES.map((s) => Type.Literal(s)));
const AlertReply = Type.Object({
  id: Type.String(),
  ruleId: Type.String(),
  ruleVersion: Type.Integer({ description: 'The rule version that opened it.' }),
  device: Type.String(),
  deviceKind: Type.String(),
  severity: Severity,
  status: Type.Union(ALERT_STATUSES.map((s) => Type.Literal(s))),
  title: Type.String(),
  metric: Type.Union([Type.String(), Type.Null()]),
  value: Type.Union([Type.Number(), Type.Null()], { description: 'Last value that made the rule fire.' }),
  count: Type.Integer({ description: 'Times the rule fired into this alert.' }),
  details: Type.Record(Type.String(), Type.Unknown()),
  openedAt: Type.String({ format: 'date-time' }),
  lastAt: Type.String({ format: 'date-time' }),
  acknowledgedAt: Type.Union([Type.String(), Type.Null()]),
  acknowledgedBy: Type.Union([Type.String(), Type.Null()]),
  ackNote: Type.Union([Type.String(), Type.Null()]),
  resolvedAt: Type.Union([Type.String(), Type.Null()]),
  resolvedBy: Type.Union([Type.String(), Type.Null()], { description: 'Who resolved it, or `rule` when its clear condition did.' }),
  resolveNote: Type.Union([Type.String(), Type.Null()]),
});
const Filters = {
  status: Type.Optional(Type.String({ pattern: `^(${ALERT_STATUSES.join('|')})(,(${ALERT_STATUSES.join('|')}))*$`, description: 'Comma-separated statuses, e.g. `open,acknowledged`.' })),
  severity: Type.Optional({ ...Severity, description: 'Lowest severity.' }),
  device: Type.Optional(Type.String({ pattern: DEVICE_ID })),
  rule: Type.Optional(Type.String({ pattern: RULE_ID_PATTERN })),
};
const ListQuery = Type.Object(
  { ...Filters, since: Type.Optional(Rfc3339('Opened at or after.')), until: Type.Optional(Rfc3339('Opened before.')), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })), before: Type.Optional(Type.String({ maxLength: 64, description: 'An alert id: the page after it (newest first).' })) },
  { additionalProperties: false },
);
const StreamQuery = Type.Object({ severity: Filters.severity, device: Filters.device, rule: Filters.rule }, { additionalProperties: false });
const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false });
const NoteBody = Type.Union([Type.Object({ note: Type.Optional(Type.String({ maxLength: 2000 })) }, { additionalProperties: false }), Type.Null()]);

/** A device-bound key sees its device's alerts only; everyone sees the device kinds their role may. */
function scopeOf(caller: Caller, device: string | undefined): { kinds: ReturnType<typeof visibleKinds>; device?: string } {
  const kinds = visibleKinds(caller);
  if (caller.kind === 'key' && caller.device !== undefined) {
    if (device !== undefined && device !== caller.device) return { kinds: [] };
    return { kinds, device: caller.device };
  }
  return { kinds, ...(device !== undefined && { device }) };
}

/** Reads of patients' alerts are reads of patient data: audited, naming the patients. */
async function auditPatients(db: Db, req: FastifyRequest, action: string, alerts: AlertView[]): Promise<void> {
  const patients = [...new Set(alerts.filter((a) => a.deviceKind === 'patient').map((a) => a.device))];
  if (patients.length > 0) await audit(db.kysely, req, { action, resource: patients.length === 1 ? `device:${patients[0]}` : 'alerts', details: { patients } });
}

export interface AlertRoutesOptions {
  db: Db;
  feed: AlertFeed;
  directory: AuthDirectory;
  /** Called after an acknowledge or resolve commits: publish its event now. */
  onChange?: () => void;
  /** SSE comment heartbeat period. Default 15 s. */
  heartbeatMs?: number;
}

/**
 * `/v1/alerts`: list and filter, read, acknowledge, resolve, and `GET /v1/alerts/stream` (SSE of
 * alert events as they happen, `event: alert`). `/v1/notifications`: deliveries, dead letters
 * and their retry.
 */
export async function alertRoutes(app: FastifyInstance, opts: AlertRoutesOptions): Promise<void> {
  const { db } = opts;
  const heartbeatMs = opts.heartbeatMs ?? 15_000;
  const send = eventStreams(app);

  app.get<{ Querystring: Static<typeof ListQuery> }>('/v1/alerts', {
    config: { permission: 'alerts:read' },
    schema: { tags: ['alerts'], summary: 'Alerts, newest first, filtered', querystring: ListQuery, response: { 200: Type.Object({ alerts: Type.Array(AlertReply), nextBefore: Type.Union([Type.String(), Type.Null()]) }), 400: ErrorReply } },
  }, async (req) => {
    const q = req.query;
    const limit = q.limit ?? 100;
    const alerts = await listAlerts(db, {
      ...scopeOf(callerOf(req), q.device),
      ...(q.status && { status: q.status.split(',') as AlertView['status'][] }),
      ...(q.severity && { minSeverity: q.severity }),
      ...(q.rule && { rule: q.rule }),
      ...(q.since && { since: parseTime(q.since, 'since') }),
      ...(q.until && { until: parseTime(q.until, 'until') }),
      ...(q.before && { before: q.before }),
      limit,
    });
    await auditPatients(db, req, 'alert.list', alerts);
    return { alerts, nextBefore: alerts.length === limit ? alerts[alerts.length - 1]!.id : null };
  });

  app.get<{ Querystring: Static<typeof StreamQuery> }>('/v1/alerts/stream', {
    config: { permission: 'alerts:read' },
    schema: {
      tags: ['alerts'],
      summary: 'Alert events as they happen, as Server-Sent Events',
      querystring: StreamQuery,
      response: { 200: { description: '`event: alert` per change (`data:` the alert event JSON: opened, repeated, escalated, acknowledged, resolved); `:` heartbeats.', content: { 'text/event-stream': { schema: Type.String() } } }, 400: ErrorReply },
    },
  }, async (req, reply) => {
    const caller = callerOf(req);
    const scope = scopeOf(caller, req.query.device);
    const kinds = new Set(scope.kinds);
    const min = req.query.severity ? severityRank(req.query.severity) : 0;
    const rule = req.query.rule;
    const accepts = (e: AlertEvent): boolean =>
      severityRank(e.severity) >= min && (rule === undefined || e.rule_id === rule) && (scope.device === undefined || e.device === scope.device) && kinds.has(e.device_kind);
    await audit(db.kysely, req, { action: 'alert.stream.subscribe', resource: 'alerts', details: { ...req.query } });
    const sub = await opts.feed.subscribe(accepts);
    const allowed = stillAllowed(req, caller, opts.directory, (now) => allows(now, 'alerts:read'));
    return send(reply, sub, { heartbeatMs, stillAllowed: allowed, format: (e) => `id: ${e.id}\nevent: alert\ndata: ${JSON.stringify(e)}\n\n` });
  });

  app.get<{ Params: Static<typeof IdParams> }>('/v1/alerts/:id', {
    config: { permission: 'alerts:read' },
    schema: { tags: ['alerts'], summary: 'One alert', params: IdParams, response: { 200: AlertReply, 404: ErrorReply } },
  }, async (req) => {
    const scope = scopeOf(callerOf(req), undefined);
    const alert = await getAlert(db, req.params.id, scope.kinds);
    if (scope.device !== undefined && alert.device !== scope.device) throw httpErrors.STRATA_ERR_HTTP_NOT_FOUND({ method: 'GET', url: `/v1/alerts/${req.params.id}` });
    await auditPatients(db, req, 'alert.read', [alert]);
    return alert;
  });

  for (const action of ['acknowledge', 'resolve'] as const) {
    app.post<{ Params: Static<typeof IdParams>; Body: Static<typeof NoteBody> }>(`/v1/alerts/:id/${action}`, {
      config: { permission: 'alerts:manage' },
      schema: { tags: ['alerts'], summary: action === 'acknowledge' ? 'Acknowledge an open alert' : 'Resolve an alert by hand', params: IdParams, body: NoteBody, response: { 200: AlertReply, 404: ErrorReply, 409: ErrorReply } },
    }, async (req) => {
      const caller = callerOf(req);
      const scope = scopeOf(caller, undefined);
      if (scope.device !== undefined) {
        const alert = await getAlert(db, req.params.id, scope.kinds);
        if (alert.device !== scope.device) throw httpErrors.STRATA_ERR_HTTP_NOT_FOUND({ method: 'POST', url: req.url });
      }
      const alert = await changeAlert(db, req.params.id, action, callerName(caller), req.body?.note, scope.kinds);
      await audit(db.kysely, req, { action: `alert.${action}`, resource: `alert:${alert.id}`, details: { device: alert.device, rule: alert.ruleId } });
      opts.onChange?.();
      return alert;
    });
  }

  const NotificationQuery = Type.Object(
    {
      status: Type.Optional(Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('dead'), Type.Literal('cancelled')])),
      alert: Type.Optional(Type.String({ maxLength: 64 })),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
      before: Type.Optional(Type.String({ maxLength: 64 })),
    },
    { additionalProperties: false },
  );
  app.get<{ Querystring: Static<typeof NotificationQuery> }>('/v1/notifications', {
    config: { permission: 'notifications:manage' },
    schema: { tags: ['alerts'], summary: 'Notification deliveries (`status=dead`: the dead-letter list)', querystring: NotificationQuery, response: { 200: Type.Object({ notifications: Type.Array(Type.Record(Type.String(), Type.Unknown())) }), 400: ErrorReply } },
  }, async (req) => {
    const q = req.query;
    const notifications = await listNotifications(db, { ...(q.status && { status: q.status }), ...(q.alert && { alertId: q.alert }), ...(q.limit && { limit: q.limit }), ...(q.before && { before: q.before }) });
    return { notifications };
  });

  app.post<{ Params: Static<typeof IdParams> }>('/v1/notifications/:id/retry', {
    config: { permission: 'notifications:manage' },
    schema: { tags: ['alerts'], summary: 'Send a dead notification again', params: IdParams, response: { 204: Type.Null(), 404: ErrorReply } },
  }, async (req, reply) => {
    if (!(await retryNotification(db, req.params.id))) throw httpErrors.STRATA_ERR_HTTP_NOT_FOUND({ method: 'POST', url: req.url });
    await audit(db.kysely, req, { action: 'notification.retry', resource: `notification:${req.params.id}` });
    return reply.code(204).send();
  });
}
