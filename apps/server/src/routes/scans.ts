import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { callerName } from '@strata/auth';
import type { Db } from '@strata/db';
import type { Stream } from '@strata/stream';
import { DIMENSIONS, listFindings, renderFindingsMarkdown, ScanService, scannerErrors, SERVICES, SEVERITIES, type ScanDb } from '@strata/scanner';
import { audit } from '../audit.js';
import { ErrorReply } from './schemas.js';

const REGION = '^[a-z]{2}(-[a-z]+)+-[0-9]$';
const list = (values: readonly string[]) => `^(${values.join('|')})(,(${values.join('|')}))*$`;
const CHECK_STATUSES = ['PASS', 'WARNING', 'FAIL'] as const;

const ScanBody = Type.Object(
  {
    provider: Type.Literal('aws'),
    regions: Type.Union([Type.Literal('all'), Type.Array(Type.String({ pattern: REGION }), { minItems: 1, maxItems: 40, uniqueItems: true })], { description: 'Region names, or "all" (the regions enabled for the account).' }),
    services: Type.Optional(Type.Array(Type.Union(SERVICES.map((s) => Type.Literal(s))), { minItems: 1, uniqueItems: true, description: 'Default: all.' })),
    concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 32, default: 4, description: '(service, region) tasks in flight at once.' })),
    credentials: Type.Optional(
      Type.Object(
        { accessKeyId: Type.String({ minLength: 16, maxLength: 128, pattern: '^[A-Z0-9]+$' }), secretAccessKey: Type.String({ minLength: 1, maxLength: 256 }), sessionToken: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })) },
        { additionalProperties: false, description: 'Keys for this scan only: used in memory, never stored or logged. Without them, the server’s default credential chain.' },
      ),
    ),
    assumeRole: Type.Optional(
      Type.Object(
        { roleArn: Type.String({ pattern: '^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$' }), externalId: Type.Optional(Type.String({ minLength: 2, maxLength: 1224, description: 'Never stored or logged.' })) },
        { additionalProperties: false, description: 'STS AssumeRole with the credentials above (or the default chain).' },
      ),
    ),
    homeRegion: Type.Optional(Type.String({ pattern: REGION, description: 'Region for global calls (STS, IAM, S3 listing, CloudTrail). Default us-east-1.' })),
    endpoint: Type.Optional(Type.String({ format: 'uri', pattern: '^https?://', maxLength: 256, description: 'An AWS API emulator (moto, LocalStack); only with `credentials`.' })),
  },
  { additionalProperties: false },
);
const ScanIdParams = Type.Object({ id: Type.String({ format: 'uuid' }) }, { additionalProperties: false });
const FindingsQuery = Type.Object(
  {
    severity: Type.Optional(Type.String({ pattern: list(SEVERITIES), description: 'Comma-separated: informational, low, medium, high, critical.' })),
    status: Type.Optional(Type.String({ pattern: list(CHECK_STATUSES), description: 'Comma-separated: PASS, WARNING, FAIL.' })),
    dimension: Type.Optional(Type.String({ pattern: list(DIMENSIONS), description: 'Comma-separated: security, cost, architecture, performance.' })),
    check: Type.Optional(Type.String({ pattern: '^[a-z0-9]+\\.[a-z0-9_]+$', description: 'A check id, e.g. s3.bucket_encryption.' })),
    resource: Type.Optional(Type.String({ minLength: 1, maxLength: 2048, description: 'A resource ARN or name.' })),
    account: Type.Optional(Type.String({ pattern: '^[0-9]{12}$' })),
    state: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('closed'), Type.Literal('all')], { default: 'active', description: 'closed: the resource is gone.' })),
    after: Type.Optional(Type.String({ pattern: '^[0-9a-f]{32}$', description: 'From `nextAfter` of the previous page.' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('ocsf'), Type.Literal('markdown')], { default: 'json', description: 'json; ocsf: OCSF Compliance Finding events as JSON lines; markdown: a summary to read.' })),
  },
  { additionalProperties: false },
);

