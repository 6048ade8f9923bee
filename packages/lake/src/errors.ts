import { defineErrors } from '@strata/core';

export const lakeErrors = defineErrors({
  STRATA_ERR_LAKE_BAD_OPTION: { status: 400, message: 'invalid delivery option {option}: {reason}' },
  STRATA_ERR_LAKE_DELIVERY_STOPPED: { status: 503, message: 'delivery of topic {topic} (group {group}) is stopped' },
  STRATA_ERR_LAKE_STATE_CORRUPT: { status: 500, message: 'delivery state object {key} is unreadable: {reason}' },
});
