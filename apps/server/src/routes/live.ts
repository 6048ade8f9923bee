import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { getDevice, type Db, type Device } from '@strata/db';
import { allows, canSeeDevice, type AuthDirectory } from '@strata/auth';
import type { LiveHub } from '../live-hub.js';
import { audit } from '../audit.js';
import { eventStreams, stillAllowed } from './sse.js';
import { DEVICE_ID, ErrorReply } from './schemas.js';
import { callerOf, visibleDevice } from './devices.js';

export interface LiveRoutesOptions {
  hub: LiveHub;
  db: Db;
  /** Asked again during a stream: a revoked key, a disabled user or a changed role ends it. */
  directory: AuthDirectory;
  /** Comment lines sent when no event came for this long, so proxies keep the connection. Default 15 s. */
  heartbeatMs?: number;
}

const ID = DEVICE_ID.slice(1, -1);
const LiveQuery = Type.Object(
  {
    devices: Type.String({
      pattern: `^${ID}(,${ID}){0,99}$`,
      maxLength: 100 * 129,
      description: 'Comma-separated device ids, 1 to 100, each one you may see.',
    }),
  },
  { additionalProperties: false },
);

/**
 * `GET /v1/live?devices=a,b`: Server-Sent Events of the readings of those devices as they are
 * ingested (`event: reading`, the TelemetryEvent as JSON data), with a comment heartbeat when
 * nothing else was sent for `heartbeatMs`. A client that reads too slowly for the hub's bounded
 * queue is disconnected (reconnect and catch up through the series API). Streams end on client
 * disconnect, when the caller's access ends (token expired, key revoked, user disabled or role
 * changed: checked at every batch and heartbeat) and on shutdown (./sse.ts).
 */
export async function liveRoutes(app: FastifyInstance, opts: LiveRoutesOptions): Promise<void> {
  const heartbeatMs = opts.heartbeatMs ?? 15_000;
  const send = eventStreams(app);

  app.get<{ Querystring: Static<typeof LiveQuery> }>(
    '/v1/live',
    {
      config: { permission: 'telemetry:live' },
      schema: {
        tags: ['telemetry'],
        summary: 'Live readings of devices, as Server-Sent Events',
        querystring: LiveQuery,
        response: {
          200: {
            description: '`event: reading` per event, `data:` the TelemetryEvent JSON; `:` comment lines as heartbeats.',
            content: { 'text/event-stream': { schema: Type.String() } },
          },
          400: ErrorReply,
          404: ErrorReply,
        },
      },
    },
    async (req, reply) => {
      const caller = callerOf(req);
      const ids = [...new Set(req.query.devices.split(','))];
      const devices: Device[] = [];
      for (const id of ids) devices.push(visibleDevice(caller, id, await getDevice(opts.db.kysely, id)));
      // One record per patient device, so each patient's audit trail (resource device:<id>) shows it.
      for (const d of devices) if (d.kind === 'patient') await audit(opts.db.kysely, req, { action: 'device.live.subscribe', resource: `device:${d.id}` });

      const sub = await opts.hub.subscribe(ids);
      const allowed = stillAllowed(req, caller, opts.directory, (now) => allows(now, 'telemetry:live') && devices.every((d) => canSeeDevice(now, d)));
      return send(reply, sub, { heartbeatMs, stillAllowed: allowed, format: (e) => `event: reading\ndata: ${JSON.stringify(e)}\n\n` });
    },
  );
}
