/**
 * `importPatients`: the healthcare CSV into the records tables, in three phases: read (stream
 * parse, clean, validate, de-duplicate), load (one transaction: all-or-nothing per run), verify
 * (the integrity proof, ./verify). Re-running an import on the same file inserts nothing.
 *
 * Rows are held in memory between phases (the real file is 8 MB; 55,000 rows take ~40 MB): the
 * proof needs every source value once the load is committed. The ceiling is set by
 * `maxRows` so a wrong file cannot exhaust memory.
 */
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { readCsv } from '../csv/parse.js';
import { cleanRow } from '../csv/clean.js';
import type { RecordKeys } from '../keys.js';
import type { RecordsDb } from '../schema.js';
import type { RowFlag, RowRejection } from '../types.js';
import { recordsErrors } from '../errors.js';
import { admissionId, patientId } from './ids.js';
import { loadRows, type SourceRow } from './load.js';
import { verifyImport, type IntegrityCheck } from './verify.js';

export const IMPORT_DEFAULTS = { batchSize: 1000, sampleSize: 500, maxRows: 5_000_000, keptRejections: 1000 } as const;

export type ImportPhase = 'read' | 'load' | 'verify';

export interface ImportOptions {
  db: RecordsDb;
  keys: RecordKeys;
  /** The file's bytes: a stream, or chunks in memory. */
  source: AsyncIterable<Buffer | string> | Iterable<Buffer | string>;
  /** Recorded on every admission row the import inserts. */
  importId: string;
  batchSize?: number;
  /** Rows compared field by field after the load. */
  sampleSize?: number;
  /** Seed of the sample (default: random; the report says which). */
  seed?: number;
  maxRows?: number;
  onProgress?: (progress: { phase: ImportPhase; rows: number }) => void;
}

export interface ImportReport {
  importId: string;
  ok: boolean;
  /** True when a check differed: the load was rolled back, nothing of this run is stored. */
  rolledBack: boolean;
  rowsRead: number;
  rejected: number;
  /** The first `keptRejections` rejections, in file order. */
  rejections: RowRejection[];
  rejectionsByReason: Record<string, number>;
  duplicates: number;
  distinctRows: number;
  flagged: Partial<Record<RowFlag, number>>;
  patients: { inSource: number; inserted: number };
  admissions: { inSource: number; inserted: number; alreadyPresent: number };
  checks: IntegrityCheck[];
  seed: number;
  seconds: { read: number; load: number; verify: number; total: number };
}

/** Thrown inside the transaction to roll back a load whose proof failed; the report says why. */
class ProofFailed extends Error {}

