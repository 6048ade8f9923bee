import { defineErrors } from '@strata/core';

export const storageErrors = defineErrors({
  STRATA_ERR_STORAGE_BAD_KEY: { status: 400, message: 'invalid object key {key}: {reason}' },
  STRATA_ERR_STORAGE_KEY_CONFLICT: {
    status: 409,
    message: 'object key {key} conflicts with existing objects: {reason}',
  },
  STRATA_ERR_STORAGE_CHANGED: {
    status: 409,
    message: 'object {key} is not at the expected version (another writer changed it): conditional write refused',
  },
  STRATA_ERR_STORAGE_BAD_OPTIONS: { status: 400, message: 'invalid object store options: {reason}' },
  STRATA_ERR_STORAGE_CLOSED: { status: 503, message: 'the object store is closed' },
  STRATA_ERR_STORAGE_IO: { status: 503, message: 'object store {op} of {key} failed: {reason}' },
});
