/**
 * Training as one deterministic job: labelled rows in, a model artifact (plain JSON) out.
 *
 *  1. stratified split (seed): `holdout` of each class is the test set, never seen until the end;
 *  2. the decision threshold: out-of-fold scores on the training part (`thresholdFolds` stratified
 *     folds, each scored by a model fitted on the others), the threshold with the best F1 on them;
 *  3. the model: fitted on the whole training part, scored on the test set at that threshold.
 *
 * Same data, options and seed → the same artifact, byte for byte (no clock, no path, no
 * unseeded randomness). The artifact's model is the one the test metrics describe.
 */
import { basename } from 'node:path';
import { mlErrors } from '../errors.js';
import type { LabelledData } from '../data/labelled-csv.js';
import { assertRows, encodeRows, featureNames } from '../features/encode.js';
import { assertFeatureSchema, type FeatureSchema } from '../features/schema.js';
import { referenceDistribution, type FeatureDistribution } from '../drift/psi.js';
import { bestF1Threshold, classMetrics, type ClassMetrics } from '../eval/metrics.js';
import { stratifiedFolds, stratifiedSplit } from '../eval/split.js';
import { fitGbt, gbtMargin, GBT_DEFAULTS, type GbtModel, type GbtParams } from '../models/gbt.js';
import { fitLogistic, logisticMargin, LOGISTIC_DEFAULTS, type LogisticModel, type LogisticParams } from '../models/logistic.js';

export type ModelKind = 'gbt' | 'logistic';

export interface TrainOptions {
  readonly kind: ModelKind;
  /** Seeds the split, the folds and the trees' row samples. Default 42. */
  readonly seed?: number;
  /** Share of each class held out for the test metrics, [0, 0.5]. Default 0.2; 0: no test metrics. */
  readonly holdout?: number;
  /** Folds for the out-of-fold threshold choice, 2–10. Default 4. */
  readonly thresholdFolds?: number;
  /** Quantile bins of the reference distributions (PSI). Default 10. */
  readonly referenceBins?: number;
  readonly gbt?: Partial<GbtParams>;
  readonly logistic?: Partial<LogisticParams>;
}

export const ARTIFACT_FORMAT = 'strata.ml.model';
export const ARTIFACT_FORMAT_VERSION = 1;

