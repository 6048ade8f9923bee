import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { ROLES, type AuthDirectory } from '@strata/auth';
import type { Db } from '@strata/db';
import { DEVICE_ID_PATTERN } from '@strata/core';
import { lakeErrors, replayRaw, replayWindow, type Delivery } from '@strata/lake';
import type { Stream } from '@strata/stream';
import type { ObjectStore } from '@strata/storage';
import { httpErrors } from '../errors.js';
import { actorOf, audit } from '../audit.js';

const CreateKeyBody = Type.Object(
  {
    scopes: Type.Array(Type.String({ maxLength: 32 }), { minItems: 1, maxItems: 16, description: 'admin, ingest, read, predict, metrics' }),
    device: Type.Optional(Type.String({ maxLength: 128, description: 'Bind the key to one device (ingest: may only write it; read: may only read it).' })),
    name: Type.Optional(Type.String({ maxLength: 128 })),
    expires: Type.Optional(Type.String({ maxLength: 64, description: 'RFC 3339 time after which the key stops working.' })),
  },
  { additionalProperties: false },
);
const IdParams = Type.Object({ id: Type.String({ pattern: '^[A-Za-z0-9-]{1,64}$' }) });
const RoleSchema = Type.Union(ROLES.map((r) => Type.Literal(r)));
const CreateUserBody = Type.Object(
  { username: Type.String({ minLength: 1, maxLength: 64 }), password: Type.String({ minLength: 1, maxLength: 1024 }), role: RoleSchema },
  { additionalProperties: false },
);
const UpdateUserBody = Type.Object(
  { role: Type.Optional(RoleSchema), disabled: Type.Optional(Type.Boolean()), password: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })) },
  { additionalProperties: false, minProperties: 1 },
);

const ReplayBody = Type.Object(
  {
    since: Type.String({ maxLength: 64, description: 'First event time replayed: RFC 3339, or a date (UTC midnight).' }),
    until: Type.Optional(Type.String({ maxLength: 64, description: 'Event times before this one are replayed. Default: no end.' })),
    devices: Type.Optional(Type.Array(Type.String({ pattern: DEVICE_ID_PATTERN.source }), { minItems: 1, maxItems: 10_000, description: 'Only these devices.' })),
  },
  { additionalProperties: false },
);

/**
 * Admin-only: API keys, users, forced delivery flush, replay of the raw zone (when given the
 * stream and the lake store). Every change is audited.
 */
