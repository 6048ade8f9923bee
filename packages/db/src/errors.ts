import { defineErrors } from '@strata/core';

/**
 * Database errors. 4xx: the caller's input; 5xx: the database cannot serve now (retry later) or
 * an operator must act (LOCKED, MIGRATION).
 */
export const dbErrors = defineErrors({
  STRATA_ERR_DB_BAD_URL: { status: 400, message: 'database URL must be postgres://... or postgresql://...: {reason}' },
  STRATA_ERR_DB_LOCKED: { status: 500, message: 'embedded database {dir} is in use by process {pid} (stop it, or use its API with --url)' },
  STRATA_ERR_DB_MIGRATION: { status: 500, message: 'database migration {migration} failed: {reason}' },
  STRATA_ERR_DB_TOO_NEW: { status: 500, message: 'the database has migrations this version does not know ({migrations}): run a newer Strata' },
  STRATA_ERR_DB_DUPLICATE: { status: 409, message: '{what} {id} already exists' },
  STRATA_ERR_DB_BAD_QUERY: { status: 400, message: 'invalid query option {option}: {reason}' },
  STRATA_ERR_DB_BAD_OPTION: { status: 400, message: 'invalid {component} option {option}: {reason}' },
  STRATA_ERR_DB_STATE_STOPPED: { status: 503, message: 'the state consumer of topic {topic} is stopped' },
});