/**
 * Cloud posture scans (seed 003): `POST /v1/scans` queues a scan and answers 202 at once,
 * `GET /v1/scans/:id` follows it, `GET /v1/findings` reads the current findings (JSON, OCSF JSON
 * lines, Markdown). Admin only: findings map an account's weak points. Finding events also go
 * to the `findings` topic, each scan's resource inventory to the `inventory` topic (the scanner's
 * defaults), and from there to the lake.
 */
export async function scanRoutes(app: FastifyInstance, opts: { db: Db; stream?: Stream; topic?: string }): Promise<void> {
  const db = opts.db.kysely as unknown as ScanDb;
  const service = await ScanService.open({ db, ...(opts.stream && { stream: opts.stream }), ...(opts.topic !== undefined && { topic: opts.topic }), logger: app.log.child({ component: 'scanner' }) });
  app.addHook('onClose', async () => service.close());
  const tags = ['scans'];

  app.post<{ Body: Static<typeof ScanBody> }>('/v1/scans', {
    config: { permission: 'admin:ops' },
    schema: { tags, summary: 'Queue a cloud posture scan (answers at once; follow it with GET /v1/scans/{id})', body: ScanBody, response: { 202: Type.Object({ scan_id: Type.String(), status: Type.Literal('QUEUED') }), 400: ErrorReply, 429: ErrorReply } },
  }, async (req, reply) => {
    const { provider, ...submission } = req.body;
    const queued = await service.submit(submission, req.caller ? callerName(req.caller) : 'anonymous');
    await audit(opts.db.kysely, req, {
      action: 'scan.create',
      resource: `scan:${queued.scan_id}`,
      details: { provider, regions: submission.regions, services: submission.services ?? 'all', auth: submission.assumeRole ? 'assume-role' : submission.credentials ? 'static' : 'default' },
    });
    return reply.code(202).send(queued);
  });

  app.get<{ Params: Static<typeof ScanIdParams> }>('/v1/scans/:id', {
    config: { permission: 'admin:ops' },
    schema: { tags, summary: 'A scan: status, progress, counts per severity, errors', params: ScanIdParams, response: { 400: ErrorReply, 404: ErrorReply } },
  }, async (req) => {
    const scan = await service.get(req.params.id);
    if (!scan) throw scannerErrors.STRATA_ERR_SCAN_NOT_FOUND({ id: req.params.id });
    return scan;
  });

  app.get<{ Querystring: Static<typeof FindingsQuery> }>('/v1/findings', {
    config: { permission: 'admin:ops' },
    schema: { tags, summary: 'Current findings, filtered (by uid order; page with `after`)', querystring: FindingsQuery, response: { 400: ErrorReply } },
  }, async (req, reply) => {
    const q = req.query;
    const limit = q.limit ?? 100;
    const split = <T extends string>(v: string | undefined) => (v ? (v.split(',') as T[]) : undefined);
    const findings = await listFindings(db, {
      ...(q.severity && { severity: split(q.severity) }),
      ...(q.status && { status: split(q.status) }),
      ...(q.dimension && { dimension: split(q.dimension) }),
      ...(q.check && { check: q.check }),
      ...(q.resource && { resource: q.resource }),
      ...(q.account && { account: q.account }),
      ...(q.after && { after: q.after }),
      state: q.state ?? 'active',
      limit,
    });
    await audit(opts.db.kysely, req, { action: 'finding.list', resource: 'findings', details: { count: findings.length } });
    const format = q.format ?? 'json';
    if (format === 'ocsf') {
      const events = findings.length === 0 ? [] : await db.selectFrom('findings').select('event').where('uid', 'in', findings.map((f) => f.uid)).orderBy('uid').execute();
      return reply.type('application/x-ndjson').send(events.map((e) => JSON.stringify(e.event) + '\n').join(''));
    }
    if (format === 'markdown') return reply.type('text/markdown; charset=utf-8').send(renderFindingsMarkdown(findings));
    return { findings, nextAfter: findings.length === limit ? findings[findings.length - 1]!.uid : null };
  });
}
