import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { KeyStore } from '@strata/auth';
import type { Delivery } from '@strata/lake';
import { httpErrors } from '../errors.js';

const CreateKeyBody = Type.Object(
  {
    scopes: Type.Array(Type.String(), { minItems: 1, maxItems: 16 }),
    device: Type.Optional(Type.String()),
    name: Type.Optional(Type.String()),
    expires: Type.Optional(Type.String({ description: 'RFC 3339 time after which the key stops working.' })),
  },
  { additionalProperties: false },
);

/** Admin-only operations: API keys and forced delivery flush. */
export async function adminRoutes(app: FastifyInstance, opts: { keys: KeyStore; delivery?: Delivery; flushTimeoutMs: number }): Promise<void> {
  app.post<{ Body: Static<typeof CreateKeyBody> }>('/v1/keys', { schema: { body: CreateKeyBody } }, async (req, reply) => {
    const { key, info } = opts.keys.create(req.body);
    req.log.info({ keyId: info.id, scopes: info.scopes, by: req.principal?.keyId }, 'api key created');
    return reply.code(201).send({ key, ...info });
  });

  app.get('/v1/keys', async () => ({ keys: opts.keys.list() }));

  app.delete<{ Params: { id: string } }>('/v1/keys/:id', async (req) => {
    const info = opts.keys.revoke(req.params.id);
    req.log.info({ keyId: info.id, by: req.principal?.keyId }, 'api key revoked');
    return info;
  });

  const delivery = opts.delivery;
  if (delivery) {
    // Bounded: a flush retries while the object store fails, and an open request would hold up
    // shutdown (which waits for in-flight requests before it stops delivery).
    app.post('/v1/admin/flush', async () => {
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
}
