/**
 * NEWS2, the National Early Warning Score 2 (Royal College of Physicians, 2017): seven
 * observations, each scored 0–3 from the RCP chart, summed to 0–20 and mapped to the RCP
 * clinical-response level. A pure function of the latest value of each parameter.
 *
 * - Rounding: a measured value is rounded half up to the chart's resolution before the lookup
 *   (whole numbers; 0.1 °C for temperature), so 38.05 scores as 38.1. A 1e-9 nudge makes a value
 *   that binary arithmetic left just short of a half (38.04999999999999 for 38.05) round as the
 *   decimal it stands for.
 * - Validity: a value outside its physiological range (checked before rounding), non-finite, or
 *   not one of its codes (on_oxygen, consciousness) is invalid and, like a missing one, scores
 *   nothing; either makes the result `partial`, so a partial score is a lower bound.
 * - SpO2 scale 2 needs to know whether the patient is on oxygen: when on_oxygen is missing or
 *   invalid, saturations of 93% and above score as on air.
 */
import type { Severity } from '../types.js';

export const NEWS2_PARAMETERS = ['respiration_rate', 'spo2', 'on_oxygen', 'systolic_bp', 'heart_rate', 'consciousness', 'temperature'] as const;
export type News2Parameter = (typeof NEWS2_PARAMETERS)[number];

/** Metric values by NEWS2 parameter name (the telemetry metric names are the same). */
export type News2Input = Partial<Record<News2Parameter, number>>;

/** RCP clinical response: `low-medium` is a score of 3 in one parameter with a total under 5. */
export type News2Level = 'none' | 'low' | 'low-medium' | 'medium' | 'high';

export interface News2Result {
  /** Total of the scored parameters, 0–20. */
  score: number;
  level: News2Level;
  /** The alert severity for `level` (see `NEWS2_SEVERITY`); undefined for `none`. */
  severity: Severity | undefined;
  /** True when any parameter is missing or invalid. */
  partial: boolean;
  /** Parameters absent from the input, in `NEWS2_PARAMETERS` order. */
  missing: News2Parameter[];
  /** Parameters present but not scorable (non-finite, out of range, unknown code), in order. */
  invalid: News2Parameter[];
  /** Points of each scored parameter. */
  subscores: Partial<Record<News2Parameter, number>>;
}

export const NEWS2_SEVERITY: Readonly<Record<News2Level, Severity | undefined>> = Object.freeze({
  none: undefined,
  low: 'low',
  'low-medium': 'medium',
  medium: 'high',
  high: 'critical',
});

const LEVEL_RANK: Readonly<Record<News2Level, number>> = { none: 0, low: 1, 'low-medium': 2, medium: 3, high: 4 };

/** none 0, low 1, low-medium 2, medium 3, high 4. */
export function news2LevelRank(level: News2Level): number {
  return LEVEL_RANK[level];
}

/** A parameter's points for a value, or undefined when the value is invalid. */
type Scorer = (value: number) => number | undefined;

/**
 * A measured parameter: valid in [min, max]; after rounding, the points of the first band whose
 * inclusive upper bound holds the value, or `above` past the last band.
 */
function measured(
  min: number,
  max: number,
  round: (v: number) => number,
  bands: readonly (readonly [upTo: number, points: number])[],
  above: number,
): Scorer {
  return (value) => {
    if (!(value >= min && value <= max)) return undefined;
    const v = round(value);
    for (const [upTo, points] of bands) if (v <= upTo) return points;
    return above;
  };
}

/** A coded parameter: the code is an index into `points`; anything else is invalid. */
function coded(points: readonly number[]): Scorer {
  return (value) => (Number.isInteger(value) ? points[value] : undefined);
}

/** Rounds half up (Math.round goes towards +∞; the ranges hold no negative values) to `step`. */
const roundTo = (step: 1 | 0.1) => {
  const perUnit = 1 / step;
  return (v: number): number => Math.round(v * perUnit + 1e-9) / perUnit;
};
const toWhole = roundTo(1);
const toTenth = roundTo(0.1);

const SPO2_SCALE_1 = measured(0, 100, toWhole, [[91, 3], [93, 2], [95, 1]], 0);
const SPO2_SCALE_2_AIR = measured(0, 100, toWhole, [[83, 3], [85, 2], [87, 1]], 0);
const SPO2_SCALE_2_OXYGEN = measured(0, 100, toWhole, [[83, 3], [85, 2], [87, 1], [92, 0], [94, 1], [96, 2]], 3);

const SCORERS: Readonly<Record<Exclude<News2Parameter, 'spo2'>, Scorer>> = {
  respiration_rate: measured(0, 100, toWhole, [[8, 3], [11, 1], [20, 0], [24, 2]], 3),
  /** 0 air, 1 supplemental oxygen. */
  on_oxygen: coded([0, 2]),
  systolic_bp: measured(0, 400, toWhole, [[90, 3], [100, 2], [110, 1], [219, 0]], 3),
  heart_rate: measured(0, 300, toWhole, [[40, 3], [50, 1], [90, 0], [110, 1], [130, 2]], 3),
  /** ACVPU: 0 alert, 1 new confusion, 2 voice, 3 pain, 4 unresponsive. */
  consciousness: coded([0, 3, 3, 3, 3]),
  temperature: measured(20, 45, toTenth, [[35.0, 3], [36.0, 1], [38.0, 0], [39.0, 1]], 2),
};

/** Scores the present parameters; never throws. `spo2Scale` 2 is for hypercapnic respiratory failure. */
export function news2(input: News2Input, opts: { spo2Scale?: 1 | 2 } = {}): News2Result {
  const spo2 = opts.spo2Scale === 2 ? (input.on_oxygen === 1 ? SPO2_SCALE_2_OXYGEN : SPO2_SCALE_2_AIR) : SPO2_SCALE_1;
  const missing: News2Parameter[] = [];
  const invalid: News2Parameter[] = [];
  const subscores: Partial<Record<News2Parameter, number>> = {};
  let score = 0;
  let anyThree = false;
  for (const p of NEWS2_PARAMETERS) {
    const value = input[p];
    if (value === undefined) {
      missing.push(p);
      continue;
    }
    const points = (p === 'spo2' ? spo2 : SCORERS[p])(value);
    if (points === undefined) {
      invalid.push(p);
      continue;
    }
    subscores[p] = points;
    score += points;
    if (points === 3) anyThree = true;
  }
  const level = levelOf(score, anyThree);
  const partial = missing.length + invalid.length > 0;
  return { score, level, severity: NEWS2_SEVERITY[level], partial, missing, invalid, subscores };
}

function levelOf(score: number, anyThree: boolean): News2Level {
  if (score === 0) return 'none';
  if (score >= 7) return 'high';
  if (score >= 5) return 'medium';
  return anyThree ? 'low-medium' : 'low';
}