export interface ModelArtifact {
  readonly format: typeof ARTIFACT_FORMAT;
  readonly formatVersion: typeof ARTIFACT_FORMAT_VERSION;
  readonly kind: ModelKind;
  readonly schema: FeatureSchema;
  readonly params: GbtParams | LogisticParams;
  readonly model: GbtModel | LogisticModel;
  /** A probability at or above it is a predicted failure. */
  readonly threshold: number;
  readonly seed: number;
  readonly data: { readonly source: string; readonly sha256: string; readonly rows: number; readonly positives: number };
  readonly split: { readonly holdout: number; readonly trainRows: number; readonly testRows: number; readonly thresholdFolds: number };
  /** `validation`: out-of-fold on the training part; `test`: the held-out part (null without one). */
  readonly metrics: { readonly validation: ClassMetrics; readonly test: ClassMetrics | null };
  /** Per feature (derived ones included), on the training part: for PSI against live data. */
  readonly reference: Readonly<Record<string, FeatureDistribution>>;
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

function option(name: string, value: number, ok: boolean, expected: string): number {
  if (!ok || !Number.isFinite(value)) throw mlErrors.STRATA_ERR_ML_BAD_OPTION({ option: name, reason: `${String(value)}: expected ${expected}` });
  return value;
}

function checkGbt(p: GbtParams): void {
  option('gbt.nTrees', p.nTrees, Number.isInteger(p.nTrees) && p.nTrees >= 1, 'an integer >= 1');
  option('gbt.learningRate', p.learningRate, p.learningRate > 0 && p.learningRate <= 1, '(0, 1]');
  option('gbt.maxDepth', p.maxDepth, Number.isInteger(p.maxDepth) && p.maxDepth >= 1 && p.maxDepth <= 12, 'an integer 1–12');
  option('gbt.maxBins', p.maxBins, Number.isInteger(p.maxBins) && p.maxBins >= 2 && p.maxBins <= 256, 'an integer 2–256');
  option('gbt.minChildWeight', p.minChildWeight, p.minChildWeight >= 0, '>= 0');
  option('gbt.lambda', p.lambda, p.lambda >= 0, '>= 0');
  option('gbt.gamma', p.gamma, p.gamma >= 0, '>= 0');
  option('gbt.subsample', p.subsample, p.subsample > 0 && p.subsample <= 1, '(0, 1]');
  if (p.scalePosWeight !== 'balanced') option('gbt.scalePosWeight', p.scalePosWeight, p.scalePosWeight > 0, "> 0 or 'balanced'");
}

function checkLogistic(p: LogisticParams): void {
  option('logistic.iterations', p.iterations, Number.isInteger(p.iterations) && p.iterations >= 1, 'an integer >= 1');
  option('logistic.learningRate', p.learningRate, p.learningRate > 0, '> 0');
  option('logistic.l2', p.l2, p.l2 >= 0, '>= 0');
  if (p.classWeight !== 'balanced') option('logistic.classWeight', p.classWeight, p.classWeight > 0, "> 0 or 'balanced'");
}

/** Trains one model on labelled rows; see the file header for the procedure. */
export function trainModel(data: LabelledData, schema: FeatureSchema, opts: TrainOptions): ModelArtifact {
  assertFeatureSchema(schema);
  const seed = option('seed', opts.seed ?? 42, Number.isSafeInteger(opts.seed ?? 42), 'an integer');
  const holdout = option('holdout', opts.holdout ?? 0.2, (opts.holdout ?? 0.2) >= 0 && (opts.holdout ?? 0.2) <= 0.5, '[0, 0.5]');
  const folds = option('thresholdFolds', opts.thresholdFolds ?? 4, Number.isInteger(opts.thresholdFolds ?? 4) && (opts.thresholdFolds ?? 4) >= 2 && (opts.thresholdFolds ?? 4) <= 10, 'an integer 2–10');
  const referenceBins = option('referenceBins', opts.referenceBins ?? 10, Number.isInteger(opts.referenceBins ?? 10) && (opts.referenceBins ?? 10) >= 2, 'an integer >= 2');
  if (opts.kind !== 'gbt' && opts.kind !== 'logistic') throw mlErrors.STRATA_ERR_ML_BAD_OPTION({ option: 'kind', reason: `${String(opts.kind)}: expected gbt or logistic` });
  const params = opts.kind === 'gbt' ? { ...GBT_DEFAULTS, ...opts.gbt } : { ...LOGISTIC_DEFAULTS, ...opts.logistic };
  if (opts.kind === 'gbt') checkGbt(params as GbtParams);
  else checkLogistic(params as LogisticParams);
  if (data.rows.length !== data.labels.length) throw mlErrors.STRATA_ERR_ML_DATA({ source: data.source, where: '', reason: `${data.rows.length} rows but ${data.labels.length} labels` });
  assertRows(schema, data.rows);

  const X = encodeRows(schema, data.rows);
  const split = holdout > 0 ? stratifiedSplit(data.labels, holdout, seed) : { train: X.map((_, i) => i), test: [] };
  const Xtr = split.train.map((i) => X[i]!);
  const ytr = Uint8Array.from(split.train, (i) => data.labels[i]!);
  const positives = ytr.reduce((s, y) => s + y, 0);
  if (positives < folds || ytr.length - positives < folds) throw mlErrors.STRATA_ERR_ML_DATA({ source: data.source, where: '', reason: `too few rows of each class in the training part (${positives} failures, ${ytr.length - positives} others) for ${folds} folds` });

  const fit = (x: Float64Array[], y: Uint8Array, treeSeed: number): ((row: Float64Array) => number) => {
    if (opts.kind === 'gbt') {
      const m = fitGbt(x, y, params as GbtParams, treeSeed);
      return (row) => sigmoid(gbtMargin(m, row));
    }
    const m = fitLogistic(x, y, params as LogisticParams);
    return (row) => sigmoid(logisticMargin(m, row));
  };

  const fold = stratifiedFolds(ytr, folds, seed + 1);
  const oof = new Float64Array(ytr.length);
  for (let k = 0; k < folds; k++) {
    const inner = Xtr.flatMap((_, i) => (fold[i] === k ? [] : [i]));
    const score = fit(inner.map((i) => Xtr[i]!), Uint8Array.from(inner, (i) => ytr[i]!), seed + 2 + k);
    for (let i = 0; i < ytr.length; i++) if (fold[i] === k) oof[i] = score(Xtr[i]!);
  }
  const threshold = bestF1Threshold(ytr, oof);

  const model = opts.kind === 'gbt' ? fitGbt(Xtr, ytr, params as GbtParams, seed + 2 + folds) : fitLogistic(Xtr, ytr, params as LogisticParams);
  const margin = (row: Float64Array) => (model.kind === 'gbt' ? gbtMargin(model, row) : logisticMargin(model, row));
  const yte = Uint8Array.from(split.test, (i) => data.labels[i]!);
  const test = split.test.length > 0 ? classMetrics(yte, Float64Array.from(split.test, (i) => sigmoid(margin(X[i]!))), threshold) : null;

  const names = featureNames(schema);
  const reference: Record<string, FeatureDistribution> = {};
  names.forEach((name, j) => (reference[name] = referenceDistribution(Xtr.map((x) => x[j]!), referenceBins)));

  return {
    format: ARTIFACT_FORMAT,
    formatVersion: ARTIFACT_FORMAT_VERSION,
    kind: opts.kind,
    schema,
    params,
    model,
    threshold,
    seed,
    data: { source: basename(data.source), sha256: data.sha256, rows: data.rows.length, positives: data.labels.reduce((s, y) => s + y, 0) },
    split: { holdout, trainRows: split.train.length, testRows: split.test.length, thresholdFolds: folds },
    metrics: { validation: classMetrics(ytr, oof, threshold), test },
    reference,
  };
}
