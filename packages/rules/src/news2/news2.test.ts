import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { severityRank, type Severity } from '../types.js';
import {
  NEWS2_PARAMETERS,
  NEWS2_SEVERITY,
  news2,
  news2LevelRank,
  type News2Input,
  type News2Level,
  type News2Parameter,
} from './news2.js';

/** Every parameter in its 0-point band. */
const NORMAL = {
  respiration_rate: 16,
  spo2: 97,
  on_oxygen: 0,
  systolic_bp: 120,
  heart_rate: 70,
  consciousness: 0,
  temperature: 37.0,
} as const satisfies Required<News2Input>;

/** The subscore of one parameter scored alone (undefined when it does not score). */
const alone = (p: News2Parameter, value: number): number | undefined => news2({ [p]: value }).subscores[p];

describe('news2 bands (RCP 2017 chart)', () => {
  // Each band boundary from both sides, plus the ends of the valid range.
  it.each<[News2Parameter, number, number]>([
    ['respiration_rate', 0, 3],
    ['respiration_rate', 8, 3],
    ['respiration_rate', 9, 1],
    ['respiration_rate', 11, 1],
    ['respiration_rate', 12, 0],
    ['respiration_rate', 20, 0],
    ['respiration_rate', 21, 2],
    ['respiration_rate', 24, 2],
    ['respiration_rate', 25, 3],
    ['respiration_rate', 100, 3],
    ['spo2', 0, 3],
    ['spo2', 91, 3],
    ['spo2', 92, 2],
    ['spo2', 93, 2],
    ['spo2', 94, 1],
    ['spo2', 95, 1],
    ['spo2', 96, 0],
    ['spo2', 100, 0],
    ['on_oxygen', 0, 0],
    ['on_oxygen', 1, 2],
    ['systolic_bp', 0, 3],
    ['systolic_bp', 90, 3],
    ['systolic_bp', 91, 2],
    ['systolic_bp', 100, 2],
    ['systolic_bp', 101, 1],
    ['systolic_bp', 110, 1],
    ['systolic_bp', 111, 0],
    ['systolic_bp', 219, 0],
    ['systolic_bp', 220, 3],
    ['systolic_bp', 400, 3],
    ['heart_rate', 0, 3],
    ['heart_rate', 40, 3],
    ['heart_rate', 41, 1],
    ['heart_rate', 50, 1],
    ['heart_rate', 51, 0],
    ['heart_rate', 90, 0],
    ['heart_rate', 91, 1],
    ['heart_rate', 110, 1],
    ['heart_rate', 111, 2],
    ['heart_rate', 130, 2],
    ['heart_rate', 131, 3],
    ['heart_rate', 300, 3],
    ['consciousness', 0, 0],
    ['consciousness', 1, 3],
    ['consciousness', 2, 3],
    ['consciousness', 3, 3],
    ['consciousness', 4, 3],
    ['temperature', 20, 3],
    ['temperature', 35.0, 3],
    ['temperature', 35.1, 1],
    ['temperature', 36.0, 1],
    ['temperature', 36.1, 0],
    ['temperature', 38.0, 0],
    ['temperature', 38.1, 1],
    ['temperature', 39.0, 1],
    ['temperature', 39.1, 2],
    ['temperature', 45, 2],
  ])('%s %s → %s', (p, value, points) => {
    const r = news2({ [p]: value });
    expect(r.subscores).toEqual({ [p]: points });
    expect(r.score).toBe(points);
  });

  it.each<[spo2: number, onOxygen: 0 | 1, points: number]>([
    [0, 0, 3],
    [83, 0, 3],
    [84, 0, 2],
    [85, 0, 2],
    [86, 0, 1],
    [87, 0, 1],
    [88, 0, 0],
    [92, 0, 0],
    [93, 0, 0],
    [97, 0, 0],
    [100, 0, 0],
    [0, 1, 3],
    [83, 1, 3],
    [84, 1, 2],
    [85, 1, 2],
    [86, 1, 1],
    [87, 1, 1],
    [88, 1, 0],
    [92, 1, 0],
    [93, 1, 1],
    [94, 1, 1],
    [95, 1, 2],
    [96, 1, 2],
    [97, 1, 3],
    [100, 1, 3],
  ])('scale 2: spo2 %s with on_oxygen %s → %s', (spo2, onOxygen, points) => {
    const r = news2({ spo2, on_oxygen: onOxygen }, { spo2Scale: 2 });
    expect(r.subscores).toEqual({ spo2: points, on_oxygen: onOxygen === 1 ? 2 : 0 });
  });

  it.each<[spo2: number, onOxygen: number | undefined, points: number]>([
    [86, undefined, 1],
    [93, undefined, 0],
    [97, undefined, 0],
    [97, 0.5, 0],
    [97, 2, 0],
  ])('scale 2: spo2 %s with on_oxygen %s scores as on air → %s', (spo2, onOxygen, points) => {
    const r = news2({ spo2, on_oxygen: onOxygen }, { spo2Scale: 2 });
    expect(r.subscores).toEqual({ spo2: points });
    expect(r.partial).toBe(true);
  });

  it('scale 1 is the default and ignores oxygen for spo2', () => {
    expect(news2({ spo2: 92 }).subscores.spo2).toBe(2);
    expect(news2({ spo2: 92 }, { spo2Scale: 1 }).subscores.spo2).toBe(2);
    expect(news2({ spo2: 92 }, { spo2Scale: 2 }).subscores.spo2).toBe(0);
    expect(news2({ spo2: 97, on_oxygen: 1 }).subscores).toEqual({ spo2: 0, on_oxygen: 2 });
  });
});

