import { defineErrors } from '@strata/core';

export const authErrors = defineErrors({
  STRATA_ERR_AUTH_MISSING_KEY: { status: 401, message: 'credentials are required: send Authorization: Bearer <API key or access token>, or X-API-Key: <key>' },
  STRATA_ERR_AUTH_INVALID_KEY: { status: 401, message: 'the API key is not valid (unknown, revoked or expired)' },
  STRATA_ERR_AUTH_FORBIDDEN_DEVICE: { status: 403, message: 'this key may only write device {allowed}, not {device}' },
  STRATA_ERR_AUTH_BAD_REQUEST: { status: 400, message: 'invalid key request: {reason}' },
  STRATA_ERR_AUTH_UNKNOWN_KEY_ID: { status: 404, message: 'no key with id {id}' },
  STRATA_ERR_AUTH_UNKNOWN_USER: { status: 404, message: 'no user with id {id}' },
  STRATA_ERR_AUTH_CONFLICT: { status: 409, message: 'conflict: {reason}' },
  STRATA_ERR_AUTH_INVALID_TOKEN: { status: 401, message: 'the access token is not valid (expired, forged or for a disabled user): sign in again' },
  STRATA_ERR_AUTH_LOGIN_FAILED: { status: 401, message: 'wrong username or password' },
  STRATA_ERR_AUTH_INVALID_REFRESH: { status: 401, message: 'the refresh token is not valid (expired, used or revoked): sign in again' },
  STRATA_ERR_AUTH_FORBIDDEN: { status: 403, message: 'not allowed: {reason}' },
  STRATA_ERR_AUTH_RATE_LIMITED: { status: 429, message: 'too many requests: retry in {retryAfterSeconds} s' },
});
