import { existsSync } from 'node:fs';
import { expect, it } from 'vitest';
import { AI4I_SCHEMA } from '../features/schema.js';
import { loadLabelledCsv, parseLabelledCsv } from './labelled-csv.js';

const AI4I = new URL('../../../../../shared/data/ai4i2020/ai4i2020.csv', import.meta.url).pathname;
const HEADER = 'UDI,Product ID,Type,Air temperature [K],Process temperature [K],Rotational speed [rpm],Torque [Nm],Tool wear [min],Machine failure,TWF,HDF,PWF,OSF,RNF';

it.skipIf(!existsSync(AI4I))('reads the AI4I file (../shared/data): 10,000 rows, 339 failures, the sha256 of its bytes', () => {
  const data = loadLabelledCsv(AI4I, AI4I_SCHEMA);
  expect(data.rows).toHaveLength(10_000);
  expect(data.labels.reduce((s, y) => s + y, 0)).toBe(339);
  expect(data.sha256).toBe('9841aaa04b716d41ce9501f42d9388de7f571566608945061d026f95853c0337');
  expect(data.rows[0]).toEqual({ type: 'M', airTemperatureK: 298.1, processTemperatureK: 308.6, rotationalSpeedRpm: 1551, torqueNm: 42.8, toolWearMin: 0 });
});

it('never carries the failure-mode columns into the rows', () => {
  const data = parseLabelledCsv(`\uFEFF${HEADER}\r\n1,M1,L,298,308,1500,40,10,1,1,0,0,0,0\r\n`, AI4I_SCHEMA, { source: 't.csv' });
  expect(Object.keys(data.rows[0]!)).not.toContain('TWF');
  expect([...data.labels]).toEqual([1]);
});

it('names the line of bad data', () => {
  expect(() => parseLabelledCsv(`${HEADER}\n1,M1,L,298,x,1500,40,10,0,0,0,0,0,0\n`, AI4I_SCHEMA, { source: 't.csv' })).toThrow(/t\.csv line 2: Process temperature \[K\]: "x" is not a number/);
  expect(() => parseLabelledCsv(`${HEADER}\n1,"M1",L,298,308,1500,40,10,0,0,0,0,0,0\n`, AI4I_SCHEMA, { source: 't.csv' })).toThrow(/line 2: quoted fields/);
  expect(() => parseLabelledCsv(`${HEADER}\n1,M1,X,298,308,1500,40,10,0,0,0,0,0,0\n`, AI4I_SCHEMA, { source: 't.csv' })).toThrow(/Type: "X" is not one of L, M, H/);
  expect(() => parseLabelledCsv('a,b\n1,2\n', AI4I_SCHEMA, { source: 't.csv' })).toThrow(/no column "Type"/);
});
