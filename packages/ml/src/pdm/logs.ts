/**
 * Event logs in the Azure Predictive Maintenance format (Microsoft's "Predictive Maintenance
 * Modelling Guide" sample data): four CSV files,
 *
 *   PdM_machines.csv  "machineID","model","age"         1,"model3",18
 *   PdM_failures.csv  "datetime","machineID","failure"  2020-01-05 06:00:00,1,"comp4"
 *   PdM_maint.csv     "datetime","machineID","comp"     2019-06-01 06:00:00,1,"comp2"
 *   PdM_errors.csv    "datetime","machineID","errorID"  2020-01-03 07:00:00,1,"error1"
 *
 * Fields may be double-quoted (the header and string fields are in the copy we hold); a quote
 * inside a field, a comma inside quotes or an embedded newline is refused rather than
 * half-understood. Times are `YYYY-MM-DD HH:MM:SS` (or with `T`), UTC. Every bad row is a
 * `STRATA_ERR_ML_DATA` naming the file, the line and the reason. Components and error ids must be
 * plain identifiers (`comp1`, `error5`): they become metric names (`maint.comp1`) and feature
 * names (`hoursSince_comp1`). Logs of a machine not in PdM_machines.csv are refused.
 *
 * The result is sorted by time, then machine, then component/error: the order events are fed in.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { mlErrors } from '../errors.js';

export interface PdmMachine {
  readonly id: number;
  /** `machine-<id>`: the platform device id. */
  readonly device: string;
  readonly model: string;
  /** Years. */
  readonly age: number;
}

/** A failure or a maintenance (replacement) of one component of one machine. */
export interface PdmComponentEvent {
  /** Unix ms. */
  readonly ts: number;
  readonly machine: number;
  readonly component: string;
}

export interface PdmErrorEvent {
  readonly ts: number;
  readonly machine: number;
  readonly error: string;
}

export interface PdmLogs {
  /** By id. */
  readonly machines: readonly PdmMachine[];
  /** Labels only: never fed as features. By time, machine, component. */
  readonly failures: readonly PdmComponentEvent[];
  readonly maint: readonly PdmComponentEvent[];
  readonly errors: readonly PdmErrorEvent[];
  /** sha256 (hex) over the four files (see `pdmLogsSha256`). */
  readonly sha256: string;
  /** sha256 (hex) of each file's bytes. */
  readonly files: Readonly<Record<PdmLogFile, string>>;
}

export type PdmLogFile = 'machines' | 'failures' | 'maint' | 'errors';

/** The file names of the Azure PdM data set, by role. */
export const PDM_LOG_FILES: Readonly<Record<PdmLogFile, string>> = Object.freeze({
  machines: 'PdM_machines.csv',
  failures: 'PdM_failures.csv',
  maint: 'PdM_maint.csv',
  errors: 'PdM_errors.csv',
});

const ORDER: readonly PdmLogFile[] = ['machines', 'failures', 'maint', 'errors'];
const IDENT = /^[A-Za-z][A-Za-z0-9]{0,31}$/;
const TIME = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.0+)?Z?$/;

/** The device id of machine `id`: `machine-<id>`. */
export const pdmDevice = (id: number): string => `machine-${id}`;

/** Reads the four files from a directory (names as in `PDM_LOG_FILES`). */
export function loadPdmLogs(dir: string): PdmLogs {
  const texts = {} as Record<PdmLogFile, Buffer>;
  for (const role of ORDER) {
    const path = join(dir, PDM_LOG_FILES[role]);
    try {
      texts[role] = readFileSync(path);
    } catch (err) {
      throw mlErrors.STRATA_ERR_ML_DATA({ source: PDM_LOG_FILES[role], where: '', reason: `cannot read ${path}: ${(err as Error).message}` }, err);
    }
  }
  return parsePdmLogs(texts);
}

/**
 * sha256 over the four files: of `name NUL sha256(bytes) LF` for machines, failures, maint, errors
 * in that order, so it names the data set whatever the files are called on disk.
 */
export function pdmLogsSha256(files: Readonly<Record<PdmLogFile, string>>): string {
  const h = createHash('sha256');
  for (const role of ORDER) h.update(`${PDM_LOG_FILES[role]}\0${files[role]}\n`);
  return h.digest('hex');
}

type Fail = (reason: string, line?: number) => Error;

