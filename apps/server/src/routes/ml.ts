import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { Kysely } from 'kysely';
import { canSeeDevice, type Caller } from '@strata/auth';
import { getDevice, type Database, type Db } from '@strata/db';
import {
  DEFAULT_MODEL_NAME,
  deviceFeatures,
  featureNames,
  inputIssues,
  mlErrors,
  parseModelRef,
  predict,
  type InputIssue,
  type LoadedModel,
  type ModelRecord,
  type ModelRegistry,
} from '@strata/ml';
import { audit } from '../audit.js';
import { httpErrors } from '../errors.js';
import { DEVICE_ID, ErrorReply } from './schemas.js';

export interface MlRouteOptions {
  db: Db;
  registry: ModelRegistry;
  /** The model name `POST /v1/predict` uses without `model` (config `ml.model`). Default `DEFAULT_MODEL_NAME`. */
  defaultModel?: string;
}

/** Most rows one `POST /v1/predict` scores. */
export const MAX_PREDICT_ROWS = 1000;
const MODEL_REF = '^[a-z][a-z0-9_-]{0,63}(@v?[1-9][0-9]{0,8})?$';

const PredictBody = Type.Object(
  {
    // Rows are checked against the model's schema (every problem with its JSON pointer), not here.
    rows: Type.Optional(Type.Array(Type.Unknown({ description: "An object of exactly the model's input features: numbers, and categories as one of their levels." }), { minItems: 1, maxItems: MAX_PREDICT_ROWS, description: 'Feature rows.' })),
    row: Type.Optional(Type.Unknown({ description: 'One feature row.' })),
    device: Type.Optional(Type.String({ pattern: DEVICE_ID, description: "A machine or sensor whose features come from its last complete bucket of telemetry (1-minute rollups) and metadata. Patient devices are refused (409; 404 to a caller who may not see them): health data never reaches a machine model." })),
    model: Type.Optional(Type.String({ pattern: MODEL_REF, description: `\`name\` (its active version) or \`name@version\`. Default: the active \`ml.model\` of the config (\`${DEFAULT_MODEL_NAME}\`).` })),
    top: Type.Optional(Type.Integer({ minimum: 0, maximum: 50, default: 3, description: 'Contributing features per prediction.' })),
  },
  { additionalProperties: false, description: 'Exactly one of rows, row or device.' },
);
type PredictBodyT = Static<typeof PredictBody>;

const ModelId = Type.Object({ name: Type.String(), version: Type.Integer() });
const Contribution = Type.Object({ feature: Type.String(), value: Type.Union([Type.Number(), Type.String()]), contribution: Type.Number({ description: 'Push on the log-odds of a failure (> 0: towards failure).' }) });
const Prediction = Type.Object({
  probability: Type.Number({ description: 'Probability of a failure.' }),
  label: Type.Integer({ description: '1: a failure is predicted (probability at or above the threshold).' }),
  contributions: Type.Array(Contribution),
});
const PredictReply = Type.Object({
  model: ModelId,
  threshold: Type.Number(),
  predictions: Type.Array(Prediction),
  device: Type.Optional(Type.String()),
  features: Type.Optional(Type.Record(Type.String(), Type.Union([Type.Number(), Type.String()]), { description: 'The device case: the row computed from its telemetry.' })),
  at: Type.Optional(Type.String({ format: 'date-time', description: 'The device case: end of the telemetry bucket the features describe.' })),
});

