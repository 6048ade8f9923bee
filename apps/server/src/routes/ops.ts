import type { FastifyInstance } from 'fastify';
import type { Stream } from '@strata/stream';
import type { ObjectStore } from '@strata/storage';
import type { Metrics } from '../metrics.js';
import { httpErrors } from '../errors.js';

/** Liveness, readiness and metrics. Only /health and /ready are public. */
export async function opsRoutes(app: FastifyInstance, opts: { stream: Stream; store: ObjectStore; metrics: Metrics }): Promise<void> {
  app.get('/health', { config: { public: true } }, async () => ({ status: 'ok' }));

  app.get('/ready', { config: { public: true } }, async () => {
    const reasons: string[] = [];
    const health = opts.stream.health();
    if (!health.writable) reasons.push(`stream: ${health.reason ?? 'not writable'}`);
    try {
      await opts.store.probe();
    } catch (err) {
      reasons.push(`storage: ${(err as Error).message}`);
    }
    if (reasons.length > 0) throw httpErrors.STRATA_ERR_HTTP_NOT_READY({ reasons: reasons.join('; '), checks: reasons });
    return { status: 'ready' };
  });

  app.get('/metrics', { config: { scope: 'admin' } }, async (_req, reply) => {
    reply.header('content-type', opts.metrics.registry.contentType);
    return opts.metrics.registry.metrics();
  });
}
