import type { FastifyRequest } from 'fastify';
import { callerName } from '@strata/auth';
import type { Kysely } from 'kysely';
import { appendAudit, type AuditEntry, type Database } from '@strata/db';
import { httpErrors } from './errors.js';

/**
 * Writes the audit record of what `req` is doing, before the response goes out, on the database
 * or inside the transaction of the change it records. If the record cannot be written the
 * request fails (503) and nothing is answered: no read of patient data and no admin action goes
 * unrecorded.
 */
export async function audit(
  executor: Kysely<Database>,
  req: FastifyRequest,
  entry: Pick<AuditEntry, 'action' | 'resource'> & Partial<Pick<AuditEntry, 'outcome' | 'details'>>,
): Promise<void> {
  try {
    await appendAudit(executor, {
      actor: req.caller ? callerName(req.caller) : 'anonymous',
      ip: req.ip,
      outcome: 'success',
      ...entry,
    });
  } catch (err) {
    req.log.error({ err, action: entry.action, resource: entry.resource }, 'audit write failed; request refused');
    throw httpErrors.STRATA_ERR_HTTP_AUDIT_UNAVAILABLE({}, err);
  }
}

/** The audit identity of the caller of `req` for changes made through the auth directory. */
export function actorOf(req: FastifyRequest): { actor: string; ip: string } {
  return { actor: req.caller ? callerName(req.caller) : 'anonymous', ip: req.ip };
}
