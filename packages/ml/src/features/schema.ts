/**
 * Feature schemas: which input fields a model reads, from which CSV column, how they are encoded,
 * and which features are derived from them. A schema is plain JSON (it travels in the artifact).
 *
 * Invariant: no feature (by name or by source column) may be the label or a column that leaks it.
 * For AI4I the five failure-mode columns (TWF, HDF, PWF, OSF, RNF) are set exactly when
 * `Machine failure` is (bar a few rows), so they are refused always, whatever `leaky` says.
 * `assertFeatureSchema` is called wherever a schema enters (define, load, train, artifact), so a
 * schema object edited by hand cannot slip one through.
 */
import { mlErrors } from '../errors.js';

export type FeatureSpec =
  | { readonly name: string; readonly kind: 'number'; readonly column: string }
  /** An ordered category encoded as its index in `levels` (AI4I's L < M < H quality). */
  | { readonly name: string; readonly kind: 'category'; readonly column: string; readonly levels: readonly string[] }
  /** Computed from two input features: `scale · (a × b)` or `scale · (a − b)`. Not part of the input. */
  | { readonly name: string; readonly kind: 'derived'; readonly op: 'product' | 'difference'; readonly of: readonly [string, string]; readonly scale?: number };

export interface FeatureSchema {
  readonly label: { readonly name: string; readonly column: string };
  readonly features: readonly FeatureSpec[];
  /** Further columns that leak the label (the AI4I failure modes are refused in any case). */
  readonly leaky: readonly string[];
}

/** AI4I 2020's failure-mode columns: each one implies `Machine failure`. Never features. */
export const AI4I_FAILURE_MODES = ['TWF', 'HDF', 'PWF', 'OSF', 'RNF'] as const;

const NAME = /^[a-z][A-Za-z0-9]{0,63}$/;
const normalise = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, '');

/** Input features (those a caller sends), in schema order. */
export function inputFeatures(schema: FeatureSchema): Exclude<FeatureSpec, { kind: 'derived' }>[] {
  return schema.features.filter((f): f is Exclude<FeatureSpec, { kind: 'derived' }> => f.kind !== 'derived');
}

/** Throws `STRATA_ERR_ML_LEAKAGE` or `STRATA_ERR_ML_SCHEMA` unless the schema is sound. */
export function assertFeatureSchema(schema: FeatureSchema): void {
  const bad = (reason: string) => mlErrors.STRATA_ERR_ML_SCHEMA({ reason });
  if (!schema || typeof schema !== 'object' || !Array.isArray(schema.features) || !schema.label) throw bad('expected {label, features, leaky}');
  const forbidden = new Map<string, string>();
  for (const c of AI4I_FAILURE_MODES) forbidden.set(normalise(c), `${c} is a failure-mode column`);
  for (const c of schema.leaky ?? []) forbidden.set(normalise(c), `${c} is declared leaky`);
  forbidden.set(normalise(schema.label.name), `it is the label (${schema.label.name})`);
  forbidden.set(normalise(schema.label.column), `it is the label column (${schema.label.column})`);
  if (schema.features.length === 0) throw bad('no features');
  const seen = new Set<string>();
  for (const f of schema.features) {
    for (const key of [f.name, 'column' in f ? f.column : undefined]) {
      const reason = key === undefined ? undefined : forbidden.get(normalise(key));
      if (reason) throw mlErrors.STRATA_ERR_ML_LEAKAGE({ feature: f.name, reason });
    }
    if (typeof f.name !== 'string' || !NAME.test(f.name)) throw bad(`feature name ${JSON.stringify(f.name)} must match ${NAME}`);
    if (seen.has(f.name)) throw bad(`feature ${f.name} appears twice`);
    if (f.kind === 'category') {
      if (!Array.isArray(f.levels) || f.levels.length === 0 || new Set(f.levels).size !== f.levels.length) throw bad(`category ${f.name} needs distinct levels`);
    } else if (f.kind === 'derived') {
      if (f.op !== 'product' && f.op !== 'difference') throw bad(`derived ${f.name}: op must be product or difference`);
      for (const src of f.of ?? []) {
        const from = schema.features.find((g) => g.name === src);
        if (!from || from.kind === 'derived') throw bad(`derived ${f.name} must be made of input features, not ${src}`);
      }
      if (f.of?.length !== 2) throw bad(`derived ${f.name} needs two input features`);
      if (f.scale !== undefined && !Number.isFinite(f.scale)) throw bad(`derived ${f.name}: scale must be a number`);
    } else if (f.kind !== 'number') {
      throw bad(`feature ${String(f.name)} has unknown kind ${String((f as { kind: unknown }).kind)}`);
    }
    seen.add(f.name);
  }
}

/** A checked, frozen schema. */
export function defineFeatureSchema(schema: FeatureSchema): FeatureSchema {
  assertFeatureSchema(schema);
  return Object.freeze(structuredClone(schema));
}

/**
 * The AI4I 2020 schema: type (L/M/H), air and process temperature, speed, torque, tool wear, and
 * three derived features that match how the data set's failures were simulated: power (W), the
 * process–air temperature difference and the tool-wear × torque strain.
 */
export const AI4I_SCHEMA: FeatureSchema = defineFeatureSchema({
  label: { name: 'machineFailure', column: 'Machine failure' },
  features: [
    { name: 'type', kind: 'category', column: 'Type', levels: ['L', 'M', 'H'] },
    { name: 'airTemperatureK', kind: 'number', column: 'Air temperature [K]' },
    { name: 'processTemperatureK', kind: 'number', column: 'Process temperature [K]' },
    { name: 'rotationalSpeedRpm', kind: 'number', column: 'Rotational speed [rpm]' },
    { name: 'torqueNm', kind: 'number', column: 'Torque [Nm]' },
    { name: 'toolWearMin', kind: 'number', column: 'Tool wear [min]' },
    { name: 'powerW', kind: 'derived', op: 'product', of: ['torqueNm', 'rotationalSpeedRpm'], scale: (2 * Math.PI) / 60 },
    { name: 'temperatureDifferenceK', kind: 'derived', op: 'difference', of: ['processTemperatureK', 'airTemperatureK'] },
    { name: 'strainMinNm', kind: 'derived', op: 'product', of: ['toolWearMin', 'torqueNm'] },
  ],
  leaky: [...AI4I_FAILURE_MODES],
});