/** Splits a CSV into rows of cells (quotes stripped), checking the header names the columns. */
function table(text: string, file: string, columns: readonly string[]): { rows: string[][]; at: number[]; fail: Fail } {
  const fail: Fail = (reason, line) => mlErrors.STRATA_ERR_ML_DATA({ source: file, where: line === undefined ? '' : ` line ${line}`, reason });
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const lines = body.split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  const cells = (line: string, n: number): string[] =>
    line.split(',').map((raw) => {
      const c = raw.trim();
      if (c.length >= 2 && c.startsWith('"') && c.endsWith('"')) {
        const inner = c.slice(1, -1);
        if (inner.includes('"')) throw fail('a quote inside a quoted field is not supported', n);
        return inner;
      }
      if (c.includes('"')) throw fail('unbalanced quote (a comma or newline inside quotes is not supported)', n);
      return c;
    });
  if (lines.length === 0) throw fail('empty file', 1);
  const header = cells(lines[0]!, 1);
  const at = columns.map((name) => {
    const j = header.indexOf(name);
    if (j < 0) throw fail(`no column ${JSON.stringify(name)} (header: ${header.join(',').slice(0, 120)})`, 1);
    return j;
  });
  const rows: string[][] = [];
  for (let i = 1; i < lines.length; i++) {
    const row = cells(lines[i]!, i + 1);
    if (row.length !== header.length) throw fail(`${row.length} fields, the header has ${header.length}`, i + 1);
    rows.push(row);
  }
  return { rows, at, fail };
}

function time(cell: string, column: string, line: number, fail: Fail): number {
  const m = TIME.exec(cell);
  if (m) {
    const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
    const ts = Date.UTC(y, mo - 1, d, h, mi, s);
    const back = new Date(ts);
    if (back.getUTCFullYear() === y && back.getUTCMonth() === mo - 1 && back.getUTCDate() === d && h < 24 && mi < 60 && s < 60) return ts;
  }
  throw fail(`${column}: ${JSON.stringify(cell.slice(0, 40))} is not a time (YYYY-MM-DD HH:MM:SS, UTC)`, line);
}

function machineId(cell: string, line: number, fail: Fail): number {
  const id = /^\d{1,9}$/.test(cell) ? Number(cell) : NaN;
  if (!Number.isSafeInteger(id) || id < 1) throw fail(`machineID: ${JSON.stringify(cell.slice(0, 40))} is not a positive integer`, line);
  return id;
}

function ident(cell: string, column: string, line: number, fail: Fail): string {
  if (!IDENT.test(cell)) throw fail(`${column}: ${JSON.stringify(cell.slice(0, 40))} is not an identifier (a letter, then letters or digits, at most 32)`, line);
  return cell;
}

const byTime = <T extends { ts: number; machine: number }>(key: (x: T) => string) => (a: T, b: T) =>
  a.ts - b.ts || a.machine - b.machine || (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);

/** Parses the four files' contents (text or bytes). See the file header for what is refused. */
export function parsePdmLogs(input: Readonly<Record<PdmLogFile, string | Uint8Array>>): PdmLogs {
  const files = {} as Record<PdmLogFile, string>;
  const text = {} as Record<PdmLogFile, string>;
  for (const role of ORDER) {
    const v = input[role];
    if (v === undefined) throw mlErrors.STRATA_ERR_ML_DATA({ source: PDM_LOG_FILES[role], where: '', reason: 'missing' });
    const bytes = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
    files[role] = createHash('sha256').update(bytes).digest('hex');
    text[role] = typeof v === 'string' ? v : Buffer.from(v).toString('utf8');
  }

  const m = table(text.machines, PDM_LOG_FILES.machines, ['machineID', 'model', 'age']);
  const machines: PdmMachine[] = [];
  const known = new Set<number>();
  m.rows.forEach((row, i) => {
    const line = i + 2;
    const id = machineId(row[m.at[0]!]!, line, m.fail);
    if (known.has(id)) throw m.fail(`machine ${id} appears twice`, line);
    const model = ident(row[m.at[1]!]!, 'model', line, m.fail);
    const ageCell = row[m.at[2]!]!;
    const age = ageCell === '' ? NaN : Number(ageCell);
    if (!Number.isFinite(age) || age < 0) throw m.fail(`age: ${JSON.stringify(ageCell.slice(0, 40))} is not a number >= 0`, line);
    known.add(id);
    machines.push({ id, device: pdmDevice(id), model, age });
  });
  if (machines.length === 0) throw m.fail('no machines');
  machines.sort((a, b) => a.id - b.id);

  const events = <T>(role: 'failures' | 'maint' | 'errors', column: string, make: (ts: number, machine: number, name: string) => T): T[] => {
    const t = table(text[role], PDM_LOG_FILES[role], ['datetime', 'machineID', column]);
    return t.rows.map((row, i) => {
      const line = i + 2;
      const ts = time(row[t.at[0]!]!, 'datetime', line, t.fail);
      const machine = machineId(row[t.at[1]!]!, line, t.fail);
      if (!known.has(machine)) throw t.fail(`machine ${machine} is not in ${PDM_LOG_FILES.machines}`, line);
      return make(ts, machine, ident(row[t.at[2]!]!, column, line, t.fail));
    });
  };
  const failures = events('failures', 'failure', (ts, machine, component) => ({ ts, machine, component })).sort(byTime((x) => x.component));
  const maint = events('maint', 'comp', (ts, machine, component) => ({ ts, machine, component })).sort(byTime((x) => x.component));
  const errors = events('errors', 'errorID', (ts, machine, error) => ({ ts, machine, error })).sort(byTime((x) => x.error));

  return { machines, failures, maint, errors, sha256: pdmLogsSha256(files), files };
}
