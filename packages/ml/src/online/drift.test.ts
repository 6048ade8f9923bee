import { describe, expect, it } from 'vitest';
import { referenceDistribution, type FeatureDistribution } from '../drift/psi.js';
import { prng } from '../random.js';
import { DriftWindow } from './drift.js';

const normal = (random: () => number) => () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());

describe('DriftWindow', () => {
  const ref: FeatureDistribution = { edges: [0.5, 1.5], proportions: [0.5, 0.25, 0.25] };

  it('gives the PSI computed by hand', () => {
    const w = new DriftWindow({ a: ref }, ['a'], { window: 10, minRows: 4 });
    for (const v of [0, 1, 2]) w.add([v]);
    expect(w.psi()).toEqual({});
    w.add([2]);
    // Live shares 0.25 / 0.25 / 0.5 against 0.5 / 0.25 / 0.25.
    const hand = (0.25 - 0.5) * Math.log(0.25 / 0.5) + 0 + (0.5 - 0.25) * Math.log(0.5 / 0.25);
    expect(w.psi().a).toBeCloseTo(hand, 12);
    expect(w.rows).toBe(4);
  });

  it('slides: only the last `window` rows count, each bin at the rows it holds', () => {
    const w = new DriftWindow({ a: ref, b: ref }, ['a', 'x', 'b'], { window: 4, minRows: 1 });
    for (let i = 0; i < 10; i++) w.add([0, 99, i % 2]);
    for (let i = 0; i < 4; i++) w.add([2, 99, i % 2]);
    expect(w.rows).toBe(4);
    // a: everything in bin 2 now (shares 0 / 0 / 1, empty bins floored at 1e-4); b: 0.5 / 0.5 / 0.
    const e = 1e-4;
    expect(w.psi().a).toBeCloseTo((e - 0.5) * Math.log(e / 0.5) + (e - 0.25) * Math.log(e / 0.25) + (1 - 0.25) * Math.log(1 / 0.25), 12);
    expect(w.psi().b).toBeCloseTo(0 + (0.5 - 0.25) * Math.log(0.5 / 0.25) + (e - 0.25) * Math.log(e / 0.25), 12);
    expect(Object.keys(w.psi())).toEqual(['a', 'b']);
  });

  it('a shifted stream drifts above 0.2, an unshifted one stays below 0.1', () => {
    const draw = normal(prng(11));
    const reference = referenceDistribution(Array.from({ length: 5000 }, draw), 10);
    const w = new DriftWindow({ steady: reference, shifted: reference }, ['steady', 'shifted'], { window: 1000, minRows: 200 });
    for (let i = 0; i < 3000; i++) w.add([draw(), draw() + (i >= 1500 ? 1 : 0)]);
    const psi = w.psi();
    expect(psi.steady).toBeLessThan(0.1);
    expect(psi.shifted).toBeGreaterThan(0.2);
  });
});
