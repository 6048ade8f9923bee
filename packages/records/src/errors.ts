import { defineErrors } from '@strata/core';

export const recordsErrors = defineErrors({
  STRATA_ERR_RECORDS_MASTER_KEY: { status: 500, message: 'master key problem: {reason}' },
  STRATA_ERR_RECORDS_BAD_FILE: { status: 400, message: 'not a healthcare CSV: {reason}' },
  STRATA_ERR_RECORDS_NOT_FOUND: { status: 404, message: 'no patient {id}' },
  STRATA_ERR_RECORDS_IMPORT_NOT_FOUND: { status: 404, message: 'no import {id}' },
});
