import { mulberry32 } from '@strata/core';

/** A seeded PRNG (mulberry32): the same seed gives the same stream on every platform. */
export const prng = mulberry32;

/** Fisher–Yates shuffle in place with the given PRNG. */
export function shuffle<T>(xs: T[], random: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = xs[i]!;
    xs[i] = xs[j]!;
    xs[j] = t;
  }
  return xs;
}
