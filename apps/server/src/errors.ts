import { defineErrors } from '@strata/core';

/** Errors of the HTTP layer itself (Fastify's own errors are mapped onto these). */
export const httpErrors = defineErrors({
  STRATA_ERR_HTTP_BAD_REQUEST: { status: 400, message: 'bad request: {reason}' },
  STRATA_ERR_HTTP_NOT_FOUND: { status: 404, message: 'no route {method} {url}' },
  STRATA_ERR_HTTP_TOO_LARGE: { status: 413, message: 'request body larger than {limit} bytes' },
  STRATA_ERR_HTTP_MEDIA_TYPE: { status: 415, message: 'unsupported content type {type}' },
  STRATA_ERR_HTTP_INTERNAL: { status: 500, message: 'internal error (request {reqId}); see the server log' },
  STRATA_ERR_HTTP_NOT_READY: { status: 503, message: 'not ready: {reasons}' },
  STRATA_ERR_HTTP_AUDIT_UNAVAILABLE: { status: 503, message: 'the audit log cannot be written now, so this request was refused; retry later' },
  STRATA_ERR_HTTP_TIMEOUT: { status: 503, message: '{what} did not finish within {seconds} s; it goes on in the background' },
  STRATA_ERR_HTTP_BAD_CURSOR: { status: 400, message: 'cursor is not one this API gave: pass nextCursor as it came' },
  STRATA_ERR_HTTP_DEVICE_NOT_FOUND: { status: 404, message: 'no device {id}' },
});
