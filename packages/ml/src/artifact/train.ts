/**
 * Training as one deterministic job: labelled rows in, a model artifact (plain JSON) out.
 *
 *  1. stratified split (seed): `holdout` of each class is the test set, never seen until the end;
 *  2. the decision threshold: out-of-fold scores on the training part (`thresholdFolds` stratified
 *     folds, each scored by a model fitted on the others), the threshold with the best F1 on them;
 *  3. the model: fitted on the whole training part, scored on the test set at that threshold.
 *
 * With `split: 'time'` (rows with `data.times`, e.g. telemetry windows) nothing is shuffled: the
 * latest `holdout` share by time is the test set (no test row earlier than a training row), and the
 * threshold folds chain forward (`timeFolds`: block j is scored by a model fitted on the blocks
 * before it), so no score is computed by a model that saw later rows. With labels "fails within H"
 * (`data.labelHorizonMs`), a purge gap keeps later labels out too: training rows whose label
 * window (t, t + H] reaches past the test period's start are dropped from the training part
 * (`split.purgedRows`), and each fold's model is fitted without the rows of earlier blocks whose
 * window reaches into the block it scores.
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
import { stratifiedFolds, stratifiedSplit, timeFolds, timeFoldTraining, timeSplit } from '../eval/split.js';
import { fitGbt, gbtMargin, GBT_DEFAULTS, type GbtModel, type GbtParams } from '../models/gbt.js';
import { fitLogistic, logisticMargin, LOGISTIC_DEFAULTS, type LogisticModel, type LogisticParams } from '../models/logistic.js';
import { onlineSpecIssue } from '../online/features.js';
import { onlineSchemaIssue } from '../online/spec.js';
import type { OnlineSpec } from '../online/types.js';

export type ModelKind = 'gbt' | 'logistic';

export interface TrainOptions {
  readonly kind: ModelKind;
  /** Seeds the split, the folds and the trees' row samples. Default 42. */
  readonly seed?: number;
  /** Share of each class held out for the test metrics, [0, 0.5]. Default 0.2; 0: no test metrics. */
  readonly holdout?: number;
  /** Folds for the out-of-fold threshold choice, 2–10. Default 4. */
  readonly thresholdFolds?: number;
  /**
   * `stratified` (default): seeded per-class shuffle. `time`: the latest `holdout` share by
   * `data.times` is the test set and the threshold folds chain forward in time; for rows that
   * follow each other in time (telemetry windows), where a shuffle would leak the future.
   */
  readonly split?: 'stratified' | 'time';
  /** Quantile bins of the reference distributions (PSI). Default 10. */
  readonly referenceBins?: number;
  readonly gbt?: Partial<GbtParams>;
  readonly logistic?: Partial<LogisticParams>;
  /** How live telemetry becomes the model's input (copied into the artifact, checked against the schema). */
  readonly online?: OnlineSpec;
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
  /**
   * `method`: how the test set was chosen (artifacts from before the time split have none:
   * stratified); `testFrom`: with `time`, the earliest test row's time (Unix ms); with `time` and
   * `data.labelHorizonMs`: `labelHorizonMs` and `purgedRows`, the rows before `testFrom` left out
   * of the training part because their label window reaches past it (not in `trainRows`).
   */
  readonly split: {
    readonly method?: 'stratified' | 'time';
    readonly holdout: number;
    readonly trainRows: number;
    readonly testRows: number;
    readonly thresholdFolds: number;
    readonly testFrom?: number;
    readonly labelHorizonMs?: number;
    readonly purgedRows?: number;
  };
  /** `validation`: out-of-fold on the training part; `test`: the held-out part (null without one). */
  readonly metrics: { readonly validation: ClassMetrics; readonly test: ClassMetrics | null };
  /** Per feature (derived ones included), on the training part: for PSI against live data. */
  readonly reference: Readonly<Record<string, FeatureDistribution>>;
  /** How live telemetry becomes the input row (../online/types.ts). Absent: `defaultOnlineSpec(schema)`. */
  readonly online?: OnlineSpec;
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
  if (opts.online !== undefined) {
    const issue = onlineSpecIssue(opts.online) ?? onlineSchemaIssue(opts.online, schema);
    if (issue) throw mlErrors.STRATA_ERR_ML_BAD_OPTION({ option: 'online', reason: issue });
  }
  if (data.rows.length !== data.labels.length) throw mlErrors.STRATA_ERR_ML_DATA({ source: data.source, where: '', reason: `${data.rows.length} rows but ${data.labels.length} labels` });
  const method = opts.split ?? 'stratified';
  if (method !== 'stratified' && method !== 'time') throw mlErrors.STRATA_ERR_ML_BAD_OPTION({ option: 'split', reason: `${String(method)}: expected stratified or time` });
  const times = data.times;
  if (method === 'time' && (!times || times.length !== data.rows.length || !Array.prototype.every.call(times, Number.isFinite))) {
    throw mlErrors.STRATA_ERR_ML_DATA({ source: data.source, where: '', reason: `a time split needs data.times, a finite time for each of the ${data.rows.length} rows` });
  }
  const horizon = method === 'time' ? (data.labelHorizonMs ?? 0) : 0;
  if (!(horizon >= 0) || !Number.isFinite(horizon)) throw mlErrors.STRATA_ERR_ML_DATA({ source: data.source, where: '', reason: `labelHorizonMs ${String(horizon)}: expected a finite number >= 0` });
  assertRows(schema, data.rows);

  const X = encodeRows(schema, data.rows);
  const all = { train: X.map((_, i) => i), test: [] as number[], testFrom: null, purged: 0 };
  const split = holdout === 0 ? all : method === 'time' ? timeSplit(times!, holdout, horizon) : { ...stratifiedSplit(data.labels, holdout, seed), testFrom: null, purged: 0 };
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

  // Stratified: fold k is scored by a model fitted on the other folds. Time: blocks 1..folds, each
  // scored by a model fitted on the blocks before it, less the purge gap; block 0 is never scored.
  const ttr = method === 'time' ? split.train.map((i) => times![i]!) : [];
  const fold = method === 'time' ? timeFolds(ttr, folds) : stratifiedFolds(ytr, folds, seed + 1);
  const oof = new Float64Array(ytr.length);
  for (let k = 0; k < folds; k++) {
    const scored = method === 'time' ? k + 1 : k;
    const inner = method === 'time' ? timeFoldTraining(ttr, fold, scored, horizon) : Xtr.flatMap((_, i) => (fold[i] !== scored ? [i] : []));
    const yin = Uint8Array.from(inner, (i) => ytr[i]!);
    const pos = yin.reduce((s, y) => s + y, 0);
    if (pos === 0 || pos === yin.length) throw mlErrors.STRATA_ERR_ML_DATA({ source: data.source, where: '', reason: `threshold fold ${k + 1} of ${folds} would train on ${pos === 0 ? 'no failures' : 'failures only'} (${method} folds)` });
    const score = fit(inner.map((i) => Xtr[i]!), yin, seed + 2 + k);
    for (let i = 0; i < ytr.length; i++) if (fold[i] === scored) oof[i] = score(Xtr[i]!);
  }
  const validated = Xtr.flatMap((_, i) => (method === 'time' && fold[i] === 0 ? [] : [i]));
  const yval = Uint8Array.from(validated, (i) => ytr[i]!);
  const oofVal = Float64Array.from(validated, (i) => oof[i]!);
  const threshold = bestF1Threshold(yval, oofVal);

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
    split: {
      method,
      holdout,
      trainRows: split.train.length,
      testRows: split.test.length,
      thresholdFolds: folds,
      ...(split.testFrom === null ? {} : { testFrom: split.testFrom }),
      ...(method === 'time' && horizon > 0 ? { labelHorizonMs: horizon, purgedRows: split.purged } : {}),
    },
    metrics: { validation: classMetrics(yval, oofVal, threshold), test },
    reference,
    ...(opts.online === undefined ? {} : { online: structuredClone(opts.online) }),
  };
}
