import { Type } from '@sinclair/typebox';
import { httpErrors } from '../errors.js';

/** Device ids as ingest accepts them (DEVICE_ID_PATTERN): safe in URLs, keys and SQL parameters. */
export const DEVICE_ID = '^[A-Za-z0-9._:-]{1,128}$';
/** Metric names (METRIC_NAME_PATTERN). */
export const METRIC_NAME = '^[A-Za-z0-9._:/-]{1,128}$';

/** Every error answer (see the error handler in app.ts). */
export const ErrorReply = Type.Object(
  {
    error: Type.Object({ code: Type.String({ description: 'STRATA_ERR_... (see the server README)' }), message: Type.String() }),
    issues: Type.Optional(Type.Array(Type.Unknown())),
  },
  { description: 'An error, with its catalogue code.' },
);

/** An RFC 3339 time (with its offset), as the query strings take them; read it with `parseTime`. */
export const Rfc3339 = (description: string) => Type.String({ format: 'date-time', maxLength: 64, description: `${description} RFC 3339, between 1970 and 9999.` });

const MAX_TIME_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/**
 * The instant of a time the schema accepted as RFC 3339, refused (400) when JavaScript cannot
 * read it (a leap second) or it falls outside 1970..9999, so no query ever sees a year 0.
 */
export function parseTime(value: string, name: string): Date {
  const ms = Date.parse(value);
  if (!(ms >= 0 && ms <= MAX_TIME_MS)) throw httpErrors.STRATA_ERR_HTTP_BAD_REQUEST({ reason: `${name} must be an RFC 3339 time between 1970 and 9999, without a leap second` });
  return new Date(ms);
}

/** Cursors are opaque to clients: base64url of what the query needs to go on, tagged by kind. */
export const CURSOR = Type.String({ minLength: 1, maxLength: 1024, pattern: '^[A-Za-z0-9_-]+$', description: 'From `nextCursor` of the previous page.' });

export function encodeCursor(kind: string, value: unknown): string {
  return Buffer.from(JSON.stringify([kind, value]), 'utf8').toString('base64url');
}

/** The value of a cursor made by `encodeCursor(kind, ...)` and accepted by `check`; a 400 for anything else. */
export function decodeCursor<T>(kind: string, cursor: string, check: (value: unknown) => value is T): T {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (Array.isArray(parsed) && parsed.length === 2 && parsed[0] === kind && check(parsed[1])) return parsed[1];
  throw httpErrors.STRATA_ERR_HTTP_BAD_CURSOR();
}
