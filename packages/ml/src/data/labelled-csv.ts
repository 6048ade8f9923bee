/**
 * Labelled training data from a per-sample CSV in the AI4I 2020 format. The parser is for the
 * simple CSV this format is (a UTF-8 BOM allowed, LF or CRLF, no quoting): a quote character is
 * refused rather than half-understood. Only the schema's columns and the label are read, so the
 * failure-mode columns never reach a model.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mlErrors } from '../errors.js';
import type { FeatureRow } from '../features/encode.js';
import { assertFeatureSchema, inputFeatures, type FeatureSchema } from '../features/schema.js';

export interface LabelledData {
  readonly rows: readonly FeatureRow[];
  /** 1 = failure, 0 = none. */
  readonly labels: Uint8Array;
  /** Each row's time (Unix ms), for data that follows time (telemetry windows): enables `split: 'time'`. */
  readonly times?: readonly number[];
  /**
   * With labels "fails within H" (`buildPdmDataset`): H in ms. A row's label window is
   * (t, t + H]; a time split drops training rows whose window reaches past the test period's
   * start (purge gap), and likewise at each forward-chaining fold boundary.
   */
  readonly labelHorizonMs?: number;
  /** sha256 (hex) of the file's bytes. */
  readonly sha256: string;
  readonly source: string;
}

/** Reads a labelled CSV (default schema: AI4I 2020). Throws `STRATA_ERR_ML_DATA` naming the line. */
export function loadLabelledCsv(path: string, schema: FeatureSchema): LabelledData {
  const bytes = readFileSync(path);
  return parseLabelledCsv(bytes.toString('utf8'), schema, { source: path, sha256: createHash('sha256').update(bytes).digest('hex') });
}

export function parseLabelledCsv(text: string, schema: FeatureSchema, meta: { source: string; sha256?: string }): LabelledData {
  assertFeatureSchema(schema);
  const fail = (reason: string, line?: number) => mlErrors.STRATA_ERR_ML_DATA({ source: meta.source, where: line === undefined ? '' : ` line ${line}`, reason });
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const quote = body.indexOf('"');
  if (quote >= 0) throw fail('quoted fields are not supported', body.slice(0, quote).split('\n').length);
  const lines = body.split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  const header = (lines[0] ?? '').split(',');
  const col = (name: string) => {
    const j = header.indexOf(name);
    if (j < 0) throw fail(`no column ${JSON.stringify(name)}`, 1);
    return j;
  };
  const inputs = inputFeatures(schema).map((f) => ({ f, j: col(f.column) }));
  const labelAt = col(schema.label.column);
  const rows: FeatureRow[] = [];
  const labels = new Uint8Array(lines.length - 1);
  for (let i = 1; i < lines.length; i++) {
    const cells = lines[i]!.split(',');
    if (cells.length !== header.length) throw fail(`${cells.length} fields, the header has ${header.length}`, i + 1);
    const row: Record<string, number | string> = {};
    for (const { f, j } of inputs) {
      const cell = cells[j]!;
      if (f.kind === 'category') {
        if (!f.levels.includes(cell)) throw fail(`${f.column}: ${JSON.stringify(cell)} is not one of ${f.levels.join(', ')}`, i + 1);
        row[f.name] = cell;
      } else {
        const v = cell.trim() === '' ? NaN : Number(cell);
        if (!Number.isFinite(v)) throw fail(`${f.column}: ${JSON.stringify(cell)} is not a number`, i + 1);
        row[f.name] = v;
      }
    }
    const y = cells[labelAt];
    if (y !== '0' && y !== '1') throw fail(`${schema.label.column}: ${JSON.stringify(y)} is not 0 or 1`, i + 1);
    labels[i - 1] = y === '1' ? 1 : 0;
    rows.push(row);
  }
  if (rows.length === 0) throw fail('no rows');
  return { rows, labels, sha256: meta.sha256 ?? createHash('sha256').update(text).digest('hex'), source: meta.source };
}
