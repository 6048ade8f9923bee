import { mlErrors } from '../errors.js';
import { inputFeatures, type FeatureSchema } from './schema.js';

/** One input row as a caller sends it: every input feature of the schema, nothing else. */
export type FeatureRow = Readonly<Record<string, number | string>>;

export interface InputIssue {
  /** JSON pointer into the input: `/2/torqueNm` (row 2), `/torqueNm` for a single object. */
  readonly path: string;
  readonly problem: string;
}

const MAX_ISSUES = 20;

/**
 * Checks rows against the schema's input features: every one present, no other field, numbers
 * finite, categories one of their levels. Returns every problem (at most 20), in input order.
 */
export function inputIssues(schema: FeatureSchema, rows: readonly unknown[], single = false): InputIssue[] {
  const inputs = inputFeatures(schema);
  const known = new Set(inputs.map((f) => f.name));
  const issues: InputIssue[] = [];
  const at = (i: number, field?: string) => (single ? '' : `/${i}`) + (field === undefined ? '' : `/${field}`);
  for (let i = 0; i < rows.length && issues.length < MAX_ISSUES; i++) {
    const row = rows[i];
    if (row === null || typeof row !== 'object' || Array.isArray(row)) {
      issues.push({ path: at(i) || '/', problem: 'must be an object of feature values' });
      continue;
    }
    const r = row as Record<string, unknown>;
    for (const f of inputs) {
      const v = r[f.name];
      if (v === undefined) issues.push({ path: at(i, f.name), problem: 'missing' });
      else if (f.kind === 'number' && (typeof v !== 'number' || !Number.isFinite(v))) issues.push({ path: at(i, f.name), problem: `must be a finite number, got ${describe(v)}` });
      else if (f.kind === 'category' && (typeof v !== 'string' || !f.levels.includes(v))) issues.push({ path: at(i, f.name), problem: `must be one of ${f.levels.join(', ')}, got ${describe(v)}` });
    }
    for (const key of Object.keys(r)) if (!known.has(key)) issues.push({ path: at(i, key), problem: 'unknown field' });
  }
  return issues.slice(0, MAX_ISSUES);
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 20 ? `${v.slice(0, 20)}…` : v);
  return v === null ? 'null' : typeof v === 'number' ? String(v) : typeof v;
}

/** Throws `STRATA_ERR_ML_INVALID_INPUT` (400, `details.issues`) unless every row is valid. */
export function assertRows(schema: FeatureSchema, rows: readonly unknown[], single = false): asserts rows is readonly FeatureRow[] {
  const issues = inputIssues(schema, rows, single);
  if (issues.length === 0) return;
  const first = issues.slice(0, 3).map((x) => `${x.path} ${x.problem}`).join('; ');
  throw mlErrors.STRATA_ERR_ML_INVALID_INPUT({ summary: issues.length > 3 ? `${first}; …` : first, issues });
}

/** Names of the model's columns: every feature of the schema, derived ones included, in order. */
export function featureNames(schema: FeatureSchema): string[] {
  return schema.features.map((f) => f.name);
}

/** Encodes valid rows as numeric vectors (one per row, in `featureNames` order). */
export function encodeRows(schema: FeatureSchema, rows: readonly FeatureRow[]): Float64Array[] {
  const index = new Map(schema.features.map((f, j) => [f.name, j]));
  return rows.map((row) => {
    const x = new Float64Array(schema.features.length);
    schema.features.forEach((f, j) => {
      if (f.kind === 'number') x[j] = row[f.name] as number;
      else if (f.kind === 'category') x[j] = f.levels.indexOf(row[f.name] as string);
      else {
        const a = x[index.get(f.of[0])!]!;
        const b = x[index.get(f.of[1])!]!;
        x[j] = (f.scale ?? 1) * (f.op === 'product' ? a * b : a - b);
      }
    });
    return x;
  });
}
