import { prng, shuffle } from '../random.js';

/**
 * A stratified split: each class shuffled with the seeded PRNG, `round(fraction · count)` of it to
 * `test`. Both index lists come back sorted, so the same seed gives the same split.
 */
export function stratifiedSplit(labels: ArrayLike<number>, fraction: number, seed: number): { train: number[]; test: number[] } {
  const random = prng(seed);
  const train: number[] = [];
  const test: number[] = [];
  for (const cls of [0, 1]) {
    const idx = shuffle(Array.from({ length: labels.length }, (_, i) => i).filter((i) => labels[i] === cls), random);
    const n = Math.round(fraction * idx.length);
    test.push(...idx.slice(0, n));
    train.push(...idx.slice(n));
  }
  return { train: train.sort((a, b) => a - b), test: test.sort((a, b) => a - b) };
}

/** Stratified k folds: fold[i] ∈ [0, k) for each row, classes spread evenly. */
export function stratifiedFolds(labels: ArrayLike<number>, k: number, seed: number): Uint8Array {
  const random = prng(seed);
  const fold = new Uint8Array(labels.length);
  for (const cls of [0, 1]) {
    const idx = shuffle(Array.from({ length: labels.length }, (_, i) => i).filter((i) => labels[i] === cls), random);
    idx.forEach((i, n) => (fold[i] = n % k));
  }
  return fold;
}

/**
 * The purge gap: the rows of `rows` whose label window (t, t + horizonMs] ends by `from`, i.e.
 * whose label cannot depend on anything after `from`. Order kept.
 */
export function purgeGap(times: ArrayLike<number>, rows: readonly number[], from: number, horizonMs: number): number[] {
  return rows.filter((i) => times[i]! + horizonMs <= from);
}

/**
 * A time-based split: the latest `fraction` of the rows by time is the test set, no shuffling.
 * Rows sharing a time stay on one side (ties go to the test set), so no test row is earlier than
 * any training row. With labels "fails within H" (`horizonMs` = H), training rows whose label
 * window reaches past `testFrom` (t + H > testFrom) are dropped (`purged` counts them): their
 * labels come from the test period. Both index lists come back sorted by index.
 */
export function timeSplit(times: ArrayLike<number>, fraction: number, horizonMs = 0): { train: number[]; test: number[]; testFrom: number | null; purged: number } {
  const order = Array.from({ length: times.length }, (_, i) => i).sort((a, b) => times[a]! - times[b]! || a - b);
  let cut = order.length - Math.round(fraction * order.length);
  while (cut > 0 && cut < order.length && times[order[cut - 1]!] === times[order[cut]!]) cut--;
  const testFrom = cut < order.length ? times[order[cut]!]! : null;
  const before = order.slice(0, cut).sort((a, b) => a - b);
  const train = testFrom === null ? before : purgeGap(times, before, testFrom, horizonMs);
  const test = order.slice(cut).sort((a, b) => a - b);
  return { train, test, testFrom, purged: before.length - train.length };
}

/**
 * Forward-chaining folds for choosing a threshold without looking into the future: the rows, in
 * time order, cut into k + 1 consecutive blocks of about equal size (rows sharing a time in one
 * block); fold j (1..k) is scored by a model fitted on blocks 0..j−1. Returns each row's block;
 * block 0 is only ever trained on.
 */
export function timeFolds(times: ArrayLike<number>, k: number): Uint8Array {
  const n = times.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => times[a]! - times[b]! || a - b);
  const block = new Uint8Array(n);
  let b = 0;
  for (let r = 0; r < n; r++) {
    const i = order[r]!;
    const tie = r > 0 && times[order[r - 1]!] === times[i];
    while (!tie && b < k && r >= Math.round(((b + 1) * n) / (k + 1))) b++;
    block[i] = b;
  }
  return block;
}

/**
 * The rows that fit the model scoring block `j` of `timeFolds`: those of blocks 0..j−1, less the
 * purge gap (rows whose label window (t, t + horizonMs] reaches past the block's first time).
 * Sorted by index.
 */
export function timeFoldTraining(times: ArrayLike<number>, block: ArrayLike<number>, j: number, horizonMs = 0): number[] {
  let from = Infinity;
  const earlier: number[] = [];
  for (let i = 0; i < block.length; i++) {
    if (block[i]! < j) earlier.push(i);
    else if (block[i] === j && times[i]! < from) from = times[i]!;
  }
  return from === Infinity ? earlier : purgeGap(times, earlier, from, horizonMs);
}
