import { binEdges, binOf } from '../features/bins.js';

/** A feature's reference distribution: bin edges (see `binEdges`) and the share of rows per bin. */
export interface FeatureDistribution {
  readonly edges: readonly number[];
  /** `edges.length + 1` shares summing to 1. */
  readonly proportions: readonly number[];
}

/** Shares of values per bin of the given edges. */
export function proportions(edges: readonly number[], values: ArrayLike<number>): number[] {
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (let i = 0; i < values.length; i++) counts[binOf(edges, values[i]!)]!++;
  return counts.map((c) => (values.length === 0 ? 0 : c / values.length));
}

/** A reference distribution over up to `bins` quantile bins (distinct values for discrete features). */
export function referenceDistribution(values: ArrayLike<number>, bins = 10): FeatureDistribution {
  const edges = binEdges(values, bins);
  return { edges, proportions: proportions(edges, values) };
}

/**
 * Population stability index Σ (actual − expected) · ln(actual / expected) over the bins. Empty bins
 * are floored at `epsilon` (default 1e-4) so one empty bin does not make it infinite.
 * Common reading: < 0.1 stable, 0.1–0.2 moderate shift, > 0.2 drift.
 */
export function psiFromProportions(expected: readonly number[], actual: readonly number[], epsilon = 1e-4): number {
  if (expected.length !== actual.length) throw new RangeError(`PSI needs the same bins: ${expected.length} vs ${actual.length}`);
  let sum = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.max(expected[i]!, epsilon);
    const a = Math.max(actual[i]!, epsilon);
    sum += (a - e) * Math.log(a / e);
  }
  return sum;
}

/** PSI of live values against a reference distribution (binned with the reference's edges). */
export function psi(reference: FeatureDistribution, values: ArrayLike<number>, epsilon = 1e-4): number {
  return psiFromProportions(reference.proportions, proportions(reference.edges, values), epsilon);
}
