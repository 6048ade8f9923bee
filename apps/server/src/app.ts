import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { StrataError } from '@strata/core';
import { installAuthHook, type AuthDirectory, type RateLimiter, type Sessions } from '@strata/auth';
import type { Db } from '@strata/db';
import { httpIngestPlugin, type IngestService } from '@strata/ingest';
import type { Stream } from '@strata/stream';
import type { ObjectStore } from '@strata/storage';
import type { Delivery, Lakehouse } from '@strata/lake';
import type { AlertFeed, RuleRegistry } from '@strata/rules';
import type { IngestRejectReason, Metrics } from './metrics.js';
import { httpErrors } from './errors.js';
import { opsRoutes, type Readiness } from './routes/ops.js';
import { adminRoutes } from './routes/admin.js';
import { authRoutes } from './routes/auth.js';
import { registerOpenApi } from './openapi.js';
import { deviceRoutes } from './routes/devices.js';
import { predictionRoutes } from './routes/predictions.js';
import { auditRoutes } from './routes/audit.js';
import { liveRoutes } from './routes/live.js';
import { queryRoutes } from './routes/query.js';
import { ruleRoutes } from './routes/rules.js';
import { alertRoutes } from './routes/alerts.js';
import type { LiveHub } from './live-hub.js';
import { overviewRoutes } from './routes/overview.js';
import { patientRoutes } from './routes/patients.js';
import { scanRoutes } from './routes/scans.js';
import { recordRoutes, type RecordsRouteOptions } from './routes/records.js';
import { mlRoutes, type MlRouteOptions } from './routes/ml.js';
import { webRoutes } from './web.js';

