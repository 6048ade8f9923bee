import { defineErrors } from '@strata/core';

export const storageErrors = defineErrors({
  STRATA_ERR_STORAGE_BAD_KEY: { status: 400, message: 'invalid object key {key}: {reason}' },
  STRATA_ERR_STORAGE_IO: { status: 503, message: 'object store {op} of {key} failed: {reason}' },
});
