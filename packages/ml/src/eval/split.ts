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
