/**
 * Drift of live feature rows against an artifact's reference distributions: PSI per feature over
 * the last `window` rows. Each row is binned once with the reference's edges; a ring of bin
 * indices (window × features) and running counts per bin make `add` O(features) and memory
 * O(window × features), whatever the stream's length. `psi()` turns the counts into proportions.
 */
import { psiFromProportions, type FeatureDistribution } from '../drift/psi.js';
import { binOf } from '../features/bins.js';

export interface DriftWindowOptions {
  /** Rows kept (the sliding window). Default 1,000. */
  readonly window?: number;
  /** Rows needed before `psi()` reports anything. Default 200 (at most `window`). */
  readonly minRows?: number;
}

export class DriftWindow {
  /** Features with a reference, in row order (index into the rows given to `add`). */
  private readonly tracked: { readonly name: string; readonly column: number; readonly ref: FeatureDistribution; readonly counts: Float64Array }[];
  private readonly ring: Uint16Array;
  private readonly window: number;
  private readonly minRows: number;
  private next = 0;
  private filled = 0;

  /** `features`: the names of the columns of the rows `add` will get; those without a reference are not tracked. */
  constructor(reference: Readonly<Record<string, FeatureDistribution>>, features: readonly string[], opts: DriftWindowOptions = {}) {
    this.window = Math.max(1, Math.floor(opts.window ?? 1000));
    this.minRows = Math.min(this.window, Math.max(1, Math.floor(opts.minRows ?? 200)));
    this.tracked = features.flatMap((name, column) => {
      const ref = reference[name];
      return ref && ref.proportions.length === ref.edges.length + 1 && ref.edges.length < 65_535 ? [{ name, column, ref, counts: new Float64Array(ref.proportions.length) }] : [];
    });
    this.ring = new Uint16Array(this.window * this.tracked.length);
  }

  /** Rows in the window. */
  get rows(): number {
    return this.filled;
  }

  /** Adds one encoded row (columns as `features`), evicting the oldest when the window is full. */
  add(x: ArrayLike<number>): void {
    const d = this.tracked.length;
    const at = this.next * d;
    const evict = this.filled === this.window;
    for (let t = 0; t < d; t++) {
      const f = this.tracked[t]!;
      if (evict) f.counts[this.ring[at + t]!]!--;
      const b = binOf(f.ref.edges, x[f.column]!);
      this.ring[at + t] = b;
      f.counts[b]!++;
    }
    if (!evict) this.filled++;
    this.next = (this.next + 1) % this.window;
  }

  /** PSI per tracked feature over the window; empty until `minRows` rows. */
  psi(): Record<string, number> {
    const out: Record<string, number> = {};
    if (this.filled < this.minRows) return out;
    for (const f of this.tracked) out[f.name] = psiFromProportions(f.ref.proportions, Array.from(f.counts, (c) => c / this.filled));
    return out;
  }
}
