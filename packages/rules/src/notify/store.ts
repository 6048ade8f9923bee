/** The `notifications` table: rows made by intake, claimed and settled by delivery, listed by operators. */
import { sql } from 'kysely';
import { uuidv7 } from '@strata/core';
import type { AlertStatus } from '../types.js';
import type { Db, NotificationRow } from '@strata/db';
import { notifyErrors } from './errors.js';
import type { PlannedRow } from './plan.js';
import type { NotificationQuery, NotificationStatus, NotificationView } from './types.js';

const STATUSES: readonly NotificationStatus[] = ['pending', 'delivered', 'dead', 'cancelled'];
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

const INSERT_CHUNK = 1000;

/** Inserts rows, skipping any (event_id, channel) already there; returns how many were new. */
export async function insertRows(db: Db, rows: readonly PlannedRow[]): Promise<number> {
  let inserted = 0;
  for (let i = 0; i < rows.length; i += INSERT_CHUNK) inserted += await insertChunk(db, rows.slice(i, i + INSERT_CHUNK));
  return inserted;
}

async function insertChunk(db: Db, rows: readonly PlannedRow[]): Promise<number> {
  const result = await db.kysely
    .insertInto('notifications')
    .values(
      rows.map((r) => ({
        id: uuidv7(),
        event_id: r.eventId,
        alert_id: r.alertId,
        channel: r.channel,
        status: 'pending' as const,
        next_attempt: new Date(r.nextAttempt),
        payload: JSON.stringify(r.payload),
      })),
    )
    .onConflict((oc) => oc.columns(['event_id', 'channel']).doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0);
}

/**
 * Claims up to `limit` pending rows due at `now`, oldest first, by moving their next attempt to
 * `leaseUntil`: another pass (or process) skips them, and if this one dies they come due again.
 */
export async function claimDue(db: Db, now: number, leaseUntil: number, limit: number): Promise<NotificationRow[]> {
  const due = db.kysely
    .selectFrom('notifications')
    .select('id')
    .where('status', '=', 'pending')
    .where('next_attempt', '<=', new Date(now))
    .orderBy('next_attempt')
    .orderBy('id')
    .limit(limit)
    .forUpdate()
    .skipLocked();
  const rows = await db.kysely
    .updateTable('notifications')
    .set({ next_attempt: new Date(leaseUntil) })
    .where('id', 'in', due)
    .where('status', '=', 'pending')
    .returningAll()
    .execute();
  return rows.sort((a, b) => (a.id < b.id ? -1 : 1));
}

/** Settles a claimed row: delivered, cancelled, dead, or pending again at `nextAttempt`. */
export async function settle(
  db: Db,
  id: string,
  change: { status: NotificationStatus; attempts: number; lastError: string | null; nextAttempt?: number },
): Promise<void> {
  await db.kysely
    .updateTable('notifications')
    .set({
      status: change.status,
      attempts: change.attempts,
      last_error: change.lastError,
      ...(change.nextAttempt !== undefined && { next_attempt: new Date(change.nextAttempt) }),
      updated: sql<Date>`now()`,
    })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .execute();
}

/** Gives claimed rows that were not sent back to the queue, due at `now` (a stop in the middle of a pass). */
export async function release(db: Db, ids: readonly string[], now: number): Promise<void> {
  if (ids.length === 0) return;
  await db.kysely.updateTable('notifications').set({ next_attempt: new Date(now) }).where('id', 'in', ids).where('status', '=', 'pending').execute();
}

export async function alertStatus(db: Db, alertId: string): Promise<AlertStatus | undefined> {
  const row = await db.kysely.selectFrom('alerts').select('status').where('id', '=', alertId).executeTakeFirst();
  return row?.status;
}

export async function countPending(db: Db): Promise<number> {
  const row = await db.kysely.selectFrom('notifications').select((eb) => eb.fn.countAll().as('n')).where('status', '=', 'pending').executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Notifications, newest first, filtered by status and alert; `before` pages on by id. */
export async function listNotifications(db: Db, q: NotificationQuery = {}): Promise<NotificationView[]> {
  const limit = q.limit ?? DEFAULT_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw notifyErrors.STRATA_ERR_NOTIFY_BAD_QUERY({ reason: `limit must be an integer from 1 to ${MAX_LIMIT}` });
  }
  if (q.status !== undefined && !STATUSES.includes(q.status)) {
    throw notifyErrors.STRATA_ERR_NOTIFY_BAD_QUERY({ reason: `status must be one of ${STATUSES.join(', ')}` });
  }
  let query = db.kysely
    .selectFrom('notifications')
    .select(['id', 'event_id', 'alert_id', 'channel', 'status', 'attempts', 'next_attempt', 'last_error', 'created', 'updated'])
    .orderBy('id', 'desc')
    .limit(limit);
  if (q.status !== undefined) query = query.where('status', '=', q.status);
  if (q.alertId !== undefined) query = query.where('alert_id', '=', q.alertId);
  if (q.before !== undefined) query = query.where('id', '<', q.before);
  const rows = await query.execute();
  return rows.map((r) => ({
    id: r.id,
    eventId: r.event_id,
    alertId: r.alert_id,
    channel: r.channel,
    status: r.status,
    attempts: r.attempts,
    nextAttempt: r.next_attempt.toISOString(),
    lastError: r.last_error,
    created: r.created.toISOString(),
    updated: r.updated.toISOString(),
    escalation: r.event_id.endsWith(':escalation'),
  }));
}

/** Puts a dead notification back in the queue (attempts 0, due at `now`); false when there is no dead row `id`. */
export async function retryNotification(db: Db, id: string, now: number = Date.now()): Promise<boolean> {
  const result = await db.kysely
    .updateTable('notifications')
    .set({ status: 'pending', attempts: 0, next_attempt: new Date(now), updated: sql<Date>`now()` })
    .where('id', '=', id)
    .where('status', '=', 'dead')
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}