describe('news2 rounding', () => {
  it.each<[News2Parameter, number, number]>([
    ['respiration_rate', 8.49, 3],
    ['respiration_rate', 8.5, 1],
    ['respiration_rate', 20.4, 0],
    ['respiration_rate', 20.5, 2],
    ['respiration_rate', 24.5, 3],
    ['spo2', 91.5, 2],
    ['spo2', 95.49, 1],
    ['spo2', 95.5, 0],
    ['systolic_bp', 90.5, 2],
    ['systolic_bp', 110.5, 0],
    ['systolic_bp', 219.5, 3],
    ['heart_rate', 40.5, 1],
    ['heart_rate', 90.4, 0],
    ['heart_rate', 90.5, 1],
    ['heart_rate', 130.5, 3],
    ['temperature', 35.04, 3],
    ['temperature', 35.05, 1],
    ['temperature', 36.04, 1],
    ['temperature', 36.05, 0],
    ['temperature', 38.04, 0],
    ['temperature', 38.049, 0],
    ['temperature', 38.05, 1],
    ['temperature', 39.04, 1],
    ['temperature', 39.05, 2],
    // A binary rounding error short of the half (e.g. 3 * 6.35 + 1.45 for 20.5).
    ['respiration_rate', 20.499999999999996, 2],
    ['temperature', 38.04999999999999, 1],
  ])('%s %s → %s', (p, value, points) => {
    expect(alone(p, value)).toBe(points);
  });

  it('every temperature written with up to three decimals rounds half up to its tenth', () => {
    // Oracle in integer tenths of a degree, free of floating point.
    const byTenths = (t: number) => (t <= 350 ? 3 : t <= 360 ? 1 : t <= 380 ? 0 : t <= 390 ? 1 : 2);
    const wrong: string[] = [];
    for (let m = 20_000; m <= 45_000; m++) {
      const text = `${Math.trunc(m / 1000)}.${String(m % 1000).padStart(3, '0')}`;
      const tenths = Math.trunc(m / 100) + (m % 100 >= 50 ? 1 : 0);
      if (alone('temperature', Number(text)) !== byTenths(tenths)) wrong.push(text);
    }
    expect(wrong).toEqual([]);
  });

  it('a whole-number parameter scores as its value rounded half up', () => {
    const wholes = ['respiration_rate', 'spo2', 'systolic_bp', 'heart_rate'] as const;
    fc.assert(
      fc.property(
        fc.constantFrom(...wholes),
        fc.integer({ min: 1, max: 99 }),
        fc.double({ min: -0.5, max: 0.49, noNaN: true }),
        (p, n, fraction) => {
          expect(alone(p, n + fraction)).toBe(alone(p, n));
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('news2 levels', () => {
  it.each<[string, News2Input, number, News2Level, Severity | undefined]>([
    ['all normal', {}, 0, 'none', undefined],
    ['a single 1', { heart_rate: 95 }, 1, 'low', 'low'],
    ['4 without a 3', { respiration_rate: 22, heart_rate: 95, temperature: 38.5 }, 4, 'low', 'low'],
    ['a single 3, total 3', { consciousness: 2 }, 3, 'low-medium', 'medium'],
    ['a single 3, total 4', { consciousness: 2, heart_rate: 95 }, 4, 'low-medium', 'medium'],
    ['5 without a 3', { respiration_rate: 22, on_oxygen: 1, heart_rate: 95 }, 5, 'medium', 'high'],
    ['5 with a 3', { consciousness: 2, respiration_rate: 22 }, 5, 'medium', 'high'],
    ['6', { respiration_rate: 22, on_oxygen: 1, systolic_bp: 95 }, 6, 'medium', 'high'],
    ['6 from two 3s', { consciousness: 2, heart_rate: 35 }, 6, 'medium', 'high'],
    ['7', { respiration_rate: 22, on_oxygen: 1, systolic_bp: 95, heart_rate: 95 }, 7, 'high', 'critical'],
    [
      'the maximum, 20',
      { respiration_rate: 30, spo2: 85, on_oxygen: 1, systolic_bp: 80, heart_rate: 140, consciousness: 4, temperature: 34 },
      20,
      'high',
      'critical',
    ],
  ])('%s', (_, overrides, score, level, severity) => {
    const r = news2({ ...NORMAL, ...overrides });
    expect(r.score).toBe(score);
    expect(r.level).toBe(level);
    expect(r.severity).toBe(severity);
    expect(r.partial).toBe(false);
  });

  it('reaches 20 on scale 2 with high saturation on oxygen', () => {
    const r = news2(
      { respiration_rate: 30, spo2: 98, on_oxygen: 1, systolic_bp: 80, heart_rate: 140, consciousness: 4, temperature: 34 },
      { spo2Scale: 2 },
    );
    expect(r.score).toBe(20);
  });

  it('grades a partial score the same way', () => {
    expect(news2({ heart_rate: 35 })).toMatchObject({ score: 3, level: 'low-medium', partial: true });
  });

  it.each<[News2Level, Severity | undefined, number]>([
    ['none', undefined, 0],
    ['low', 'low', 1],
    ['low-medium', 'medium', 2],
    ['medium', 'high', 3],
    ['high', 'critical', 4],
  ])('level %s → severity %s, rank %s', (level, severity, rank) => {
    expect(NEWS2_SEVERITY[level]).toBe(severity);
    expect(news2LevelRank(level)).toBe(rank);
  });

  it('severity table is frozen', () => {
    expect(Object.isFrozen(NEWS2_SEVERITY)).toBe(true);
  });

  it('ranks levels in the order of their severities', () => {
    const levels: News2Level[] = ['none', 'low', 'low-medium', 'medium', 'high'];
    const bySeverity = levels.map((l) => {
      const s = NEWS2_SEVERITY[l];
      return s === undefined ? -1 : severityRank(s);
    });
    expect(levels.map(news2LevelRank)).toEqual([0, 1, 2, 3, 4]);
    expect(bySeverity).toEqual([...bySeverity].sort((a, b) => a - b));
  });
});

describe('news2 missing and invalid data', () => {
  it('empty input scores 0 with everything missing', () => {
    expect(news2({})).toEqual({
      score: 0,
      level: 'none',
      severity: undefined,
      partial: true,
      missing: [...NEWS2_PARAMETERS],
      invalid: [],
      subscores: {},
    });
  });

  it('a complete input is not partial and has a subscore per parameter', () => {
    expect(news2(NORMAL)).toEqual({
      score: 0,
      level: 'none',
      severity: undefined,
      partial: false,
      missing: [],
      invalid: [],
      subscores: { respiration_rate: 0, spo2: 0, on_oxygen: 0, systolic_bp: 0, heart_rate: 0, consciousness: 0, temperature: 0 },
    });
  });

  it('lists missing parameters in NEWS2 order, an undefined value counting as missing', () => {
    const r = news2({ temperature: 37, heart_rate: undefined, respiration_rate: 16 });
    expect(r.missing).toEqual(['spo2', 'on_oxygen', 'systolic_bp', 'heart_rate', 'consciousness']);
    expect(r.partial).toBe(true);
  });

  it.each<[News2Parameter, number]>([
    ...NEWS2_PARAMETERS.flatMap((p) => [NaN, Infinity, -Infinity].map((v): [News2Parameter, number] => [p, v])),
    ['respiration_rate', -0.1],
    ['respiration_rate', 100.4],
    ['respiration_rate', 101],
    ['spo2', -1],
    ['spo2', 100.4],
    ['spo2', 101],
    ['on_oxygen', -1],
    ['on_oxygen', 0.5],
    ['on_oxygen', 2],
    ['systolic_bp', -1],
    ['systolic_bp', 401],
    ['heart_rate', -1],
    ['heart_rate', 301],
    ['consciousness', -1],
    ['consciousness', 0.5],
    ['consciousness', 4.000001],
    ['consciousness', 5],
    ['temperature', 19.9],
    ['temperature', 19.96],
    ['temperature', 45.04],
    ['temperature', 45.1],
  ])('%s %s is invalid and scores nothing', (p, value) => {
    const r = news2({ ...NORMAL, heart_rate: 95, [p]: value });
    expect(r.invalid).toEqual([p]);
    expect(r.missing).toEqual([]);
    expect(r.partial).toBe(true);
    expect(r.subscores).not.toHaveProperty(p);
    expect(r.score).toBe(p === 'heart_rate' ? 0 : 1);
  });

  it('lists invalid parameters in NEWS2 order and scores the rest', () => {
    const r = news2({ ...NORMAL, temperature: NaN, heart_rate: 95, consciousness: 1.5, respiration_rate: 500 });
    expect(r.invalid).toEqual(['respiration_rate', 'consciousness', 'temperature']);
    expect(r.subscores).toEqual({ spo2: 0, on_oxygen: 0, systolic_bp: 0, heart_rate: 1 });
    expect(r).toMatchObject({ score: 1, level: 'low', partial: true, missing: [] });
  });
});

describe('news2 properties', () => {
  /** Valid range of each parameter, to generate values around it. */
  const RANGES: Record<News2Parameter, [number, number]> = {
    respiration_rate: [0, 100],
    spo2: [0, 100],
    on_oxygen: [0, 1],
    systolic_bp: [0, 400],
    heart_rate: [0, 300],
    consciousness: [0, 4],
    temperature: [20, 45],
  };
  const around = ([min, max]: [number, number]) =>
    fc.oneof(
      fc.double(),
      fc.double({ min: min - 10, max: max + 10 }),
      fc.integer({ min: min - 2, max: max + 2 }),
      fc.integer({ min: Math.round(min * 10), max: Math.round(max * 10) }).map((t) => t / 10),
    );
  const inputArb: fc.Arbitrary<News2Input> = fc.record(
    Object.fromEntries(NEWS2_PARAMETERS.map((p) => [p, around(RANGES[p])])) as Record<News2Parameter, fc.Arbitrary<number>>,
    { requiredKeys: [] },
  );
  const scaleArb = fc.constantFrom<1 | 2>(1, 2);
  const RUNS = { numRuns: 3000 };

  it('score is the sum of the subscores, each 0–3, and lies in 0–20', () => {
    fc.assert(
      fc.property(inputArb, scaleArb, (input, spo2Scale) => {
        const r = news2(input, { spo2Scale });
        const points = Object.values(r.subscores);
        for (const s of points) expect([0, 1, 2, 3]).toContain(s);
        expect(r.score).toBe(points.reduce((a, b) => a + b, 0));
        expect(r.score).toBeGreaterThanOrEqual(0);
        expect(r.score).toBeLessThanOrEqual(20);
      }),
      RUNS,
    );
  });

  it('each parameter is exactly one of missing, invalid or scored, listed in NEWS2 order', () => {
    fc.assert(
      fc.property(inputArb, scaleArb, (input, spo2Scale) => {
        const r = news2(input, { spo2Scale });
        const scored = Object.keys(r.subscores);
        expect([...r.missing, ...r.invalid, ...scored].sort()).toEqual([...NEWS2_PARAMETERS].sort());
        expect(r.missing).toEqual(NEWS2_PARAMETERS.filter((p) => input[p] === undefined));
        expect(r.invalid).toEqual(NEWS2_PARAMETERS.filter((p) => r.invalid.includes(p)));
        expect(scored).toEqual(NEWS2_PARAMETERS.filter((p) => p in r.subscores));
        expect(r.partial).toBe(r.missing.length + r.invalid.length > 0);
      }),
      RUNS,
    );
  });

  it('level follows the total, then any single 3; severity follows the level', () => {
    fc.assert(
      fc.property(inputArb, scaleArb, (input, spo2Scale) => {
        const r = news2(input, { spo2Scale });
        const anyThree = Object.values(r.subscores).includes(3);
        const expected: News2Level =
          r.score === 0 ? 'none' : r.score >= 7 ? 'high' : r.score >= 5 ? 'medium' : anyThree ? 'low-medium' : 'low';
        expect(r.level).toBe(expected);
        expect(r.severity).toBe(NEWS2_SEVERITY[expected]);
      }),
      RUNS,
    );
  });

  it('a subscore depends only on its own value (spo2 also on on_oxygen)', () => {
    fc.assert(
      fc.property(inputArb, scaleArb, (input, spo2Scale) => {
        const r = news2(input, { spo2Scale });
        for (const p of NEWS2_PARAMETERS) {
          const own: News2Input = p === 'spo2' ? { spo2: input.spo2, on_oxygen: input.on_oxygen } : { [p]: input[p] };
          const single = news2(own, { spo2Scale });
          expect(single.subscores[p]).toBe(r.subscores[p]);
          expect(single.invalid.includes(p)).toBe(r.invalid.includes(p));
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('never throws for any double, and non-finite values are invalid', () => {
    const anyDoubles: fc.Arbitrary<News2Input> = fc.record(
      Object.fromEntries(NEWS2_PARAMETERS.map((p) => [p, fc.double()])) as Record<News2Parameter, fc.Arbitrary<number>>,
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(anyDoubles, scaleArb, (input, spo2Scale) => {
        const r = news2(input, { spo2Scale });
        for (const p of NEWS2_PARAMETERS) {
          const v = input[p];
          if (v !== undefined && !Number.isFinite(v)) expect(r.invalid).toContain(p);
        }
        expect(Number.isInteger(r.score)).toBe(true);
      }),
      RUNS,
    );
  });
});
