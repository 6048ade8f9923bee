import { describe, expect, it } from 'vitest';
import { mlErrors } from '../errors.js';
import { parseLabelledCsv } from '../data/labelled-csv.js';
import { ai4iCsv } from '../testing.js';
import { AI4I_SCHEMA, type FeatureSchema } from '../features/schema.js';
import { encodeRows } from '../features/encode.js';
import { gbtContributions } from '../models/gbt.js';
import { loadArtifact, predict } from './predict.js';
import { trainModel, type TrainOptions } from './train.js';

// A small generated data set in the AI4I format (../testing.ts: AI4I's own simulated failure causes).
const data = parseLabelledCsv(ai4iCsv(1500, 3), AI4I_SCHEMA, { source: 'generated.csv' });
const small: TrainOptions = { kind: 'gbt', seed: 7, gbt: { nTrees: 15, maxDepth: 3 } };
const row = { type: 'M', airTemperatureK: 298.1, processTemperatureK: 308.6, rotationalSpeedRpm: 1551, torqueNm: 42.8, toolWearMin: 120 };

describe('training', () => {
  it('refuses a schema with a failure-mode column, even one built by hand', () => {
    const leaky: FeatureSchema = { ...AI4I_SCHEMA, features: [...AI4I_SCHEMA.features, { name: 'heat', kind: 'number', column: 'HDF' }] };
    expect(() => trainModel(data, leaky, small)).toThrow(expect.objectContaining({ code: mlErrors.STRATA_ERR_ML_LEAKAGE.code }));
  });

  it.each(['gbt', 'logistic'] as const)('%s: the same data and seed give the same artifact, byte for byte', (kind) => {
    const opts: TrainOptions = { ...small, kind, logistic: { iterations: 100 } };
    const a = JSON.stringify(trainModel(data, AI4I_SCHEMA, opts));
    expect(JSON.stringify(trainModel(data, AI4I_SCHEMA, opts))).toBe(a);
  });

  it('another seed gives another split and other trees', () => {
    const a = trainModel(data, AI4I_SCHEMA, small);
    const b = trainModel(data, AI4I_SCHEMA, { ...small, seed: 8 });
    expect(JSON.stringify(b.model)).not.toBe(JSON.stringify(a.model));
  });

  it('records what it was trained on, its metrics and the reference distributions', () => {
    const a = trainModel(data, AI4I_SCHEMA, small);
    expect(a.data).toMatchObject({ source: 'generated.csv', sha256: data.sha256, rows: 1500 });
    expect(a.split).toMatchObject({ holdout: 0.2, trainRows: 1200, testRows: 300, thresholdFolds: 4 });
    expect(a.metrics.test?.rows).toBe(300);
    expect(a.metrics.test!.f1).toBeGreaterThan(0.5);
    expect(Object.keys(a.reference)).toEqual(AI4I_SCHEMA.features.map((f) => f.name));
    expect(a.reference.type!.edges).toEqual([0.5, 1.5]);
  });

  it('refuses bad options', () => {
    expect(() => trainModel(data, AI4I_SCHEMA, { ...small, gbt: { maxDepth: 0 } })).toThrow(expect.objectContaining({ code: mlErrors.STRATA_ERR_ML_BAD_OPTION.code }));
    expect(() => trainModel(data, AI4I_SCHEMA, { ...small, holdout: 0.9 })).toThrow(/holdout/);
  });
});

describe('artifact and predict', () => {
  const gbt = trainModel(data, AI4I_SCHEMA, small);
  const logistic = trainModel(data, AI4I_SCHEMA, { kind: 'logistic', logistic: { iterations: 200 } });
  const rows = data.rows.slice(0, 50);

  it.each([['gbt', gbt], ['logistic', logistic]] as const)('%s: a JSON round trip predicts exactly the same', (_, artifact) => {
    const back = loadArtifact(JSON.stringify(artifact));
    expect(predict(back, rows)).toEqual(predict(artifact, rows));
  });

  it('returns probability, label by the threshold, and the top contributing features', () => {
    const [p] = predict(gbt, [row], { top: 2 });
    expect(p!.probability).toBeGreaterThan(0);
    expect(p!.probability).toBeLessThan(1);
    expect(p!.label).toBe(p!.probability >= gbt.threshold ? 1 : 0);
    expect(p!.contributions).toHaveLength(2);
    expect(Math.abs(p!.contributions[0]!.contribution)).toBeGreaterThanOrEqual(Math.abs(p!.contributions[1]!.contribution));
    const [l] = predict(logistic, [row]);
    expect(l!.contributions.map((c) => c.feature)).toHaveLength(3);
  });

  it('tree contributions add up to the margin along the decision path', () => {
    if (gbt.model.kind !== 'gbt') throw new Error('expected trees');
    const x = encodeRows(AI4I_SCHEMA, [row])[0]!;
    const { margin, bias, contributions } = gbtContributions(gbt.model, x);
    expect(bias + contributions.reduce((s, c) => s + c, 0)).toBeCloseTo(margin, 10);
  });

  it('rejects missing, extra, non-numeric and unknown-category fields, naming each', () => {
    const { torqueNm: _drop, ...missing } = row;
    const err = (() => {
      try {
        predict(gbt, [missing, { ...row, TWF: 0 }, { ...row, torqueNm: '42' }, { ...row, type: 'X' }, { ...row, toolWearMin: Number.NaN }, 'row']);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(mlErrors.STRATA_ERR_ML_INVALID_INPUT.is(err)).toBe(true);
    const e = err as { statusCode: number; details: { issues: { path: string; problem: string }[] }; message: string };
    expect(e.statusCode).toBe(400);
    expect(e.details.issues).toEqual([
      { path: '/0/torqueNm', problem: 'missing' },
      { path: '/1/TWF', problem: 'unknown field' },
      { path: '/2/torqueNm', problem: 'must be a finite number, got "42"' },
      { path: '/3/type', problem: 'must be one of L, M, H, got "X"' },
      { path: '/4/toolWearMin', problem: 'must be a finite number, got NaN' },
      { path: '/5', problem: 'must be an object of feature values' },
    ]);
    expect(e.message).toMatch(/^invalid prediction input: \/0\/torqueNm missing; \/1\/TWF unknown field; /);
    expect(() => predict(gbt, { ...row } as unknown as unknown[])).toThrow(/expected an array of rows/);
  });

  it('refuses a broken or leaky artifact', () => {
    expect(() => loadArtifact('{')).toThrow(expect.objectContaining({ code: mlErrors.STRATA_ERR_ML_ARTIFACT.code }));
    expect(() => loadArtifact({ ...gbt, formatVersion: 2 })).toThrow(/format version 2/);
    const leaky = { ...gbt, schema: { ...gbt.schema, features: [...gbt.schema.features, { name: 'rnf', kind: 'number', column: 'x' }] } };
    expect(() => loadArtifact(JSON.stringify(leaky))).toThrow(expect.objectContaining({ code: mlErrors.STRATA_ERR_ML_LEAKAGE.code }));
  });
});
