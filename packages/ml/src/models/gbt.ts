/**
 * Gradient-boosted trees for binary classification (logistic loss), in the XGBoost/LightGBM
 * manner on a small scale: features binned once into at most `maxBins` quantile bins, each tree
 * grown depth-wise to `maxDepth` from gradient/hessian histograms, split gain
 * ½[G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ)] − γ, leaves −G/(H+λ) shrunk by the learning rate.
 * Each tree sees a row sample (`subsample`, seeded PRNG); positives weigh `scalePosWeight`.
 *
 * A fitted tree is plain arrays (node i: `feature[i]` −1 for a leaf, else go left when
 * `x[feature] <= threshold[i]`). Every node keeps its value (what a leaf there would have held),
 * so a prediction can be split along its decision path into per-feature contributions (Saabas):
 * margin = bias + Σ contributions, in log-odds.
 */
import { binEdges, binOf } from '../features/bins.js';
import { prng } from '../random.js';

export interface GbtParams {
  readonly nTrees: number;
  readonly learningRate: number;
  readonly maxDepth: number;
  /** 2–256. */
  readonly maxBins: number;
  /** Least hessian (weighted) in a child. */
  readonly minChildWeight: number;
  /** L2 on leaf values (λ). */
  readonly lambda: number;
  /** Least gain to split (γ). */
  readonly gamma: number;
  /** Share of rows each tree is grown on, (0, 1]. */
  readonly subsample: number;
  /** Weight of a positive row; `balanced` = negatives / positives. */
  readonly scalePosWeight: number | 'balanced';
}

export const GBT_DEFAULTS: GbtParams = Object.freeze({
  nTrees: 200,
  learningRate: 0.1,
  maxDepth: 5,
  maxBins: 256,
  minChildWeight: 1,
  lambda: 1,
  gamma: 0,
  subsample: 0.8,
  scalePosWeight: 'balanced',
});

export interface GbtTree {
  readonly feature: number[];
  readonly threshold: number[];
  readonly left: number[];
  readonly right: number[];
  readonly value: number[];
}

export interface GbtModel {
  readonly kind: 'gbt';
  /** Starting margin: the weighted log-odds of a failure. */
  readonly base: number;
  readonly trees: GbtTree[];
  /** Total split gain per feature (importance). */
  readonly gain: number[];
}