export async function importPatients(opts: ImportOptions): Promise<ImportReport> {
  const batchSize = opts.batchSize ?? IMPORT_DEFAULTS.batchSize;
  const maxRows = opts.maxRows ?? IMPORT_DEFAULTS.maxRows;
  const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
  const started = performance.now();

  const byId = new Map<string, SourceRow>();
  const rejections: RowRejection[] = [];
  const byReason: Record<string, number> = {};
  const flagged: Partial<Record<RowFlag, number>> = {};
  let rowsRead = 0;
  let rejected = 0;
  const source = Symbol.asyncIterator in opts.source ? opts.source : Readable.from(opts.source);
  for await (const batch of readCsv(source)) {
    for (const { line, fields } of batch) {
      if (++rowsRead > maxRows) throw recordsErrors.STRATA_ERR_RECORDS_BAD_FILE({ reason: `more than ${maxRows} rows` });
      const result = cleanRow(fields, line);
      if ('rejections' in result) {
        rejected++;
        for (const r of result.rejections) {
          byReason[r.reason] = (byReason[r.reason] ?? 0) + 1;
          if (rejections.length < IMPORT_DEFAULTS.keptRejections) rejections.push(r);
        }
        continue;
      }
      const id = admissionId(opts.keys.index, result.row);
      if (byId.has(id)) continue;
      for (const f of result.row.flags) flagged[f] = (flagged[f] ?? 0) + 1;
      byId.set(id, { admissionId: id, patientId: patientId(opts.keys.index, result.row), row: result.row });
    }
    opts.onProgress?.({ phase: 'read', rows: rowsRead });
  }
  // In id order once here: the load and the proof sort again (they need id order whoever calls
  // them), and sorting a sorted array is a single pass.
  const rows = [...byId.values()].sort((a, b) => (a.admissionId < b.admissionId ? -1 : 1));
  const read = performance.now();

  // Load and proof in one transaction: an import whose proof fails is rolled back, like one that crashes.
  let load = 0;
  let loaded = { patientsInserted: 0, admissionsInserted: 0 };
  let checks: IntegrityCheck[] = [];
  try {
    await opts.db.transaction().execute(async (tx) => {
      opts.onProgress?.({ phase: 'load', rows: 0 });
      loaded = await loadRows(tx, opts.keys, rows, { importId: opts.importId, batchSize, onBatch: (n) => opts.onProgress?.({ phase: 'load', rows: n }) });
      load = performance.now();
      opts.onProgress?.({ phase: 'verify', rows: rows.length });
      checks = await verifyImport(tx, opts.keys, rows, { sampleSize: opts.sampleSize ?? IMPORT_DEFAULTS.sampleSize, seed });
      if (!checks.every((c) => c.ok)) throw new ProofFailed();
    });
  } catch (err) {
    if (!(err instanceof ProofFailed)) throw err;
    loaded = { patientsInserted: 0, admissionsInserted: 0 };
  }
  const done = performance.now();

  const patients = new Set(rows.map((r) => r.patientId)).size;
  const s = (ms: number) => Math.round(ms) / 1000;
  return {
    importId: opts.importId,
    ok: checks.every((c) => c.ok),
    rolledBack: !checks.every((c) => c.ok),
    rowsRead,
    rejected,
    rejections,
    rejectionsByReason: byReason,
    duplicates: rowsRead - rejected - rows.length,
    distinctRows: rows.length,
    flagged,
    patients: { inSource: patients, inserted: loaded.patientsInserted },
    admissions: { inSource: rows.length, inserted: loaded.admissionsInserted, alreadyPresent: rows.length - loaded.admissionsInserted },
    checks,
    seed,
    seconds: { read: s(read - started), load: s(load - read), verify: s(done - load), total: s(done - started) },
  };
}

/** The report for people: what was read, loaded and proven, one check per line. */
export function formatImportReport(r: ImportReport): string {
  const lines = [
    `import ${r.importId}: ${r.ok ? 'OK, integrity proven' : 'FAILED: integrity checks differ; the load was rolled back'}`,
    `  read      ${r.rowsRead} rows, ${r.rejected} rejected, ${r.duplicates} exact duplicates removed, ${r.distinctRows} distinct  (${r.seconds.read} s)`,
    `  load      patients ${r.patients.inserted} new of ${r.patients.inSource}, admissions ${r.admissions.inserted} new of ${r.admissions.inSource} (${r.admissions.alreadyPresent} already present)  (${r.seconds.load} s)`,
    `  verify    ${r.checks.filter((c) => c.ok).length}/${r.checks.length} checks pass  (${r.seconds.verify} s)`,
  ];
  const flags = Object.entries(r.flagged);
  if (flags.length) lines.push(`  flagged   ${flags.map(([f, n]) => `${f} ${n}`).join(', ')} (kept)`);
  for (const [reason, n] of Object.entries(r.rejectionsByReason)) lines.push(`  rejected  ${n} × ${reason}`);
  for (const rej of r.rejections.slice(0, 20)) lines.push(`    line ${rej.line}${rej.column ? ` ${rej.column}` : ''}: ${rej.reason}`);
  for (const c of r.checks) lines.push(`  ${c.ok ? 'ok  ' : 'FAIL'}  ${c.name}: source ${c.source}, database ${c.database}`);
  lines.push(`  total     ${r.seconds.total} s (sample seed ${r.seed})`);
  return lines.join('\n') + '\n';
}
