import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { callerName } from '@strata/auth';
import type { Db } from '@strata/db';
import { RULE_ID_PATTERN, RuleSchema, type RuleRegistry } from '@strata/rules';
import { audit } from '../audit.js';
import { ErrorReply } from './schemas.js';
import { httpErrors } from '../errors.js';

const RuleReply = Type.Object({
  id: Type.String(),
  version: Type.Integer({ description: 'Every change makes a new version; alerts record the one that fired.' }),
  origin: Type.Union([Type.Literal('api'), Type.Literal('file'), Type.Literal('preset')], { description: 'Rules from files and presets are changed there, not here.' }),
  rule: RuleSchema,
  updated: Type.String({ format: 'date-time' }),
  updatedBy: Type.String(),
});
const IdParams = Type.Object({ id: Type.String({ pattern: RULE_ID_PATTERN }) }, { additionalProperties: false });
const ReplaceQuery = Type.Object({ version: Type.Optional(Type.Integer({ minimum: 1, description: 'Only replace if this is the current version (else 409).' })) }, { additionalProperties: false });

/**
 * The body is checked by the rules package, which names every problem with its JSON pointer
 * (`issues`); the schema is attached for the OpenAPI document only.
 */
function ruleBody(req: FastifyRequest): unknown {
  // Fastify puts where validation failed on the error (`validationContext`): a body it refused
  // goes on to validateRule, which lists every problem; anything else is a plain 400.
  const failed = (req as FastifyRequest & { validationError?: Error & { validationContext?: string } }).validationError;
  if (failed && failed.validationContext !== 'body') throw httpErrors.STRATA_ERR_HTTP_BAD_REQUEST({ reason: failed.message });
  return req.body;
}

/** `/v1/rules`: list and read (rules:read), create, replace and delete API rules (rules:write, audited). */
export async function ruleRoutes(app: FastifyInstance, opts: { registry: RuleRegistry; db: Db }): Promise<void> {
  const { registry, db } = opts;
  const by = (req: FastifyRequest) => (req.caller ? callerName(req.caller) : 'anonymous');

  app.get('/v1/rules', {
    config: { permission: 'rules:read' },
    schema: { tags: ['rules'], summary: 'Every rule in force (presets, files, API)', response: { 200: Type.Object({ rules: Type.Array(RuleReply) }) } },
  }, async () => {
    await registry.refresh();
    return { rules: registry.list() };
  });

  app.get<{ Params: Static<typeof IdParams> }>('/v1/rules/:id', {
    config: { permission: 'rules:read' },
    schema: { tags: ['rules'], summary: 'One rule', params: IdParams, response: { 200: RuleReply, 404: ErrorReply } },
  }, async (req) => {
    await registry.refresh();
    return registry.get(req.params.id);
  });

  app.get<{ Params: Static<typeof IdParams> }>('/v1/rules/:id/versions', {
    config: { permission: 'rules:read' },
    schema: {
      tags: ['rules'],
      summary: 'Every version a rule has had, newest first',
      params: IdParams,
      response: { 200: Type.Object({ versions: Type.Array(Type.Object({ version: Type.Integer(), origin: Type.String(), rule: Type.Unknown(), created: Type.String(), createdBy: Type.String() })) }), 404: ErrorReply },
    },
  }, async (req) => {
    const rows = await db.kysely.selectFrom('rule_versions').selectAll().where('rule_id', '=', req.params.id).orderBy('version', 'desc').execute();
    if (rows.length === 0) throw httpErrors.STRATA_ERR_HTTP_NOT_FOUND({ method: 'GET', url: `/v1/rules/${req.params.id}/versions` });
    return { versions: rows.map((r) => ({ version: r.version, origin: r.origin, rule: r.definition, created: r.created.toISOString(), createdBy: r.created_by })) };
  });

  app.post('/v1/rules', {
    config: { permission: 'rules:write' },
    attachValidation: true,
    schema: { tags: ['rules'], summary: 'Create a rule', body: RuleSchema, response: { 201: RuleReply, 400: ErrorReply, 409: ErrorReply } },
  }, async (req, res) => {
    const view = await registry.create(ruleBody(req), by(req));
    await audit(db.kysely, req, { action: 'rule.create', resource: `rule:${view.id}`, details: { version: view.version } });
    return res.code(201).send(view);
  });

  app.put<{ Params: Static<typeof IdParams>; Querystring: Static<typeof ReplaceQuery> }>('/v1/rules/:id', {
    config: { permission: 'rules:write' },
    attachValidation: true,
    schema: { tags: ['rules'], summary: 'Replace a rule made through the API (a new version)', params: IdParams, querystring: ReplaceQuery, body: RuleSchema, response: { 200: RuleReply, 400: ErrorReply, 404: ErrorReply, 409: ErrorReply } },
  }, async (req) => {
    const view = await registry.replace(req.params.id, ruleBody(req), by(req), req.query.version);
    await audit(db.kysely, req, { action: 'rule.replace', resource: `rule:${view.id}`, details: { version: view.version } });
    return view;
  });

  app.delete<{ Params: Static<typeof IdParams> }>('/v1/rules/:id', {
    config: { permission: 'rules:write' },
    schema: { tags: ['rules'], summary: 'Delete a rule made through the API (its alerts stay)', params: IdParams, response: { 204: Type.Null(), 404: ErrorReply, 409: ErrorReply } },
  }, async (req, res) => {
    await registry.remove(req.params.id, by(req));
    await audit(db.kysely, req, { action: 'rule.delete', resource: `rule:${req.params.id}` });
    return res.code(204).send();
  });
}
