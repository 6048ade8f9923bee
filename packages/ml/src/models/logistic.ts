/**
 * Logistic regression, the baseline: features standardised with the training mean and standard
 * deviation, weighted log loss (positives weigh `classWeight`) plus L2 on the weights, full-batch
 * gradient descent from zero. No randomness: the same data gives the same model.
 */
import { positiveWeight } from './gbt.js';

export interface LogisticParams {
  readonly iterations: number;
  readonly learningRate: number;
  readonly l2: number;
  /** Weight of a positive row; `balanced` = negatives / positives. */
  readonly classWeight: number | 'balanced';
}

export const LOGISTIC_DEFAULTS: LogisticParams = Object.freeze({ iterations: 1000, learningRate: 0.5, l2: 1e-4, classWeight: 'balanced' });

export interface LogisticModel {
  readonly kind: 'logistic';
  readonly mean: number[];
  readonly std: number[];
  readonly weights: number[];
  readonly bias: number;
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

export function fitLogistic(X: readonly Float64Array[], y: Uint8Array, params: LogisticParams): LogisticModel {
  const n = X.length;
  const d = X[0]?.length ?? 0;
  const mean = new Array<number>(d).fill(0);
  const std = new Array<number>(d).fill(0);
  for (const x of X) for (let j = 0; j < d; j++) mean[j]! += x[j]! / n;
  for (const x of X) for (let j = 0; j < d; j++) std[j]! += (x[j]! - mean[j]!) ** 2 / n;
  for (let j = 0; j < d; j++) std[j] = Math.sqrt(std[j]!) || 1;
  const Z = X.map((x) => Float64Array.from(x, (v, j) => (v - mean[j]!) / std[j]!));
  const spw = positiveWeight(y, params.classWeight);
  let sw = 0;
  for (let i = 0; i < n; i++) sw += y[i] ? spw : 1;
  const w = new Float64Array(d);
  let b = 0;
  const grad = new Float64Array(d);
  for (let it = 0; it < params.iterations; it++) {
    grad.fill(0);
    let gb = 0;
    for (let i = 0; i < n; i++) {
      const z = Z[i]!;
      let m = b;
      for (let j = 0; j < d; j++) m += w[j]! * z[j]!;
      const r = ((y[i] ? spw : 1) * (sigmoid(m) - y[i]!)) / sw;
      gb += r;
      for (let j = 0; j < d; j++) grad[j]! += r * z[j]!;
    }
    for (let j = 0; j < d; j++) w[j]! -= params.learningRate * (grad[j]! + params.l2 * w[j]!);
    b -= params.learningRate * gb;
  }
  return { kind: 'logistic', mean, std, weights: Array.from(w), bias: b };
}

/** The margin split into the bias and weight × standardised value per feature. */
export function logisticContributions(model: LogisticModel, x: ArrayLike<number>): { margin: number; bias: number; contributions: Float64Array } {
  const contributions = new Float64Array(x.length);
  let margin = model.bias;
  for (let j = 0; j < x.length; j++) {
    contributions[j] = model.weights[j]! * ((x[j]! - model.mean[j]!) / model.std[j]!);
    margin += contributions[j]!;
  }
  return { margin, bias: model.bias, contributions };
}

export function logisticMargin(model: LogisticModel, x: ArrayLike<number>): number {
  return logisticContributions(model, x).margin;
}
