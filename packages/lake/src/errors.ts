import { defineErrors } from '@strata/core';

export const lakeErrors = defineErrors({
  STRATA_ERR_LAKE_BAD_OPTION: { status: 400, message: 'invalid option {option}: {reason}' },
  STRATA_ERR_LAKE_DELIVERY_STOPPED: { status: 503, message: 'delivery of topic {topic} (group {group}) is stopped' },
  STRATA_ERR_LAKE_STATE_CORRUPT: { status: 500, message: 'lake state object {key} is unreadable: {reason}' },
  STRATA_ERR_LAKE_BAD_SETTING: { status: 400, message: 'invalid lake setting {setting}: {reason}' },
  STRATA_ERR_LAKE_LOCKED: { status: 500, message: 'lake staging directory {dir} is in use by process {pid}: one process runs the lake jobs (stop it, or turn its lake role off)' },
  STRATA_ERR_LAKE_CLOSED: { status: 503, message: 'the lake is closed' },
  STRATA_ERR_LAKE_JOB_FAILED: { status: 500, message: 'lake job {layer} failed: {reason}' },
  STRATA_ERR_LAKE_QUERY_REJECTED: { status: 400, message: 'query rejected: {reason}' },
  STRATA_ERR_LAKE_QUERY_FAILED: { status: 400, message: 'query failed: {reason}' },
  STRATA_ERR_LAKE_QUERY_TIMEOUT: { status: 408, message: 'query exceeded its time limit of {ms} ms' },
});
