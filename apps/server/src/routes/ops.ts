import type { FastifyInstance } from 'fastify';
import type { Stream } from '@strata/stream';
import type { ObjectStore } from '@strata/storage';
import type { Metrics } from '../metrics.js';
import { httpErrors } from '../errors.js';

/** Liveness, readiness and metrics. Only /health and /ready are public. */
export async function opsRoutes(app: FastifyInstance, opts: { stream: Stream; store: ObjectStore; metrics: Metrics }): Promise<void> {
  app.get('/health', { config: { public: true } }, async () => ({ status: 'ok' }));

  // Public, so it names the failing components only; the details (paths, OS errors) go to the log.
  app.get('/ready', { config: { public: true } }, async (req) => {
    const failing: string[] = [];
    const health = opts.stream.health();
    if (!health.writable) {
      failing.push('stream not writable');
      req.log.warn({ reason: health.reason }, 'not ready: stream');
    }
    try {
      await opts.store.probe();
    } catch (err) {
      failing.push('storage not writable');
      req.log.warn({ err }, 'not ready: storage');
    }
    if (failing.length > 0) throw httpErrors.STRATA_ERR_HTTP_NOT_READY({ reasons: failing.join(', ') });
    return { status: 'ready' };
  });

  app.get('/metrics', { config: { permission: 'metrics:read' } }, async (_req, reply) => {
    reply.header('content-type', opts.metrics.registry.contentType);
    return opts.metrics.registry.metrics();
  });
}