const Confusion = Type.Object({ tp: Type.Integer(), fp: Type.Integer(), fn: Type.Integer(), tn: Type.Integer() });
const ClassMetrics = Type.Object({
  rows: Type.Integer(), positives: Type.Integer(), threshold: Type.Number(), precision: Type.Number(), recall: Type.Number(), f1: Type.Number(),
  prAuc: Type.Number({ description: 'Average precision (area under the precision–recall curve).' }), confusion: Confusion,
});
const ModelSummary = Type.Object({
  name: Type.String(),
  version: Type.Integer(),
  kind: Type.String(),
  active: Type.Boolean(),
  activated: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  created: Type.String({ format: 'date-time' }),
  createdBy: Type.String(),
  objectKey: Type.String(),
  artifactSha256: Type.String(),
  artifactBytes: Type.Integer(),
  data: Type.Object({ sha256: Type.String(), source: Type.String() }),
  metrics: Type.Object({ threshold: Type.Number(), validation: ClassMetrics, test: Type.Union([ClassMetrics, Type.Null()], { description: 'On the held-out part; null without one.' }) }),
  featureNames: Type.Array(Type.String()),
});
const ModelDetail = Type.Composite([
  ModelSummary,
  Type.Object({
    schema: Type.Unknown({ description: 'The feature schema: input features, derived ones, label.' }),
    params: Type.Unknown({ description: 'Training parameters.' }),
    seed: Type.Integer(),
    split: Type.Unknown(),
    rows: Type.Integer({ description: 'Rows of the training data.' }),
    positives: Type.Integer({ description: 'Failures in the training data.' }),
    online: Type.Unknown({ description: 'How features come from telemetry (null: every input feature from the metric of its name).' }),
    reference: Type.Record(Type.String(), Type.Unknown(), { description: 'Per feature: the training part\'s quantile bin edges and proportions (for PSI drift).' }),
  }),
]);
const ModelParams = Type.Object({ name: Type.String({ pattern: '^[a-z][a-z0-9_-]{0,63}$' }), version: Type.Integer({ minimum: 1, maximum: 999_999_999 }) }, { additionalProperties: false });
type ModelParamsT = Static<typeof ModelParams>;

function summary(r: ModelRecord): Static<typeof ModelSummary> {
  return {
    name: r.name,
    version: r.version,
    kind: r.kind,
    active: r.active,
    activated: r.activated ? r.activated.toISOString() : null,
    created: r.created.toISOString(),
    createdBy: r.createdBy,
    objectKey: r.objectKey,
    artifactSha256: r.artifactSha256,
    artifactBytes: r.artifactBytes,
    data: { ...r.data },
    metrics: { threshold: r.metrics.threshold, validation: r.metrics.validation, test: r.metrics.test },
    featureNames: [...r.featureNames],
  };
}

interface SchemaIssue {
  instancePath: string;
  message?: string;
  keyword: string;
  params: Record<string, unknown>;
}

/** Fastify's schema errors on the body as JSON pointers into it. */
function schemaIssues(req: FastifyRequest): InputIssue[] | undefined {
  const failed = req.validationError as (Error & { validationContext?: string; validation?: SchemaIssue[] }) | undefined;
  if (!failed) return undefined;
  if (failed.validationContext !== 'body') throw httpErrors.STRATA_ERR_HTTP_BAD_REQUEST({ reason: failed.message });
  return (failed.validation ?? []).slice(0, 20).map((v: SchemaIssue) => {
    if (v.keyword === 'additionalProperties') return { path: `${v.instancePath}/${String(v.params.additionalProperty)}`, problem: 'unknown field' };
    return { path: v.instancePath || '/', problem: v.message ?? v.keyword };
  });
}

const invalid = (issues: InputIssue[]) => {
  const first = issues.slice(0, 3).map((x) => `${x.path} ${x.problem}`).join('; ');
  return mlErrors.STRATA_ERR_ML_INVALID_INPUT({ summary: issues.length > 3 ? `${first}; …` : first, issues });
};

/**
 * Whether `caller` may know of a device here: whoever may read the device, and `predict` keys
 * for machines and sensors (a device-bound key, its own device only).
 */
function mayScore(caller: Caller | undefined, device: { id: string; kind: Database['devices']['kind'] }): boolean {
  if (!caller) return false;
  if (canSeeDevice(caller, device)) return true;
  return caller.kind === 'key' && caller.scopes.includes('predict') && device.kind !== 'patient' && (caller.device === undefined || caller.device === device.id);
}

/** Why a patient device is refused (409), as the scoring role skips it. */
export const PATIENT_REFUSED = 'it is a patient device: health data never reaches a machine model';

/**
 * Predictive maintenance (issue 9): `POST /v1/predict` scores feature rows or a device's recent
 * telemetry with a registered model (default the active `defaultModel`, config `ml.model`). A
 * patient device is never scored, whoever asks: 404 to a caller who may not see it (as an unknown
 * device), else 409 `STRATA_ERR_ML_DEVICE_FEATURES` saying so; its telemetry is not read. And `/v1/ml/models` shows the
 * registry and switches the active version (audited).
 */