export async function adminRoutes(
  app: FastifyInstance,
  opts: { directory: AuthDirectory; db: Db; delivery?: Delivery; flushTimeoutMs: number; stream?: Stream; store?: ObjectStore },
): Promise<void> {
  const { directory } = opts;
  const keys = { tags: ['keys'] };
  const users = { tags: ['users'] };

  app.post<{ Body: Static<typeof CreateKeyBody> }>('/v1/keys', { config: { permission: 'keys:manage' }, schema: { ...keys, summary: 'Create an API key (shown once)', body: CreateKeyBody } }, async (req, reply) => {
    const { key, info } = await directory.createKey(req.body, actorOf(req));
    req.log.info({ keyId: info.id, scopes: info.scopes }, 'api key created');
    return reply.code(201).send({ key, ...info });
  });

  app.get('/v1/keys', { config: { permission: 'keys:manage' }, schema: { ...keys, summary: 'List API keys (never the keys themselves)' } }, async (req) => {
    await audit(opts.db.kysely, req, { action: 'key.list', resource: 'keys' });
    return { keys: directory.listKeys() };
  });

  app.delete<{ Params: Static<typeof IdParams> }>('/v1/keys/:id', { config: { permission: 'keys:manage' }, schema: { ...keys, summary: 'Revoke an API key', params: IdParams } }, async (req) => {
    const info = await directory.revokeKey(req.params.id, actorOf(req));
    req.log.info({ keyId: info.id }, 'api key revoked');
    return info;
  });

  app.post<{ Body: Static<typeof CreateUserBody> }>('/v1/users', { config: { permission: 'users:manage' }, schema: { ...users, summary: 'Create a user', body: CreateUserBody } }, async (req, reply) =>
    reply.code(201).send(await directory.createUser(req.body, actorOf(req))),
  );

  app.get('/v1/users', { config: { permission: 'users:manage' }, schema: { ...users, summary: 'List users' } }, async (req) => {
    await audit(opts.db.kysely, req, { action: 'user.list', resource: 'users' });
    return { users: directory.listUsers() };
  });

  app.patch<{ Params: Static<typeof IdParams>; Body: Static<typeof UpdateUserBody> }>(
    '/v1/users/:id',
    { config: { permission: 'users:manage' }, schema: { ...users, summary: 'Change a role, disable or enable, set a password', params: IdParams, body: UpdateUserBody } },
    async (req) => directory.updateUser(req.params.id, req.body, actorOf(req)),
  );

  const delivery = opts.delivery;
  if (delivery) {
    // Bounded: a flush retries while the object store fails, and an open request would hold up
    // shutdown (which waits for in-flight requests before it stops delivery).
    app.post('/v1/admin/flush', { config: { permission: 'admin:ops' }, schema: { tags: ['admin'], summary: 'Deliver buffered telemetry to the lake now' } }, async (req) => {
      await audit(opts.db.kysely, req, { action: 'admin.flush', resource: 'delivery' });
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(httpErrors.STRATA_ERR_HTTP_TIMEOUT({ what: 'the flush', seconds: opts.flushTimeoutMs / 1000 })), opts.flushTimeoutMs);
      });
      const flush = delivery.flush();
      flush.catch(() => undefined); // if the deadline wins, a later failure is delivery's to log
      try {
        return { flushed: await Promise.race([flush, deadline]) };
      } finally {
        clearTimeout(timer);
      }
    });
  }

  const { stream, store } = opts;
  if (stream && store) {
    // A replay runs as long as it takes (the answer carries its counts); shutdown stops it
    // between batches and it answers 503 with where to resume.
    const running = new Set<AbortController>();
    app.addHook('preClose', (done) => {
      for (const c of running) c.abort('the server is shutting down');
      done();
    });
    app.post<{ Body: Static<typeof ReplayBody> }>(
      '/v1/admin/replay',
      {
        config: { permission: 'admin:ops' },
        schema: { tags: ['admin'], summary: 'Re-publish raw-zone telemetry of a time window to the stream (event ids kept, flagged "replay")', body: ReplayBody },
      },
      async (req, reply) => {
        let window: { since: number; until?: number };
        try {
          window = replayWindow(req.body);
        } catch (err) {
          if (!lakeErrors.STRATA_ERR_LAKE_BAD_OPTION.is(err)) throw err;
          throw httpErrors.STRATA_ERR_HTTP_BAD_REQUEST({ reason: `${String(err.details.option)}: ${String(err.details.reason)}` }, err);
        }
        const { since, until, devices } = req.body;
        await audit(opts.db.kysely, req, { action: 'admin.replay', resource: 'stream:telemetry', details: { since, until: until ?? null, devices: devices?.length ?? 'all' } });
        const abort = new AbortController();
        running.add(abort);
        try {
          const report = await replayRaw({ store, stream, ...window, ...(devices && { devices }), signal: abort.signal, logger: req.log.child({ component: 'replay' }) });
          if (!report.error) return report;
          // Stopped by shutdown: a kept-alive connection would hold the server's close until it times out.
          if (abort.signal.aborted) reply.header('connection', 'close');
          return reply.code(503).send({ error: { code: report.error.code, message: `${report.error.message}; replay again from ${report.error.resumeSince}` }, report });
        } finally {
          running.delete(abort);
        }
      },
    );
  }
}
