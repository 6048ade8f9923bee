import { expect, it } from 'vitest';
import { averagePrecision, bestF1Threshold, classMetrics } from './metrics.js';
import { stratifiedSplit } from './split.js';

// By hand: at threshold 0.5 the predicted failures are 0.9 (tp), 0.8 (fp), 0.7 (tp), 0.6 (fp);
// 0.3 is a missed failure. tp 2, fp 2, fn 1, tn 3 → precision 1/2, recall 2/3, F1 4/7.
// AP: recall steps at 0.9 (P 1), 0.7 (P 2/3), 0.3 (P 3/6) → (1 + 2/3 + 1/2) / 3 = 13/18.
const labels = [1, 0, 1, 0, 0, 1, 0, 0];
const scores = [0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1];

it('precision, recall, F1, PR-AUC and the confusion matrix match a hand computation', () => {
  const m = classMetrics(labels, scores, 0.5);
  expect(m.confusion).toEqual({ tp: 2, fp: 2, fn: 1, tn: 3 });
  expect(m.precision).toBeCloseTo(1 / 2, 12);
  expect(m.recall).toBeCloseTo(2 / 3, 12);
  expect(m.f1).toBeCloseTo(4 / 7, 12);
  expect(m.prAuc).toBeCloseTo(13 / 18, 12);
  expect(m.positives).toBe(3);
});

it('average precision treats tied scores as one threshold', () => {
  // All tied: one step to recall 1 at precision 2/4.
  expect(averagePrecision([1, 0, 1, 0], [0.5, 0.5, 0.5, 0.5])).toBeCloseTo(0.5, 12);
  expect(averagePrecision([0, 0], [0.1, 0.2])).toBe(0);
});

it('the best-F1 threshold sits between the chosen score and the next lower one', () => {
  // F1 by cut (3 failures): after 0.9 → 2/4, after 0.8 → 4/5 (best), 0.7 → 4/6, 0.4 → 4/7, 0.3 → 6/8.
  expect(bestF1Threshold([1, 1, 0, 0, 1], [0.9, 0.8, 0.7, 0.4, 0.3])).toBeCloseTo(0.75, 12);
});

it('a stratified split keeps the class shares and depends only on the seed', () => {
  const y = Array.from({ length: 1000 }, (_, i) => (i % 10 === 0 ? 1 : 0));
  const a = stratifiedSplit(y, 0.2, 7);
  expect(a.test.length).toBe(200);
  expect(a.test.filter((i) => y[i] === 1).length).toBe(20);
  expect(stratifiedSplit(y, 0.2, 7)).toEqual(a);
  expect(stratifiedSplit(y, 0.2, 8).test).not.toEqual(a.test);
});
