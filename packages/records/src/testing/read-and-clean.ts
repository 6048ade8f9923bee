/**
 * Test helper: the whole file through `readCsv` and `cleanRow`, duplicates (equal cleaned rows,
 * compared as JSON) dropped — the outcome an import reports, without the import.
 */
import { cleanRow } from '../csv/clean.js';
import { readCsv } from '../csv/parse.js';
import type { CleanRow, RowRejection } from '../types.js';

export interface ReadAndCleanResult {
  rowsRead: number;
  duplicates: number;
  rejections: RowRejection[];
  /** Distinct valid rows, in file order. */
  rows: CleanRow[];
}

export async function readAndClean(source: AsyncIterable<Buffer | string>): Promise<ReadAndCleanResult> {
  const result: ReadAndCleanResult = { rowsRead: 0, duplicates: 0, rejections: [], rows: [] };
  const seen = new Set<string>();
  for await (const batch of readCsv(source)) {
    for (const { line, fields } of batch) {
      result.rowsRead++;
      const cleaned = cleanRow(fields, line);
      if ('rejections' in cleaned) {
        result.rejections.push(...cleaned.rejections);
        continue;
      }
      const key = JSON.stringify(cleaned.row);
      if (seen.has(key)) {
        result.duplicates++;
      } else {
        seen.add(key);
        result.rows.push(cleaned.row);
      }
    }
  }
  return result;
}
