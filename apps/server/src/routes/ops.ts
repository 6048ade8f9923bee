import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Stream } from '@strata/stream';
import type { ObjectStore } from '@strata/storage';
import { sql } from 'kysely';
import type { Db } from '@strata/db';
import type { Metrics } from '../metrics.js';
import { httpErrors } from '../errors.js';

/** Liveness, readiness and metrics. Only /health and /ready are public. */
export async function opsRoutes(app: FastifyInstance, opts: { stream: Stream; store: ObjectStore; db: Db; metrics: Metrics; readiness: Readiness }): Promise<void> {
  app.get('/health', { config: { public: true } }, async () => ({ status: 'ok' }));

  // Public, so it names the failing components only; the details (paths, OS errors) go to the log.
  // Probes run together, each within READY_TIMEOUT_MS (an unreachable server must not hang the
  // check), and only for what this process's roles need; one answer serves every check for
  // READY_CACHE_MS, so polling /ready costs the servers behind it nothing more.
  const probes: ReadonlyArray<readonly [failure: string, probe: () => Promise<unknown>]> = [
    ['stream not writable', async () => {
      const health = opts.stream.health();
      if (!health.writable) throw new Error(health.reason ?? 'not writable');
    }],
    ...(opts.readiness.store ? [['storage not writable', () => opts.store.probe()] as const] : []),
    ...(opts.readiness.db ? [['database unreachable', () => sql`SELECT 1`.execute(opts.db.kysely)] as const] : []),
  ];
  let last: { at: number; failing: Promise<string[]> } | undefined;
  const check = async (log: FastifyBaseLogger): Promise<string[]> => {
    const results = await Promise.allSettled(probes.map(([, probe]) => withTimeout(probe(), READY_TIMEOUT_MS)));
    return probes.flatMap(([failure], i) => {
      const result = results[i]!;
      if (result.status === 'fulfilled') return [];
      log.warn({ err: result.reason }, `not ready: ${failure}`);
      return [failure];
    });
  };
  app.get('/ready', { config: { public: true } }, async (req) => {
    if (!last || Date.now() - last.at > READY_CACHE_MS) last = { at: Date.now(), failing: check(req.log) };
    const failing = await last.failing;
    if (failing.length > 0) throw httpErrors.STRATA_ERR_HTTP_NOT_READY({ reasons: failing.join(', ') });
    return { status: 'ready' };
  });

  app.get('/metrics', { config: { permission: 'metrics:read' } }, async (_req, reply) => {
    reply.header('content-type', opts.metrics.registry.contentType);
    return opts.metrics.registry.metrics();
  });
}

const READY_TIMEOUT_MS = 3000;
const READY_CACHE_MS = 1000;

/** What `/ready` checks besides the stream: the object store and the database, when the roles use them. */
export interface Readiness {
  store: boolean;
  db: boolean;
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
