import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { queryAudit, type Db } from '@strata/db';
import { audit } from '../audit.js';
import { CURSOR, decodeCursor, encodeCursor, ErrorReply, parseTime, Rfc3339 } from './schemas.js';

const Outcome = Type.Union([Type.Literal('success'), Type.Literal('denied'), Type.Literal('failure')]);

const AuditQuery = Type.Object(
  {
    actor: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: '`user:<username>`, `key:<id>` or `system`.' })),
    action: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'e.g. `device.read`, `key.create`.' })),
    resource: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'e.g. `device:p-001`, `user:alice`.' })),
    outcome: Type.Optional(Outcome),
    from: Type.Optional(Rfc3339('Records at or after this time.')),
    to: Type.Optional(Rfc3339('Records before this time.')),
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
    cursor: Type.Optional(CURSOR),
  },
  { additionalProperties: false },
);
type AuditQuery = Static<typeof AuditQuery>;

const AuditRecordReply = Type.Object({
  id: Type.Integer(),
  at: Type.String({ format: 'date-time' }),
  actor: Type.String(),
  action: Type.String(),
  resource: Type.String(),
  outcome: Outcome,
  ip: Type.Union([Type.String(), Type.Null()]),
  details: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
});

const isRecordId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;

/**
 * `GET /v1/audit`: the audit log, newest first, for admins. Reading it is itself recorded
 * (`audit.read`, with the filters), before the records go out.
 */
export async function auditRoutes(app: FastifyInstance, opts: { db: Db }): Promise<void> {
  app.get<{ Querystring: AuditQuery }>(
    '/v1/audit',
    {
      config: { permission: 'audit:read' },
      schema: {
        tags: ['audit'],
        summary: 'The audit log, newest first, a page at a time',
        querystring: AuditQuery,
        response: { 200: Type.Object({ records: Type.Array(AuditRecordReply), nextCursor: Type.Optional(Type.String()) }), 400: ErrorReply },
      },
    },
    async (req) => {
      const { limit, cursor, ...filters } = req.query;
      const before = cursor === undefined ? undefined : decodeCursor('audit', cursor, isRecordId);
      const from = filters.from === undefined ? undefined : parseTime(filters.from, 'from');
      const to = filters.to === undefined ? undefined : parseTime(filters.to, 'to');
      await audit(opts.db.kysely, req, { action: 'audit.read', resource: 'audit', details: filters });
      const page = await queryAudit(opts.db.kysely, { ...filters, limit, from, to, before });
      return {
        records: page.records.map((r) => ({ ...r, at: r.at.toISOString() })),
        ...(page.nextCursor !== undefined && { nextCursor: encodeCursor('audit', page.nextCursor) }),
      };
    },
  );
}