export interface AppOptions {
  auth: {
    directory: AuthDirectory;
    sessions: Sessions;
    limiter: RateLimiter;
    ingestLimiter: RateLimiter;
    loginAttemptsPerMinute: number;
  };
  db: Db;
  /** Live readings for `GET /v1/live`; without it the route is absent. */
  live?: LiveHub;
  /** With `devices.registration: known-only`: the cache ingest checks, told of devices created through the API. */
  knownDevices?: { add(id: string): void };
  /** The ingest role: `POST /v1/ingest` and `/sensors`; without it those routes are absent. */
  ingest?: IngestService;
  /** The api role: every other `/v1` route. Default true; false leaves /health, /ready, /metrics (and ingest). */
  api?: boolean;
  /** What `/ready` probes besides the stream (default: the object store and the database). */
  readiness?: Readiness;
  stream: Stream;
  store: ObjectStore;
  delivery?: Delivery;
  /** The lakehouse `POST /v1/query` reads; without it the route is absent. */
  lake?: Lakehouse;
  /** Rules and alerts (`/v1/rules`, `/v1/alerts`, `/v1/notifications`); without it those routes are absent. */
  rules?: { registry: RuleRegistry; feed: AlertFeed; onChange?: () => void };
  /** Patient records (`/v1/patients`, `/v1/admissions`, `/v1/imports`); without it those routes are absent. */
  records?: Omit<RecordsRouteOptions, 'db'>;
  /** Predictive maintenance (`POST /v1/predict`, `/v1/ml/models`): the model registry; without it those routes are absent. */
  ml?: Omit<MlRouteOptions, 'db'>;
  /** Days of rollups the state consumer keeps: series before that come from the lake. */
  rollupRetentionDays?: number;
  metrics: Metrics;
  /** The web role: the built dashboard served at `/` (./web.ts); without it `/` is an unknown route. */
  web?: { root: string };
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
  STRATA_ERR_AUTH_INVALID_TOKEN: 'unauthorized',
  STRATA_ERR_AUTH_FORBIDDEN: 'forbidden',
  STRATA_ERR_AUTH_RATE_LIMITED: 'rate_limited',
  STRATA_ERR_INGEST_UNKNOWN_DEVICE: 'unknown_device',
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

/** True when a string anywhere in a parsed request part holds U+0000 (raw Buffer bodies are ingest's to check). */
function holdsNul(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (typeof value !== 'object' || value === null || Buffer.isBuffer(value) || depth > 32) return false;
  for (const key in value) {
    if (key.includes('\u0000') || holdsNul((value as Record<string, unknown>)[key], depth + 1)) return true;
  }
  return false;
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
  await registerOpenApi(app, '0.1.0');
  installAuthHook(app, opts.auth);

  app.setErrorHandler((raw: Error & { statusCode?: number; code?: string }, req, reply) => {
    let err = toStrataError(raw, req, opts.bodyLimitBytes);
    const retryAfter = err.details.retryAfterSeconds;
    if (typeof retryAfter === 'number') reply.header('retry-after', String(retryAfter));
    else if (err.statusCode === 503) reply.header('retry-after', '1');
    else if (err.statusCode >= 500) {
      // Our fault: the details (files, offsets) go to the log, the client gets the request id.
      req.log.error({ err: raw, reqId: req.id }, 'request failed');
      err = httpErrors.STRATA_ERR_HTTP_INTERNAL({ reqId: req.id }, raw);
    }
    if (req.routeOptions.config.permission === 'ingest') {
      const reason = INGEST_REJECT_REASON[err.code];
      if (reason) opts.metrics.ingestRejected(reason);
    }
    const issues = err.details.issues;
    return reply.code(err.statusCode).send({ error: { code: err.code, message: err.message }, ...(issues !== undefined && { issues }) });
  });
  // PostgreSQL text cannot hold U+0000: refuse it in any parameter or JSON body up front (400),
  // instead of letting a query fail (500) or an audit write fail (503) on it.
  app.addHook('preValidation', (req, _reply, done) => {
    done(holdsNul(req.params) || holdsNul(req.query) || holdsNul(req.body) ? httpErrors.STRATA_ERR_HTTP_BAD_REQUEST({ reason: 'text may not contain the character U+0000' }) : undefined);
  });
  app.setNotFoundHandler((req) => {
    throw httpErrors.STRATA_ERR_HTTP_NOT_FOUND({ method: req.method, url: req.url.split('?')[0] });
  });
  app.addHook('onResponse', (req, reply, done) => {
    opts.metrics.httpRequest(req.routeOptions.url ?? 'unmatched', req.method, reply.statusCode);
    done();
  });

  await app.register(opsRoutes, { stream: opts.stream, store: opts.store, db: opts.db, metrics: opts.metrics, readiness: opts.readiness ?? { store: true, db: true } });
  if (opts.ingest) await app.register(httpIngestPlugin, { service: opts.ingest, bodyLimitBytes: opts.bodyLimitBytes });
  if (opts.api !== false) await registerApi(app, opts);
  if (opts.web) await app.register(webRoutes, { root: opts.web.root, directory: opts.auth.directory, sessions: opts.auth.sessions });
  return app;
}

/** The api role's routes. */
async function registerApi(app: FastifyInstance, opts: AppOptions): Promise<void> {
  await app.register(authRoutes, { sessions: opts.auth.sessions, loginAttemptsPerMinute: opts.auth.loginAttemptsPerMinute });
  await app.register(adminRoutes, { directory: opts.auth.directory, db: opts.db, stream: opts.stream, store: opts.store, flushTimeoutMs: opts.flushTimeoutMs ?? 30_000, ...(opts.delivery && { delivery: opts.delivery }) });
  const known = opts.knownDevices;
  await app.register(deviceRoutes, { db: opts.db, ...(known && { onCreated: (id: string) => known.add(id) }), ...(opts.lake && { lake: opts.lake }), ...(opts.rollupRetentionDays !== undefined && { rollupRetentionDays: opts.rollupRetentionDays }) });
  await app.register(predictionRoutes, { db: opts.db, ...(opts.lake && { lake: opts.lake }) });
  await app.register(auditRoutes, { db: opts.db });
  await app.register(overviewRoutes, { db: opts.db, stream: opts.stream, store: opts.store, topic: 'telemetry', lagTopics: ['telemetry', 'alerts', 'findings', 'inventory'] });
  await app.register(patientRoutes, { db: opts.db });
  await app.register(scanRoutes, { db: opts.db, stream: opts.stream });
  if (opts.records) await app.register(recordRoutes, { db: opts.db, ...opts.records, afterErase: () => opts.auth.directory.reload() });
  if (opts.ml) await app.register(mlRoutes, { db: opts.db, ...opts.ml });
  if (opts.live) await app.register(liveRoutes, { hub: opts.live, db: opts.db, directory: opts.auth.directory });
  if (opts.lake) await app.register(queryRoutes, { lake: opts.lake, db: opts.db });
  if (opts.rules) {
    await app.register(ruleRoutes, { registry: opts.rules.registry, db: opts.db });
    await app.register(alertRoutes, { db: opts.db, feed: opts.rules.feed, directory: opts.auth.directory, ...(opts.rules.onChange && { onChange: opts.rules.onChange }) });
  }
}
