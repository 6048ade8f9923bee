/**
 * Findings in the operational store: one row per (account, check, resource), keyed by the OCSF
 * finding uid. Applying a scan, in one transaction:
 *   - a result never seen (or seen and closed) → Create, row active;
 *   - a result for an active row → Update (status, detail, last_seen);
 *   - an active row in a scope the scan covered (`service@region`) without a result for it →
 *     Close (the resource or the check's subject is gone), row closed.
 * Rows in scopes the scan did not complete (errors, services or regions not asked) stay as they
 * are. Each change is an OCSF Compliance Finding event, returned for the `findings` topic.
 */
import type { Kysely, Selectable } from 'kysely';
import { checkById } from '../catalogue.js';
import { findingUid, toComplianceFinding, type ActivityId, type ComplianceFinding } from '../ocsf/compliance-finding.js';
import { scopeKey, type ScanReport } from '../runner.js';
import type { CheckResult, CheckStatus, Dimension, ScanTarget, Severity } from '../types.js';

export interface FindingsTable {
  uid: string;
  account_id: string;
  check_id: string;
  scope: string;
  dimension: Dimension;
  severity: Severity;
  resource_uid: string;
  resource_type: string;
  resource_name: string;
  region: string;
  status: CheckStatus;
  state: 'active' | 'closed';
  detail: string;
  first_seen: Date;
  last_seen: Date;
  closed_at: Date | null;
  scan_id: string;
  event: unknown;
}

export interface ScansTable {
  id: string;
  status: ScanStatus;
  request: unknown;
  requested_by: string;
  owner: string;
  created: Date;
  started_at: Date | null;
  finished_at: Date | null;
  progress_done: number;
  progress_total: number;
  account_id: string | null;
  counts: unknown;
  errors: unknown;
  api_calls: number;
}

export type ScanStatus = 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'PARTIAL' | 'FAILED';

export interface ScanTables {
  scans: ScansTable;
  findings: FindingsTable;
}

/** Any Kysely over a database that has the scan tables (the platform's, narrowed). */
export type ScanDb = Kysely<ScanTables>;

export interface AppliedScan {
  events: ComplianceFinding[];
  created: number;
  updated: number;
  closed: number;
}

/** The scope of a result: `service@<its resource's region>` (`global` for account-wide resources); see ../services/service.ts. */
export function resultScope(r: CheckResult): string {
  return scopeKey(checkById(r.checkId)!.service, r.resource.region);
}

/** The changes a scan makes to the stored findings, as events (without writing them). */
export async function planScan(db: ScanDb, report: ScanReport): Promise<{ rows: FindingsTable[]; events: ComplianceFinding[]; counts: Omit<AppliedScan, 'events'> }> {
  const target = report.target;
  if (!target || report.completed.length === 0) return { rows: [], events: [], counts: { created: 0, updated: 0, closed: 0 } };
  const time = Date.parse(report.finishedAt);
  const existing = new Map<string, Selectable<FindingsTable>>();
  for (const row of await db.selectFrom('findings').selectAll().where('account_id', '=', target.accountId).where('scope', 'in', report.completed).execute()) existing.set(row.uid, row);
  const rows: FindingsTable[] = [];
  const events: ComplianceFinding[] = [];
  const counts = { created: 0, updated: 0, closed: 0 };
  const seen = new Set<string>();
  for (const r of report.results) {
    const uid = findingUid(target.accountId, r.checkId, r.resource.uid);
    if (seen.has(uid)) continue; // a resource listed twice (a shadow trail) is judged once
    seen.add(uid);
    const before = existing.get(uid);
    const activity: ActivityId = before && before.state === 'active' ? 2 : 1;
    const firstSeen = before && before.state === 'active' ? before.first_seen.getTime() : time;
    const event = toComplianceFinding(r, target, report.scanId, activity, { time, firstSeen });
    events.push(event);
    rows.push(row(r, target, report.scanId, event, { firstSeen, time, state: 'active' }));
    counts[activity === 1 ? 'created' : 'updated']++;
  }
  for (const before of existing.values()) {
    if (before.state !== 'active' || seen.has(before.uid)) continue;
    const last: CheckResult = { checkId: before.check_id, resource: { uid: before.resource_uid, type: before.resource_type, name: before.resource_name, region: before.region }, status: before.status, detail: 'no longer found by the scan' };
    const event = toComplianceFinding(last, target, report.scanId, 3, { time, firstSeen: before.first_seen.getTime() });
    events.push(event);
    rows.push({ ...row(last, target, report.scanId, event, { firstSeen: before.first_seen.getTime(), time: before.last_seen.getTime(), state: 'closed' }), scope: before.scope, closed_at: new Date(time) });
    counts.closed++;
  }
  return { rows, events, counts };
}

