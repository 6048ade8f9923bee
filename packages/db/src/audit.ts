/**
 * The audit log: who did what to which resource, with what outcome, from where. Append-only
 * in the database (a trigger refuses UPDATE, DELETE and TRUNCATE). Writers await the insert:
 * an action whose audit record cannot be written fails with it (medical-records rule).
 */
import type { Kysely, Transaction } from 'kysely';
import type { AuditRecord, Database } from './schema.js';

export interface AuditEntry {
  /** `user:<username>`, `key:<id>` or `system`. */
  actor: string;
  /** Dotted verb, e.g. `device.latest.read`, `key.create`, `auth.login`. */
  action: string;
  /** What was acted on, e.g. `device:p-001`, `key:3f2a…`, `user:alice`. */
  resource: string;
  outcome: AuditRecord['outcome'];
  ip?: string | undefined;
  details?: Record<string, unknown> | undefined;
}

export async function appendAudit(db: Kysely<Database> | Transaction<Database>, entry: AuditEntry): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({
      actor: entry.actor,
      action: entry.action,
      resource: entry.resource,
      outcome: entry.outcome,
      ip: entry.ip ?? null,
      details: entry.details === undefined ? null : JSON.stringify(entry.details),
    })
    .execute();
}

export interface AuditQuery {
  actor?: string;
  action?: string;
  resource?: string;
  outcome?: AuditRecord['outcome'];
  from?: Date;
  to?: Date;
  /** Cursor: records with a smaller id (newest first). */
  before?: number;
  limit: number;
}

/** Newest first, with a cursor for the next page. */
export async function queryAudit(db: Kysely<Database>, q: AuditQuery): Promise<{ records: AuditRecord[]; nextCursor?: number }> {
  let query = db.selectFrom('audit_log').selectAll().orderBy('id', 'desc').limit(q.limit + 1);
  if (q.actor !== undefined) query = query.where('actor', '=', q.actor);
  if (q.action !== undefined) query = query.where('action', '=', q.action);
  if (q.resource !== undefined) query = query.where('resource', '=', q.resource);
  if (q.outcome !== undefined) query = query.where('outcome', '=', q.outcome);
  if (q.from !== undefined) query = query.where('at', '>=', q.from);
  if (q.to !== undefined) query = query.where('at', '<', q.to);
  if (q.before !== undefined) query = query.where('id', '<', q.before);
  const rows = await query.execute();
  const more = rows.length > q.limit;
  const records = more ? rows.slice(0, q.limit) : rows;
  return { records, ...(more && { nextCursor: records.at(-1)!.id }) };
}
