import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { StrataError } from '@strata/core';
import { installAuthHook, type KeyStore } from '@strata/auth';
import { httpIngestPlugin, type IngestService } from '@strata/ingest';
import type { Stream } from '@strata/stream';
import type { ObjectStore } from '@strata/storage';
import type { Delivery } from '@strata/lake';
import type { IngestRejectReason, Metrics } from './metrics.js';
import { httpErrors } from './errors.js';
import { opsRoutes } from './routes/ops.js';
import { adminRoutes } from './routes/admin.js';

export interface AppOptions {
  keys: KeyStore;
  ingest: IngestService;
  stream: Stream;
  store: ObjectStore;
  delivery?: Delivery;
  metrics: Metrics;
  bodyLimitBytes: number;
  /** How long `POST /v1/admin/flush` waits before answering 503 (the flush goes on). Default 30 s. */
  flushTimeoutMs?: number;
  logger?: FastifyServerOptions['loggerInstance'];
}

/** The one place ingest rejections are counted: by the code of the error answered. */
const INGEST_REJECT_REASON: Readonly<Record<string, IngestRejectReason>> = {
  STRATA_ERR_INGEST_INVALID: 'invalid',
  STRATA_ERR_HTTP_BAD_REQUEST: 'invalid',
  STRATA_ERR_INGEST_TOO_LARGE: 'too_large',
  STRATA_ERR_HTTP_TOO_LARGE: 'too_large',
  STRATA_ERR_INGEST_MEDIA_TYPE: 'media_type',
  STRATA_ERR_HTTP_MEDIA_TYPE: 'media_type',
  STRATA_ERR_AUTH_MISSING_KEY: 'unauthorized',
  STRATA_ERR_AUTH_INVALID_KEY: 'unauthorized',
  STRATA_ERR_AUTH_FORBIDDEN_SCOPE: 'forbidden',
  STRATA_ERR_AUTH_FORBIDDEN_DEVICE: 'forbidden_device',
  STRATA_ERR_INGEST_UNAVAILABLE: 'unavailable',
};

/** Fastify's own errors (body limit, content type, schema validation) in Strata's catalogue. */
function toStrataError(err: Error & { statusCode?: number; code?: string }, req: { method: string; url: string; id: string }, bodyLimit: number): StrataError {
  if (err instanceof StrataError) return err;
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return httpErrors.STRATA_ERR_HTTP_TOO_LARGE({ limit: bodyLimit }, err);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return httpErrors.STRATA_ERR_HTTP_MEDIA_TYPE({ type: 'of this request' }, err);
  }
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
    return httpErrors.STRATA_ERR_HTTP_BAD_REQUEST({ reason: err.message }, err);
  }
  return httpErrors.STRATA_ERR_HTTP_INTERNAL({ reqId: req.id }, err);
}

/** The HTTP API, without listening: tests drive it with `app.inject()`. */
export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    ...(opts.logger ? { loggerInstance: opts.logger } : { logger: false }),
    bodyLimit: opts.bodyLimitBytes,
    // One line per request would be per-event logging on the ingest path.
    logController: new LogController({ disableRequestLogging: true }),
    // Reject unknown properties with a 400 instead of silently dropping them.
    ajv: { customOptions: { removeAdditional: false } },
    requestIdHeader: 'x-request-id',
  });
  installAuthHook(app, opts.keys);

  app.setErrorHandler((raw: Error & { statusCode?: number; code?: string }, req, reply) => {
    let err = toStrataError(raw, req, opts.bodyLimitBytes);
    if (err.statusCode === 503) reply.header('retry-after', '1');
    else if (err.statusCode >= 500) {
      // Our fault: the details (files, offsets) go to the log, the client gets the request id.
      req.log.error({ err: raw, reqId: req.id }, 'request failed');
      err = httpErrors.STRATA_ERR_HTTP_INTERNAL({ reqId: req.id }, raw);
    }
    if (req.routeOptions.config.scope === 'ingest') {
      const reason = INGEST_REJECT_REASON[err.code];
      if (reason) opts.metrics.ingestRejected(reason);
    }
    const issues = err.details.issues;
    return reply.code(err.statusCode).send({ error: { code: err.code, message: err.message }, ...(issues !== undefined && { issues }) });
  });
  app.setNotFoundHandler((req) => {
    throw httpErrors.STRATA_ERR_HTTP_NOT_FOUND({ method: req.method, url: req.url.split('?')[0] });
  });
  app.addHook('onResponse', (req, reply, done) => {
    opts.metrics.httpRequest(req.routeOptions.url ?? 'unmatched', req.method, reply.statusCode);
    done();
  });

  await app.register(opsRoutes, { stream: opts.stream, store: opts.store, metrics: opts.metrics });
  await app.register(adminRoutes, { keys: opts.keys, flushTimeoutMs: opts.flushTimeoutMs ?? 30_000, ...(opts.delivery && { delivery: opts.delivery }) });
  await app.register(httpIngestPlugin, { service: opts.ingest, bodyLimitBytes: opts.bodyLimitBytes });
  return app;
}
