import { mlErrors } from '../errors.js';
import { assertRows, encodeRows } from '../features/encode.js';
import { assertFeatureSchema } from '../features/schema.js';
import { gbtContributions, gbtMargin } from '../models/gbt.js';
import { logisticContributions, logisticMargin } from '../models/logistic.js';
import { onlineSpecIssue } from '../online/features.js';
import { onlineSchemaIssue } from '../online/spec.js';
import { ARTIFACT_FORMAT, ARTIFACT_FORMAT_VERSION, type ModelArtifact } from './train.js';

export interface Contribution {
  readonly feature: string;
  /** The feature's value for this row (derived features computed). */
  readonly value: number | string;
  /** Its push on the log-odds of a failure: > 0 towards failure. */
  readonly contribution: number;
}

export interface Prediction {
  /** Probability of a failure. */
  readonly probability: number;
  /** 1 when the probability is at or above the artifact's threshold. */
  readonly label: 0 | 1;
  /** The `top` features by |contribution|, largest first. */
  readonly contributions: Contribution[];
}

export interface PredictOptions {
  /** How many contributing features to return per row (default 3; 0: none, a little faster). */
  readonly top?: number;
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/**
 * Scores rows with a model artifact. Every row must carry exactly the schema's input features
 * (numbers finite, categories one of their levels): otherwise `STRATA_ERR_ML_INVALID_INPUT`
 * (400) with `details.issues`, a JSON pointer and a problem each, and nothing is scored.
 */
export function predict(artifact: ModelArtifact, rows: readonly unknown[], opts: PredictOptions = {}): Prediction[] {
  if (!Array.isArray(rows)) throw mlErrors.STRATA_ERR_ML_INVALID_INPUT({ summary: 'expected an array of rows', issues: [{ path: '', problem: 'must be an array of rows' }] });
  const top = opts.top ?? 3;
  const { schema, model, threshold } = artifact;
  assertRows(schema, rows);
  const X = encodeRows(schema, rows);
  return X.map((x, i) => {
    if (top <= 0) {
      const probability = sigmoid(model.kind === 'gbt' ? gbtMargin(model, x) : logisticMargin(model, x));
      return { probability, label: probability >= threshold ? 1 : 0, contributions: [] };
    }
    const { margin, contributions } = model.kind === 'gbt' ? gbtContributions(model, x) : logisticContributions(model, x);
    const probability = sigmoid(margin);
    const ranked = schema.features
      .map((f, j) => ({ feature: f.name, value: f.kind === 'category' ? rows[i]![f.name]! : x[j]!, contribution: contributions[j]! }))
      .sort((a, b) => Math.abs(b.contribution) - Math.abs(a.contribution))
      .slice(0, top);
    return { probability, label: probability >= threshold ? 1 : 0, contributions: ranked };
  });
}

/** Parses and checks an artifact (JSON text or an object): format, version, schema, model shape. */
export function loadArtifact(input: string | unknown): ModelArtifact {
  let a: unknown;
  try {
    a = typeof input === 'string' ? JSON.parse(input) : input;
  } catch (err) {
    throw mlErrors.STRATA_ERR_ML_ARTIFACT({ reason: 'not JSON' }, err);
  }
  const bad = (reason: string) => mlErrors.STRATA_ERR_ML_ARTIFACT({ reason });
  if (!a || typeof a !== 'object') throw bad('not an object');
  const art = a as ModelArtifact;
  if (art.format !== ARTIFACT_FORMAT) throw bad(`format is ${String(art.format)}, expected ${ARTIFACT_FORMAT}`);
  if (art.formatVersion !== ARTIFACT_FORMAT_VERSION) throw bad(`format version ${String(art.formatVersion)} is not supported (expected ${ARTIFACT_FORMAT_VERSION})`);
  assertFeatureSchema(art.schema);
  if (typeof art.threshold !== 'number') throw bad('no threshold');
  const d = art.schema.features.length;
  const m = art.model;
  if (m?.kind === 'gbt') {
    if (!Array.isArray(m.trees) || typeof m.base !== 'number') throw bad('gbt model needs base and trees');
    for (const t of m.trees) if (!Array.isArray(t.feature) || t.feature.some((f) => !Number.isInteger(f) || f >= d)) throw bad('a tree splits on a feature the schema does not have');
  } else if (m?.kind === 'logistic') {
    if (![m.weights, m.mean, m.std].every((v) => Array.isArray(v) && v.length === d)) throw bad(`logistic model needs ${d} weights, means and deviations`);
  } else throw bad(`unknown model kind ${String((m as { kind?: unknown } | undefined)?.kind)}`);
  if (art.kind !== m.kind) throw bad(`kind ${String(art.kind)} but the model is ${m.kind}`);
  if (art.online !== undefined) {
    const issue = onlineSpecIssue(art.online) ?? onlineSchemaIssue(art.online, art.schema);
    if (issue) throw bad(`online: ${issue}`);
  }
  return art;
}
