import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { StrataError } from '@strata/core';
import { authErrors, type Caller } from '@strata/auth';
import type { Db } from '@strata/db';
import { LakeQuery, QUERY_DEFAULTS, type Lakehouse, type QueryRole } from '@strata/lake';
import { audit } from '../audit.js';
import { callerOf } from './devices.js';
import { ErrorReply } from './schemas.js';

/** The longest SQL text taken (characters). */
export const MAX_SQL_CHARS = 100 * 1024;

const QueryBody = Type.Object(
  {
    sql: Type.String({
      minLength: 1,
      maxLength: MAX_SQL_CHARS,
      description:
        'One SELECT over the lake views: `silver`, `gold_hourly`, `gold_daily`, `gold_fleet_daily`, `gold_predictions_daily` (every caller) and `bronze`, `quarantine`, `predictions`, `predictions_quarantine` (admins). Each has a `dt DATE` column, the day partition. Timestamps are UTC.',
    }),
    format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('csv')], { description: '`json` (default) or `csv` (RFC 4180, `text/csv`, with a header row).' })),
    maxRows: Type.Optional(Type.Integer({ minimum: 1, maximum: QUERY_DEFAULTS.maxRowsLimit, description: `Rows to return at most. Default ${QUERY_DEFAULTS.maxRows}.` })),
  },
  { additionalProperties: false },
);
type QueryBody = Static<typeof QueryBody>;

const JsonAnswer = Type.Object({
  columns: Type.Array(Type.Object({ name: Type.String(), type: Type.String({ description: "DuckDB's type, e.g. `VARCHAR`, `TIMESTAMP WITH TIME ZONE`." }) })),
  rows: Type.Array(Type.Record(Type.String(), Type.Unknown()), {
    description: 'One object per row by column name. BIGINTs beyond ±2^53 and wide DECIMALs are strings, timestamps ISO 8601 (UTC, `Z`), dates `YYYY-MM-DD`.',
  }),
  rowCount: Type.Integer(),
  truncated: Type.Boolean({ description: 'True when the query had more rows than returned (`maxRows` or the size bound).' }),
  elapsedMs: Type.Integer(),
});

/** Admins (the role or an admin-scoped key) query every table; everyone else as an analyst: silver and gold. */
function roleOf(caller: Caller): QueryRole {
  if (caller.kind === 'user') return caller.role === 'admin' ? 'admin' : 'analyst';
  return caller.scopes.includes('admin') ? 'admin' : 'analyst';
}

/**
 * `POST /v1/query`: read-only SQL over the lake (see the lake README, "Query"). Every query is
 * audited (`lake.query`, with its SQL) before its answer goes out, refused and failed ones too.
 * A device-bound key is refused: the lake's tables cannot be narrowed to its one device.
 */
export async function queryRoutes(app: FastifyInstance, opts: { lake: Lakehouse; db: Db }): Promise<void> {
  // Query spills go next to the jobs' (the data directory's disk), not to the OS temp dir.
  const query = new LakeQuery(opts.lake, { stagingDir: opts.lake.stagingDir });
  app.addHook('onClose', () => query.close());

  app.post<{ Body: QueryBody }>(
    '/v1/query',
    {
      config: { permission: 'lake:query' },
      schema: {
        tags: ['lake'],
        summary: 'Run one read-only SQL SELECT over the lake tables',
        description: `Answers JSON, or CSV with \`format: csv\`; \`X-Strata-Truncated\` says whether rows were left out. Queries stop after ${QUERY_DEFAULTS.timeoutMs / 1000} s (408).`,
        body: QueryBody,
        response: {
          200: { description: 'The rows.', content: { 'application/json': { schema: JsonAnswer }, 'text/csv': { schema: Type.String() } } },
          400: ErrorReply,
          408: ErrorReply,
        },
      },
    },
    async (req, reply) => {
      const caller = callerOf(req);
      const role = roleOf(caller);
      const { sql, format = 'json', maxRows } = req.body;
      const details = { sql, role, format, ...(maxRows !== undefined && { maxRows }) };
      const entry = { action: 'lake.query', resource: 'lake' };
      if (caller.kind === 'key' && caller.device !== undefined) {
        await audit(opts.db.kysely, req, { ...entry, outcome: 'denied', details });
        throw authErrors.STRATA_ERR_AUTH_FORBIDDEN({ reason: 'a device-bound key may not query the lake' });
      }
      let result;
      try {
        result = await query.run(sql, { role, format, ...(maxRows !== undefined && { maxRows }) });
      } catch (err) {
        const code = err instanceof StrataError ? err.code : 'internal';
        await audit(opts.db.kysely, req, { ...entry, outcome: code === 'STRATA_ERR_LAKE_QUERY_REJECTED' ? 'denied' : 'failure', details: { ...details, error: code } });
        throw err;
      }
      await audit(opts.db.kysely, req, { ...entry, details: { ...details, rowCount: result.rowCount, truncated: result.truncated } });
      reply.header('x-strata-truncated', String(result.truncated));
      if (result.format === 'csv') return reply.type('text/csv; charset=utf-8').send(result.csv);
      const { columns, rows, rowCount, truncated, elapsedMs } = result;
      return reply.type('application/json; charset=utf-8').send({ columns, rows, rowCount, truncated, elapsedMs });
    },
  );
}