export function positiveWeight(labels: Uint8Array, setting: number | 'balanced'): number {
  if (setting !== 'balanced') return setting;
  let pos = 0;
  for (const y of labels) pos += y;
  return pos === 0 ? 1 : (labels.length - pos) / pos;
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

export function fitGbt(X: readonly Float64Array[], y: Uint8Array, params: GbtParams, seed: number): GbtModel {
  const n = X.length;
  const d = X[0]?.length ?? 0;
  const B = params.maxBins;
  const edges = Array.from({ length: d }, (_, f) => binEdges(X.map((x) => x[f]!), B));
  const bins = new Uint8Array(n * d);
  for (let i = 0; i < n; i++) for (let f = 0; f < d; f++) bins[i * d + f] = binOf(edges[f]!, X[i]![f]!);
  const spw = positiveWeight(y, params.scalePosWeight);
  let sw = 0, swy = 0;
  for (let i = 0; i < n; i++) {
    const w = y[i] ? spw : 1;
    sw += w;
    swy += w * y[i]!;
  }
  const base = Math.log(Math.max(swy, 1e-12) / Math.max(sw - swy, 1e-12));
  const margin = new Float64Array(n).fill(base);
  const g = new Float64Array(n);
  const h = new Float64Array(n);
  const gain = new Array<number>(d).fill(0);
  const random = prng(seed);
  const trees: GbtTree[] = [];
  const { lambda, learningRate: lr, minChildWeight: mcw, gamma, maxDepth } = params;

  for (let t = 0; t < params.nTrees; t++) {
    for (let i = 0; i < n; i++) {
      const w = y[i] ? spw : 1;
      const p = sigmoid(margin[i]!);
      g[i] = w * (p - y[i]!);
      h[i] = Math.max(w * p * (1 - p), 1e-16);
    }
    const sample: number[] = [];
    for (let i = 0; i < n; i++) if (params.subsample >= 1 || random() < params.subsample) sample.push(i);
    const tree: GbtTree = { feature: [], threshold: [], left: [], right: [], value: [] };
    const splitBin: number[] = [];

    const grow = (rows: Int32Array, depth: number): number => {
      let G = 0, H = 0;
      for (const r of rows) {
        G += g[r]!;
        H += h[r]!;
      }
      const id = tree.feature.length;
      tree.feature.push(-1);
      tree.threshold.push(0);
      tree.left.push(-1);
      tree.right.push(-1);
      tree.value.push((-G / (H + lambda)) * lr);
      splitBin.push(-1);
      if (depth >= maxDepth || rows.length < 2) return id;
      const hist = new Float64Array(d * B * 2);
      for (const r of rows) {
        const at = r * d;
        for (let f = 0; f < d; f++) {
          const k = (f * B + bins[at + f]!) * 2;
          hist[k]! += g[r]!;
          hist[k + 1]! += h[r]!;
        }
      }
      const parent = (G * G) / (H + lambda);
      let best = 0, bestF = -1, bestBin = -1;
      for (let f = 0; f < d; f++) {
        let GL = 0, HL = 0;
        const nb = edges[f]!.length;
        for (let b = 0; b < nb; b++) {
          const k = (f * B + b) * 2;
          GL += hist[k]!;
          HL += hist[k + 1]!;
          const GR = G - GL, HR = H - HL;
          if (HL < mcw || HR < mcw) continue;
          const score = 0.5 * ((GL * GL) / (HL + lambda) + (GR * GR) / (HR + lambda) - parent) - gamma;
          if (score > best) {
            best = score;
            bestF = f;
            bestBin = b;
          }
        }
      }
      if (bestF < 0) return id;
      let nl = 0;
      for (const r of rows) if (bins[r * d + bestF]! <= bestBin) nl++;
      if (nl === 0 || nl === rows.length) return id;
      const L = new Int32Array(nl);
      const R = new Int32Array(rows.length - nl);
      let li = 0, ri = 0;
      for (const r of rows) {
        if (bins[r * d + bestF]! <= bestBin) L[li++] = r;
        else R[ri++] = r;
      }
      gain[bestF]! += best;
      tree.feature[id] = bestF;
      tree.threshold[id] = edges[bestF]![bestBin]!;
      splitBin[id] = bestBin;
      tree.left[id] = grow(L, depth + 1);
      tree.right[id] = grow(R, depth + 1);
      return id;
    };
    grow(Int32Array.from(sample), 0);
    trees.push(tree);
    for (let i = 0; i < n; i++) {
      let node = 0;
      while (tree.feature[node]! >= 0) node = bins[i * d + tree.feature[node]!]! <= splitBin[node]! ? tree.left[node]! : tree.right[node]!;
      margin[i]! += tree.value[node]!;
    }
  }
  return { kind: 'gbt', base, trees, gain };
}

/** The margin (log-odds) of one encoded row. */
export function gbtMargin(model: GbtModel, x: ArrayLike<number>): number {
  let m = model.base;
  for (const t of model.trees) {
    let node = 0;
    while (t.feature[node]! >= 0) node = x[t.feature[node]!]! <= t.threshold[node]! ? t.left[node]! : t.right[node]!;
    m += t.value[node]!;
  }
  return m;
}

/** The margin split into a bias and per-feature contributions along each tree's decision path. */
export function gbtContributions(model: GbtModel, x: ArrayLike<number>): { margin: number; bias: number; contributions: Float64Array } {
  const contributions = new Float64Array(x.length);
  let bias = model.base;
  let margin = model.base;
  for (const t of model.trees) {
    let node = 0;
    bias += t.value[0]!;
    while (t.feature[node]! >= 0) {
      const f = t.feature[node]!;
      const next = x[f]! <= t.threshold[node]! ? t.left[node]! : t.right[node]!;
      contributions[f]! += t.value[next]! - t.value[node]!;
      node = next;
    }
    margin += t.value[node]!;
  }
  return { margin, bias, contributions };
}