/** Writes a planned scan's rows (one transaction). */
export async function writePlan(db: ScanDb, rows: readonly FindingsTable[]): Promise<void> {
  if (rows.length === 0) return;
  await db.transaction().execute(async (tx) => {
    for (let i = 0; i < rows.length; i += 500) {
      const chunk = rows.slice(i, i + 500).map((r) => ({ ...r, event: JSON.stringify(r.event) }));
      await tx
        .insertInto('findings')
        .values(chunk)
        .onConflict((oc) =>
          oc.column('uid').doUpdateSet((eb) => ({
            scope: eb.ref('excluded.scope'),
            status: eb.ref('excluded.status'),
            state: eb.ref('excluded.state'),
            detail: eb.ref('excluded.detail'),
            resource_name: eb.ref('excluded.resource_name'),
            first_seen: eb.ref('excluded.first_seen'),
            last_seen: eb.ref('excluded.last_seen'),
            closed_at: eb.ref('excluded.closed_at'),
            scan_id: eb.ref('excluded.scan_id'),
            event: eb.ref('excluded.event'),
          })),
        )
        .execute();
    }
  });
}

function row(r: CheckResult, target: ScanTarget, scanId: string, event: ComplianceFinding, t: { firstSeen: number; time: number; state: 'active' | 'closed' }): FindingsTable {
  const check = checkById(r.checkId)!;
  return {
    uid: event.finding_info.uid,
    account_id: target.accountId,
    check_id: r.checkId,
    scope: resultScope(r),
    dimension: check.dimension,
    severity: check.severity,
    resource_uid: r.resource.uid,
    resource_type: r.resource.type,
    resource_name: r.resource.name,
    region: r.resource.region,
    status: r.status,
    state: t.state,
    detail: r.detail,
    first_seen: new Date(t.firstSeen),
    last_seen: new Date(t.time),
    closed_at: null,
    scan_id: scanId,
    event,
  };
}

export interface FindingFilters {
  severity?: Severity[];
  status?: CheckStatus[];
  dimension?: Dimension[];
  check?: string;
  /** A resource uid (ARN) or name. */
  resource?: string;
  account?: string;
  state?: 'active' | 'closed' | 'all';
  /** The page after this finding uid. */
  after?: string;
  limit: number;
}

export interface FindingView {
  uid: string;
  accountId: string;
  check: string;
  title: string;
  dimension: Dimension;
  severity: Severity;
  status: CheckStatus;
  state: 'active' | 'closed';
  resource: { uid: string; type: string; name: string; region: string };
  detail: string;
  remediation: string;
  firstSeen: string;
  lastSeen: string;
  closedAt: string | null;
  scanId: string;
}

export async function listFindings(db: ScanDb, f: FindingFilters): Promise<FindingView[]> {
  let q = db.selectFrom('findings').selectAll();
  const state = f.state ?? 'active';
  if (state !== 'all') q = q.where('state', '=', state);
  if (f.severity?.length) q = q.where('severity', 'in', f.severity);
  if (f.status?.length) q = q.where('status', 'in', f.status);
  if (f.dimension?.length) q = q.where('dimension', 'in', f.dimension);
  if (f.check) q = q.where('check_id', '=', f.check);
  if (f.account) q = q.where('account_id', '=', f.account);
  if (f.resource) {
    const resource = f.resource;
    q = q.where((eb) => eb.or([eb('resource_uid', '=', resource), eb('resource_name', '=', resource)]));
  }
  if (f.after) q = q.where('uid', '>', f.after);
  const rows = await q.orderBy('uid').limit(f.limit).execute();
  return rows.map((r) => ({
    uid: r.uid,
    accountId: r.account_id,
    check: r.check_id,
    title: checkById(r.check_id)?.title ?? r.check_id,
    dimension: r.dimension,
    severity: r.severity,
    status: r.status,
    state: r.state,
    resource: { uid: r.resource_uid, type: r.resource_type, name: r.resource_name, region: r.region },
    detail: r.detail,
    remediation: checkById(r.check_id)?.remediation ?? '',
    firstSeen: r.first_seen.toISOString(),
    lastSeen: r.last_seen.toISOString(),
    closedAt: r.closed_at ? r.closed_at.toISOString() : null,
    scanId: r.scan_id,
  }));
}
