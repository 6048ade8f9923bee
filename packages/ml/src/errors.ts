import { defineErrors } from '@strata/core';

export const mlErrors = defineErrors({
  STRATA_ERR_ML_LEAKAGE: { status: 400, message: 'feature {feature} would leak the label: {reason}' },
  STRATA_ERR_ML_SCHEMA: { status: 400, message: 'invalid feature schema: {reason}' },
  STRATA_ERR_ML_DATA: { status: 400, message: 'training data {source}{where}: {reason}' },
  STRATA_ERR_ML_INVALID_INPUT: { status: 400, message: 'invalid prediction input: {summary}' },
  STRATA_ERR_ML_ARTIFACT: { status: 400, message: 'invalid model artifact: {reason}' },
  STRATA_ERR_ML_BAD_OPTION: { status: 400, message: 'invalid training option {option}: {reason}' },
  STRATA_ERR_ML_BAD_MODEL_NAME: { status: 400, message: 'invalid model reference {model}: {reason}' },
  STRATA_ERR_ML_MODEL_NOT_FOUND: { status: 404, message: 'no model {model} in the registry' },
  STRATA_ERR_ML_NO_ACTIVE_MODEL: { status: 409, message: 'no active model named {name}: train and activate one (`strata ml bootstrap`, or `strata ml train --activate`), or activate a version (`strata ml activate`)' },
  STRATA_ERR_ML_INTEGRITY: { status: 500, message: 'model {model}: object {key} {reason}' },
  STRATA_ERR_ML_DEVICE_FEATURES: { status: 409, message: 'cannot compute the features of device {device}: {reason}' },
});