export async function mlRoutes(app: FastifyInstance, opts: MlRouteOptions): Promise<void> {
  const { db, registry } = opts;
  const defaultModel = opts.defaultModel ?? DEFAULT_MODEL_NAME;
  const tags = ['ml'];

  const resolve = async (ref: string | undefined): Promise<LoadedModel> => {
    const { name, version } = parseModelRef(ref ?? defaultModel);
    return version === undefined ? registry.active(name) : registry.load(name, version);
  };

  app.post<{ Body: PredictBodyT }>('/v1/predict', {
    config: { permission: 'ml:predict' },
    attachValidation: true,
    schema: {
      tags,
      summary: 'Failure probability, label and top contributing features for feature rows or a device (seed 004 `/predict`; `X-API-Key` with scope predict)',
      body: PredictBody,
      response: { 200: PredictReply, 400: ErrorReply, 404: ErrorReply, 409: ErrorReply },
    },
  }, async (req) => {
    const issues = schemaIssues(req);
    if (issues && issues.length > 0) throw invalid(issues);
    const body = req.body;
    const given = (['rows', 'row', 'device'] as const).filter((k) => body[k] !== undefined);
    if (given.length !== 1) throw invalid([{ path: '/', problem: given.length === 0 ? 'needs one of rows, row or device' : `takes one of rows, row or device, not ${given.join(' and ')}` }]);
    const { record, artifact } = await resolve(body.model);
    const model = { name: record.name, version: record.version };
    const top = body.top ?? 3;

    if (body.device !== undefined) {
      const device = await getDevice(db.kysely, body.device);
      if (!device || !mayScore(req.caller, device)) throw httpErrors.STRATA_ERR_HTTP_DEVICE_NOT_FOUND({ id: body.device });
      if (device.kind === 'patient') throw mlErrors.STRATA_ERR_ML_DEVICE_FEATURES({ device: device.id, reason: PATIENT_REFUSED });
      const { row, at } = await deviceFeatures(db.kysely as unknown as Kysely<unknown>, artifact, { id: device.id, metadata: device.metadata, tags: device.tags });
      const wrong = inputIssues(artifact.schema, [row], true);
      if (wrong.length > 0) throw mlErrors.STRATA_ERR_ML_DEVICE_FEATURES({ device: device.id, reason: wrong.map((w) => `${w.path.slice(1)} ${w.problem}`).join('; ') });
      return { model, threshold: artifact.threshold, device: device.id, features: row, at: at.toISOString(), predictions: predict(artifact, [row], { top }) };
    }
    const rows = body.rows ?? [body.row];
    const prefix = body.rows ? '/rows' : '/row';
    const wrong = inputIssues(artifact.schema, rows, body.rows === undefined);
    if (wrong.length > 0) throw invalid(wrong.map((w) => ({ path: `${prefix}${w.path === '/' ? '' : w.path}`, problem: w.problem })));
    return { model, threshold: artifact.threshold, predictions: predict(artifact, rows, { top }) };
  });

  app.get('/v1/ml/models', {
    config: { permission: 'ml:read' },
    schema: { tags, summary: 'Every registered model version, with its metrics', response: { 200: Type.Object({ items: Type.Array(ModelSummary) }) } },
  }, async () => ({ items: (await registry.list()).map(summary) }));

  app.get<{ Params: ModelParamsT }>('/v1/ml/models/:name/:version', {
    config: { permission: 'ml:read' },
    schema: { tags, summary: "One model version: metadata, metrics, features and reference distributions (not the model's trees or weights)", params: ModelParams, response: { 200: ModelDetail, 404: ErrorReply } },
  }, async (req) => {
    const { record, artifact } = await registry.load(req.params.name, req.params.version);
    const online = (artifact as { online?: unknown }).online ?? null;
    return {
      ...summary(record),
      featureNames: featureNames(artifact.schema),
      schema: artifact.schema,
      params: artifact.params,
      seed: artifact.seed,
      split: artifact.split,
      rows: artifact.data.rows,
      positives: artifact.data.positives,
      online,
      reference: artifact.reference,
    };
  });

  app.post<{ Params: ModelParamsT }>('/v1/ml/models/:name/:version/activate', {
    config: { permission: 'ml:manage' },
    schema: { tags, summary: 'Make this version the one scoring uses for its name (audited)', params: ModelParams, response: { 200: Type.Object({ name: Type.String(), version: Type.Integer(), previous: Type.Union([Type.Integer(), Type.Null()]) }), 404: ErrorReply } },
  }, async (req) => {
    const { name, version } = req.params;
    return registry.activate(name, version, {
      inTransaction: (tx, previous) => audit(tx as unknown as Kysely<Database>, req, { action: 'ml.model.activate', resource: `model:${name}@${version}`, details: { previous } }),
    });
  });
}
