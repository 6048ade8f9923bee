import { expect, it } from 'vitest';
import { proportions, psi, psiFromProportions, referenceDistribution } from './psi.js';

it('identical distributions have PSI 0', () => {
  expect(psiFromProportions([0.25, 0.25, 0.5], [0.25, 0.25, 0.5])).toBe(0);
  const values = Array.from({ length: 1000 }, (_, i) => i);
  expect(psi(referenceDistribution(values), values)).toBe(0);
});

it('a known shift gives the PSI computed by hand', () => {
  // (0.4−0.5)·ln(0.4/0.5) + (0.6−0.5)·ln(0.6/0.5) = 0.1·ln(1.25) + 0.1·ln(1.2)
  expect(psiFromProportions([0.5, 0.5], [0.4, 0.6])).toBeCloseTo(0.1 * Math.log(1.25) + 0.1 * Math.log(1.2), 12);
  // Deciles of 0..999, live data all in the top half: five bins at 0.2, five (floored) at 1e-4.
  const ref = referenceDistribution(Array.from({ length: 1000 }, (_, i) => i), 10);
  expect(ref.edges).toHaveLength(9);
  expect(ref.proportions.every((p) => Math.abs(p - 0.1) < 1e-12)).toBe(true);
  const shifted = Array.from({ length: 500 }, (_, i) => 500 + i);
  const hand = 5 * (0.2 - 0.1) * Math.log(0.2 / 0.1) + 5 * (1e-4 - 0.1) * Math.log(1e-4 / 0.1);
  expect(psi(ref, shifted)).toBeCloseTo(hand, 12);
  expect(psi(ref, shifted)).toBeGreaterThan(0.2);
});

it('discrete features get one bin per value', () => {
  const ref = referenceDistribution([0, 0, 0, 1, 2, 2], 10);
  expect(ref.edges).toEqual([0.5, 1.5]);
  expect(ref.proportions).toEqual([0.5, 1 / 6, 2 / 6]);
  expect(proportions(ref.edges, [2, 2])).toEqual([0, 0, 1]);
});
