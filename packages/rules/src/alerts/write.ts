/**
 * Alert transitions → `alerts` rows and alert events, in the caller's transaction.
 *
 * The unresolved alerts of the batch's (rule, device) pairs are read and locked first, the
 * transitions played over them in order in memory, then written in three statements: updates of
 * existing rows, inserts of new ones (after the updates: a pair's old alert is resolved before
 * its new one opens, as the unique index on unresolved alerts demands), and the events into the
 * outbox. So a batch costs the same few round trips whether it holds one transition or ten
 * thousand.
 *
 * Semantics: a raise opens an alert, or counts into the pair's unresolved one (`repeated`,
 * `escalated` when its severity rises); an update refreshes the last value and may escalate; a
 * clear resolves (`by: rule`). An update or clear finding no unresolved alert (a person resolved
 * it) does nothing: the next raise opens a new one.
 */
import { sql, type Transaction } from 'kysely';
import { uuidv7, type DeviceKind } from '@strata/core';
import type { Database } from '@strata/db';
import type { Transition } from '../engine/engine.js';
import { severityName } from '../engine/compile.js';
import { severityRank, type AlertEvent, type AlertEventType, type AlertStatus, type Severity } from '../types.js';

interface Row {
  id: string;
  rule_id: string;
  rule_version: number;
  device_id: string;
  severity: Severity;
  status: AlertStatus;
  title: string;
  metric: string | null;
  value: number | null;
  details: Record<string, unknown>;
  count: number;
  opened_at: string;
  last_at: string;
  resolved_at: string | null;
  resolved_by: string | null;
  device_kind: DeviceKind;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** What an alert event says of its alert. */
export type AlertFacts = Pick<Row, 'id' | 'rule_id' | 'rule_version' | 'device_id' | 'severity' | 'status' | 'title' | 'metric' | 'value' | 'details' | 'count' | 'opened_at' | 'device_kind'>;

export function alertEvent(row: AlertFacts, type: AlertEventType, ts: string, version = row.rule_version, by?: string, note?: string): AlertEvent {
  return {
    id: uuidv7(),
    type,
    alert_id: row.id,
    rule_id: row.rule_id,
    rule_version: version,
    device: row.device_id,
    device_kind: row.device_kind,
    severity: row.severity,
    status: row.status,
    title: row.title,
    ...(row.metric !== null && { metric: row.metric }),
    ...(row.value !== null && { value: row.value }),
    count: row.count,
    ts,
    opened_at: row.opened_at,
    ...(by !== undefined && { by }),
    ...(note !== undefined && { note }),
    ...(Object.keys(row.details).length > 0 && { details: row.details }),
  };
}

/** Appends alert events to the outbox, in order; returns their outbox sequence numbers. */
export async function queueEvents(trx: Transaction<Database>, events: readonly AlertEvent[]): Promise<number[]> {
  if (events.length === 0) return [];
  const { rows } = await sql<{ seq: number }>`insert into alert_outbox (event)
    select e from jsonb_array_elements(${JSON.stringify(events)}::jsonb) with ordinality as x(e, n) order by n
    returning seq`.execute(trx);
  return rows.map((r) => Number(r.seq));
}

const RECORD = sql`x(id text, rule_id text, rule_version int, device_id text, device_kind text, severity text, status text, title text, metric text, value float8, details jsonb, count int, opened_at timestamptz, last_at timestamptz, resolved_at timestamptz, resolved_by text)`;

/** Applies transitions (in order) and queues their alert events; returns the events and their outbox rows. */
export async function applyTransitions(trx: Transaction<Database>, transitions: readonly Transition[]): Promise<{ events: AlertEvent[]; seqs: number[] }> {
  if (transitions.length === 0) return { events: [], seqs: [] };
  const pairs = new Map<string, { rule_id: string; device_id: string }>();
  for (const t of transitions) pairs.set(`${t.rule.id}\u0000${t.device}`, { rule_id: t.rule.id, device_id: t.device });
  const { rows: existing } = await sql<Row>`
    select a.id, a.rule_id, a.rule_version, a.device_id, a.device_kind, a.severity, a.status, a.title, a.metric, a.value, a.details, a.count,
      to_json(a.opened_at)#>>'{}' as opened_at, to_json(a.last_at)#>>'{}' as last_at, null as resolved_at, null as resolved_by
    from alerts a join jsonb_to_recordset(${JSON.stringify([...pairs.values()])}::jsonb) as k(rule_id text, device_id text)
      on a.rule_id = k.rule_id and a.device_id = k.device_id
    where a.status <> 'resolved'
    for update of a`.execute(trx);

  const open = new Map<string, Row>();
  for (const r of existing) open.set(`${r.rule_id}\u0000${r.device_id}`, { ...r, opened_at: new Date(r.opened_at).toISOString(), last_at: new Date(r.last_at).toISOString() });
  const updated = new Set<Row>(); // rows from the database that changed
  const created = new Set<Row>(); // rows opened by this batch
  const events: AlertEvent[] = [];

  for (const t of transitions) {
    const key = `${t.rule.id}\u0000${t.device}`;
    let row = open.get(key);
    const ts = iso(t.ts);
    const severity = severityName(t.severity);
    if (t.kind === 'clear') {
      if (!row) continue;
      Object.assign(row, { status: 'resolved', resolved_at: ts, resolved_by: 'rule', last_at: ts });
      open.delete(key);
      if (!created.has(row)) updated.add(row);
      events.push(alertEvent(row, 'resolved', ts, t.rule.version, 'rule'));
      continue;
    }
    if (!row) {
      if (t.kind === 'update') continue;
      row = {
        id: uuidv7(),
        rule_id: t.rule.id,
        rule_version: t.rule.version,
        device_id: t.device,
        severity,
        status: 'open',
        title: t.rule.title,
        metric: t.metric ?? null,
        value: t.value ?? null,
        details: t.details ?? {},
        count: 1,
        opened_at: ts,
        last_at: ts,
        resolved_at: null,
        resolved_by: null,
        device_kind: t.deviceKind,
      };
      open.set(key, row);
      created.add(row);
      events.push(alertEvent(row, 'opened', ts));
      continue;
    }
    const escalates = severityRank(severity) > severityRank(row.severity);
    Object.assign(row, {
      metric: t.metric ?? row.metric,
      value: t.value ?? row.value,
      details: t.details ?? row.details,
      last_at: ts > row.last_at ? ts : row.last_at,
      ...(escalates && { severity }),
      ...(t.kind === 'raise' && { count: row.count + 1 }),
    });
    if (!created.has(row)) updated.add(row);
    if (escalates || t.kind === 'raise') events.push(alertEvent(row, escalates ? 'escalated' : 'repeated', ts, t.rule.version));
  }

  if (updated.size > 0) {
    await sql`update alerts a set severity = x.severity, status = x.status, metric = x.metric, value = x.value, details = x.details,
        count = x.count, last_at = x.last_at, resolved_at = x.resolved_at, resolved_by = x.resolved_by, updated = now()
      from jsonb_to_recordset(${JSON.stringify([...updated])}::jsonb) as ${RECORD}
      where a.id = x.id`.execute(trx);
  }
  if (created.size > 0) {
    await sql`insert into alerts (id, rule_id, rule_version, device_id, device_kind, severity, status, title, metric, value, details, count, opened_at, last_at, resolved_at, resolved_by)
      select id, rule_id, rule_version, device_id, device_kind, severity, status, title, metric, value, details, count, opened_at, last_at, resolved_at, resolved_by
      from jsonb_to_recordset(${JSON.stringify([...created])}::jsonb) as ${RECORD}`.execute(trx);
  }
  return { events, seqs: await queueEvents(trx, events) };
}
