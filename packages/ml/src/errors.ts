import { defineErrors } from '@strata/core';

export const mlErrors = defineErrors({
  STRATA_ERR_ML_LEAKAGE: { status: 400, message: 'feature {feature} would leak the label: {reason}' },
  STRATA_ERR_ML_SCHEMA: { status: 400, message: 'invalid feature schema: {reason}' },
  STRATA_ERR_ML_DATA: { status: 400, message: 'training data {source}{where}: {reason}' },
  STRATA_ERR_ML_INVALID_INPUT: { status: 400, message: 'invalid prediction input: {summary}' },
  STRATA_ERR_ML_ARTIFACT: { status: 400, message: 'invalid model artifact: {reason}' },
  STRATA_ERR_ML_BAD_OPTION: { status: 400, message: 'invalid training option {option}: {reason}' },
});
