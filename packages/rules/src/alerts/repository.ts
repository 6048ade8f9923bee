/**
 * Alerts as the API reads and changes them. Reads are narrowed by device kind (who may see which
 * devices is the caller's business, passed in as `kinds`), the kind the rules engine knew when it
 * opened the alert (the alert exists before the devices table may have the device). Acknowledge and resolve write
 * the change and its alert event (outbox) in one transaction.
 */
import { sql, type SqlBool } from 'kysely';
import type { DeviceKind } from '@strata/core';
import type { AlertRow, Db } from '@strata/db';
import { rulesErrors } from '../errors.js';
import { SEVERITIES, type AlertStatus, type Severity } from '../types.js';
import { alertEvent, queueEvents } from './write.js';

export interface AlertView {
  id: string;
  ruleId: string;
  ruleVersion: number;
  device: string;
  deviceKind: DeviceKind;
  severity: Severity;
  status: AlertStatus;
  title: string;
  metric: string | null;
  value: number | null;
  count: number;
  details: Record<string, unknown>;
  openedAt: string;
  lastAt: string;
  acknowledgedAt: string | null;
  acknowledgedBy: string | null;
  ackNote: string | null;
  resolvedAt: string | null;
  resolvedBy: string | null;
  resolveNote: string | null;
}

export interface AlertQuery {
  /** Statuses wanted; default all. */
  status?: readonly AlertStatus[];
  /** Lowest severity. */
  minSeverity?: Severity;
  device?: string;
  rule?: string;
  /** Opened at or after / before. */
  since?: Date;
  until?: Date;
  /** Device kinds the caller may see. */
  kinds: readonly DeviceKind[];
  /** Newest first; the page after the alert with this id. */
  before?: string;
  limit?: number;
}

const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());

export function alertView(r: AlertRow): AlertView {
  return {
    id: r.id,
    ruleId: r.rule_id,
    ruleVersion: r.rule_version,
    device: r.device_id,
    deviceKind: r.device_kind,
    severity: r.severity,
    status: r.status,
    title: r.title,
    metric: r.metric,
    value: r.value,
    count: r.count,
    details: r.details,
    openedAt: r.opened_at.toISOString(),
    lastAt: r.last_at.toISOString(),
    acknowledgedAt: iso(r.acknowledged_at),
    acknowledgedBy: r.acknowledged_by,
    ackNote: r.ack_note,
    resolvedAt: iso(r.resolved_at),
    resolvedBy: r.resolved_by,
    resolveNote: r.resolve_note,
  };
}

function select(db: Db['kysely'], kinds: readonly DeviceKind[]) {
  const query = db.selectFrom('alerts as a').selectAll('a');
  return kinds.length === 0 ? query.where(sql<SqlBool>`false`) : query.where('a.device_kind', 'in', [...kinds]);
}

export async function listAlerts(db: Db, q: AlertQuery): Promise<AlertView[]> {
  let query = select(db.kysely, q.kinds);
  if (q.status) query = query.where('a.status', 'in', [...q.status]);
  if (q.minSeverity) query = query.where('a.severity', 'in', SEVERITIES.slice(SEVERITIES.indexOf(q.minSeverity)));
  if (q.device) query = query.where('a.device_id', '=', q.device);
  if (q.rule) query = query.where('a.rule_id', '=', q.rule);
  if (q.since) query = query.where('a.opened_at', '>=', q.since);
  if (q.until) query = query.where('a.opened_at', '<', q.until);
  if (q.before) {
    const cursor = q.before;
    query = query.where((eb) => eb(eb.refTuple('a.opened_at', 'a.id'), '<', eb.tuple(sql<Date>`(select opened_at from alerts where id = ${cursor})`, cursor)));
  }
  const rows = await query.orderBy('a.opened_at', 'desc').orderBy('a.id', 'desc').limit(q.limit ?? 100).execute();
  return rows.map(alertView);
}

export async function getAlert(db: Db, id: string, kinds: readonly DeviceKind[]): Promise<AlertView> {
  const row = await select(db.kysely, kinds).where('a.id', '=', id).executeTakeFirst();
  if (!row) throw rulesErrors.STRATA_ERR_ALERTS_NOT_FOUND({ id });
  return alertView(row);
}

/**
 * Acknowledges an open alert or resolves an unresolved one, by a person (`by`), with an optional
 * note; queues the alert event. 404 when the caller cannot see it, 409 when its status forbids.
 * `onEvent` (optional) runs after the commit (to poke the publisher).
 */
export async function changeAlert(db: Db, id: string, action: 'acknowledge' | 'resolve', by: string, note: string | undefined, kinds: readonly DeviceKind[]): Promise<AlertView> {
  return db.kysely.transaction().execute(async (trx) => {
    const row = await select(trx, kinds).where('a.id', '=', id).forUpdate('a').executeTakeFirst();
    if (!row) throw rulesErrors.STRATA_ERR_ALERTS_NOT_FOUND({ id });
    const allowed = action === 'acknowledge' ? row.status === 'open' : row.status !== 'resolved';
    if (!allowed) throw rulesErrors.STRATA_ERR_ALERTS_TRANSITION({ id, status: row.status, action: action === 'acknowledge' ? 'acknowledged' : 'resolved' });
    const now = new Date();
    const changes =
      action === 'acknowledge'
        ? { status: 'acknowledged' as const, acknowledged_at: now, acknowledged_by: by, ack_note: note ?? null }
        : { status: 'resolved' as const, resolved_at: now, resolved_by: by, resolve_note: note ?? null };
    await trx.updateTable('alerts').set({ ...changes, updated: now }).where('id', '=', id).execute();
    const next: AlertRow = { ...row, ...changes };
    const type = action === 'acknowledge' ? 'acknowledged' : 'resolved';
    await queueEvents(trx, [alertEvent({ ...next, opened_at: next.opened_at.toISOString() }, type, now.toISOString(), row.rule_version, by, note)]);
    return alertView(next);
  });
}
