import { describe, expect, it } from 'vitest';
import { CSV_COLUMNS } from '../types.js';
import { healthcareFixture } from './fixture.js';
import { readAndClean } from './read-and-clean.js';

async function* chunks(text: string, size: number): AsyncGenerator<Buffer> {
  const bytes = Buffer.from(text, 'utf8');
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

describe('healthcareFixture', () => {
  it.each([1, 2, 3, 42, 2024])('seed %i: reading and cleaning the file gives exactly its expected outcome', async (seed) => {
    const fixture = healthcareFixture({ seed });
    const result = await readAndClean(chunks(fixture.csv, 97));
    expect(result.rowsRead).toBe(fixture.rowsRead);
    expect(result.duplicates).toBe(fixture.duplicates);
    expect(result.rejections.map(({ line, column }) => ({ line, column }))).toEqual(fixture.rejected);
    expect(result.rows).toEqual(fixture.expected);
  });

  it('holds for a small file too', async () => {
    const fixture = healthcareFixture({ seed: 5, rows: 3 });
    expect(fixture.expected).toHaveLength(3);
    const result = await readAndClean(chunks(fixture.csv, 1 << 20));
    expect({ rowsRead: result.rowsRead, duplicates: result.duplicates, rows: result.rows }).toEqual({ rowsRead: fixture.rowsRead, duplicates: fixture.duplicates, rows: fixture.expected });
  });

  it('is the same file for the same seed, another for another', () => {
    expect(healthcareFixture({ seed: 9 }).csv).toBe(healthcareFixture({ seed: 9 }).csv);
    expect(healthcareFixture({ seed: 9 }).csv).not.toBe(healthcareFixture({ seed: 10 }).csv);
  });

  it('has every quirk it promises', () => {
    const { csv, expected, duplicates, rejected } = healthcareFixture();
    expect(csv.startsWith('\uFEFF')).toBe(true);
    expect(csv).toMatch(/[^\r]\n/); // a bare LF
    expect(csv).toContain('\r\n');
    expect(csv).toContain('""North""');
    expect(csv).toMatch(/,"[^"\r\n]*,[^"\r\n]*",/); // a quoted comma
    expect(csv).toMatch(/"[^"]*(?:\r\n|\n)[^"]*"/); // a line break inside a quoted field
    expect(csv).toMatch(/,and /);
    expect(csv).toMatch(/(?:, and|,)",|and,/);
    for (const flag of ['name_recased', 'hospital_trimmed', 'negative_billing', 'zero_length_stay'] as const) {
      expect(expected.some((r) => r.flags.includes(flag)), flag).toBe(true);
    }
    expect(expected.some((r) => r.flags.length === 0)).toBe(true);
    expect(expected.some((r) => /MD|DDS|DVM|PhD|II|IV/.test(r.name))).toBe(true);
    expect(expected.some((r) => /[-']/.test(r.name))).toBe(true);
    expect(duplicates).toBeGreaterThan(0);
    const columns = new Set(rejected.map((r) => r.column));
    expect([...CSV_COLUMNS, null].filter((c) => !columns.has(c))).toEqual([]);
  });
});
