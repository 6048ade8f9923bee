import { describe, expect, it } from 'vitest';
import { mlErrors } from '../errors.js';
import { AI4I_FAILURE_MODES, AI4I_SCHEMA, defineFeatureSchema, type FeatureSchema } from './schema.js';

const base = (extra: FeatureSchema['features'][number]): FeatureSchema => ({
  ...AI4I_SCHEMA,
  leaky: [],
  features: [...AI4I_SCHEMA.features, extra],
});

describe('feature schema: no label leakage', () => {
  it.each(AI4I_FAILURE_MODES)('refuses the failure-mode column %s as a feature, even when not declared leaky', (column) => {
    expect(() => defineFeatureSchema(base({ name: 'mode', kind: 'number', column }))).toThrow(expect.objectContaining({ code: mlErrors.STRATA_ERR_ML_LEAKAGE.code }));
  });

  it('refuses a failure mode by feature name, whatever its case or column', () => {
    expect(() => defineFeatureSchema(base({ name: 'osf', kind: 'number', column: 'Something' }))).toThrow(/osf would leak the label: OSF is a failure-mode column/);
  });

  it('refuses the label itself and declared leaky columns', () => {
    expect(() => defineFeatureSchema(base({ name: 'failed', kind: 'number', column: 'Machine failure' }))).toThrow(expect.objectContaining({ code: mlErrors.STRATA_ERR_ML_LEAKAGE.code }));
    expect(() => defineFeatureSchema({ ...base({ name: 'ticket', kind: 'number', column: 'Repair ticket' }), leaky: ['Repair ticket'] })).toThrow(/declared leaky/);
  });

  it('the AI4I schema reads none of the failure-mode columns', () => {
    const columns = AI4I_SCHEMA.features.flatMap((f) => ('column' in f ? [f.column] : []));
    expect(columns).toEqual(['Type', 'Air temperature [K]', 'Process temperature [K]', 'Rotational speed [rpm]', 'Torque [Nm]', 'Tool wear [min]']);
  });

  it('refuses unsound schemas with a schema error', () => {
    expect(() => defineFeatureSchema(base({ name: 'torqueNm', kind: 'number', column: 'X' }))).toThrow(/appears twice/);
    expect(() => defineFeatureSchema(base({ name: 'x', kind: 'derived', op: 'product', of: ['powerW', 'torqueNm'] }))).toThrow(/input features/);
  });
});
