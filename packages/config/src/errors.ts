import { defineErrors } from '@strata/core';

export const configErrors = defineErrors({
  STRATA_ERR_CONFIG_INVALID: { status: 400, message: 'invalid configuration: {problems}' },
  STRATA_ERR_CONFIG_FILE: { status: 400, message: 'cannot read config file {file}: {reason}' },
});
