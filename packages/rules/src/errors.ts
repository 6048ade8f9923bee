import { defineErrors } from '@strata/core';

export const rulesErrors = defineErrors({
  STRATA_ERR_RULES_INVALID: { status: 400, message: 'invalid rule{where}: {reason}' },
  STRATA_ERR_RULES_FILE: { status: 400, message: 'rules file {file}: {reason}' },
  STRATA_ERR_RULES_NOT_FOUND: { status: 404, message: 'no rule {id}' },
  STRATA_ERR_RULES_READ_ONLY: { status: 409, message: 'rule {id} comes from {origin}: change it there, not through the API' },
  STRATA_ERR_RULES_EXISTS: { status: 409, message: 'rule {id} already exists' },
  STRATA_ERR_RULES_VERSION_CONFLICT: { status: 409, message: 'rule {id} is at version {current}, not {expected}: read it again and retry' },
  STRATA_ERR_RULES_BAD_OPTION: { status: 400, message: 'invalid rules option {option}: {reason}' },
  STRATA_ERR_ALERTS_NOT_FOUND: { status: 404, message: 'no alert {id}' },
  STRATA_ERR_ALERTS_TRANSITION: { status: 409, message: 'alert {id} is {status}: it cannot be {action}' },
});
