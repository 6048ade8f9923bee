import { defineErrors } from '@strata/core';

export const authErrors = defineErrors({
  STRATA_ERR_AUTH_MISSING_KEY: { status: 401, message: 'an API key is required: send Authorization: Bearer <key> or X-API-Key: <key>' },
  STRATA_ERR_AUTH_INVALID_KEY: { status: 401, message: 'the API key is not valid (unknown, revoked or expired)' },
  STRATA_ERR_AUTH_FORBIDDEN_SCOPE: { status: 403, message: 'this key lacks the {scope} scope' },
  STRATA_ERR_AUTH_FORBIDDEN_DEVICE: { status: 403, message: 'this key may only write device {allowed}, not {device}' },
  STRATA_ERR_AUTH_BAD_REQUEST: { status: 400, message: 'invalid key request: {reason}' },
  STRATA_ERR_AUTH_UNKNOWN_KEY_ID: { status: 404, message: 'no key with id {id}' },
});
