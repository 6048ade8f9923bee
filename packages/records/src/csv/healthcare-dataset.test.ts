import { createReadStream, existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readAndClean } from '../testing/read-and-clean.js';
import { sumDecimals } from './decimal.js';

/** The real Kaggle file (see its PROVENANCE.txt); the test is skipped on machines without it. */
const DATASET = '/work/shared/data/healthcare_dataset/healthcare_dataset.csv';
const present = existsSync(DATASET);

describe('the real healthcare dataset', () => {
  it.skipIf(!present)(`reads 55,500 rows, rejects none, finds 534 duplicates → 54,966 distinct${present ? '' : ` (skipped: ${DATASET} not found)`}`, async () => {
    const result = await readAndClean(createReadStream(DATASET));
    expect(result.rowsRead).toBe(55_500);
    expect(result.rejections).toEqual([]);
    expect(result.duplicates).toBe(534);
    expect(result.rows).toHaveLength(54_966);

    const count = (flag: string): number => result.rows.filter((r) => (r.flags as string[]).includes(flag)).length;
    // The source's quirks, as counted on the distinct rows: random name casing, Faker hospital
    // leftovers, 108 negative amounts in the file; no same-day stay.
    expect(result.rows[0]).toMatchObject({ name: 'Bobby Jackson', hospital: 'Sons and Miller', billing: '18856.281305978155', flags: ['name_recased'] });
    expect(count('negative_billing')).toBeGreaterThan(0);
    expect(count('zero_length_stay')).toBe(0);
    expect(result.rows.every((r) => !/^and |,$| and$/.test(r.hospital))).toBe(true);
    expect(result.rows.every((r) => r.name === r.name.trim() && !/[a-z]{2}[A-Z]/.test(r.name.replace(/PhD/g, '')))).toBe(true);
    // Exact: a float sum would differ in the last digits.
    expect(sumDecimals(result.rows.map((r) => r.billing))).toMatch(/^\d+\.\d{10,}$/);
  });
});
