/**
 * Bin edges for a numeric column: with at most `maxBins` distinct values, the midpoints between
 * them (each value its own bin); otherwise the quantile cut points, duplicates dropped. Bin b holds
 * `edges[b-1] < x <= edges[b]` (bin 0: x <= edges[0]; bin edges.length: above the last edge).
 */
export function binEdges(values: ArrayLike<number>, maxBins: number): number[] {
  const sorted = Float64Array.from(values).sort();
  const distinct: number[] = [];
  for (const v of sorted) if (distinct.length === 0 || distinct[distinct.length - 1] !== v) distinct.push(v);
  if (distinct.length <= maxBins) return distinct.slice(0, -1).map((v, i) => (v + distinct[i + 1]!) / 2);
  const edges: number[] = [];
  // Cut points rise with k, so the search for the next distinct value only moves forward: one pass.
  let j = 0;
  for (let k = 1; k < maxBins; k++) {
    const at = Math.floor((k * sorted.length) / maxBins) - 1;
    const q = sorted[at]!;
    // Cut between q and the next distinct value, so the edge never equals a training value.
    if (j <= at) j = at + 1;
    while (j < sorted.length && sorted[j]! <= q) j++;
    if (j === sorted.length) break;
    const edge = (q + sorted[j]!) / 2;
    if (edges.length === 0 || edge > edges[edges.length - 1]!) edges.push(edge);
  }
  return edges;
}

/** The bin of x for these edges (binary search). */
export function binOf(edges: readonly number[], x: number): number {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (x <= edges[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
