/**
 * Read-only SQL over the lake's tables: `strata sql` and `POST /v1/query`.
 *
 * Every query gets a DuckDB instance of its own, set up for it and closed after it:
 * 1. `lake.tables(role)` gives the role's tables with the local files of their current
 *    partitions, read from the manifests now: a query always sees the latest committed run.
 * 2. The instance allows exactly those files (`allowed_paths`), turns external access off, and
 *    creates one view per table over them. From then on no other file, directory, glob, URL or
 *    extension can be opened, and COPY, EXPORT and ATTACH cannot write anywhere.
 * 3. The configuration is locked (`lock_configuration`): no SET undoes step 2.
 * 4. Exactly one statement runs, of type SELECT, naming none of the table functions that
 *    change an instance despite the lock (logging, profiling, checkpoints) nor `query()` /
 *    `query_table()` (SQL made at run time, which the check cannot see); functions are found in
 *    DuckDB's own parse of the statement (`json_serialize_sql`). Its rows are streamed and
 *    reading stops at the row or byte limit; a timer interrupts it at the deadline.
 *
 * Why a fresh instance per query rather than one per role: whatever a query manages to change
 * in its instance stays there. The known case is step 4's: `enable_logging(storage = 'file', …)`
 * makes every later statement of the instance fail, shows one user the queries of others when
 * logging in memory, and, once a file write has failed, closing the instance throws inside
 * DuckDB's destructor, which ends the process. Setting an instance up costs tens of
 * milliseconds (about 40 ms for four views over 200 files, measured); concurrent queries are
 * capped (`maxConcurrent`) since each instance has its own memory limit.
 *
 * What a query sees besides its rows: the local paths of its own role's files (in
 * `duckdb_views()` and `duckdb_settings()`), nothing else of the machine.
 */
import { access, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  DuckDBDateValue,
  DuckDBDecimalValue,
  DuckDBIntervalValue,
  DuckDBTimestampMillisecondsValue,
  DuckDBTimestampNanosecondsValue,
  DuckDBTimestampSecondsValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  DuckDBTypeId,
  JsonDuckDBValueConverter,
  StatementType,
  type DuckDBConnection,
  type DuckDBValueConverter,
  type Json,
} from '@duckdb/node-api';
import { StrataError } from '@strata/core';
import { lakeErrors } from '../errors.js';
import { lit, litList, openDuck } from './duck.js';
import type { TableSpec } from './tables.js';
import type { LakeSettings, QueryRole } from './types.js';

const MiB = 1024 * 1024;
/** Tells the spill folders of several LakeQuery objects in one process apart. */
let instances = 0;

export const QUERY_DEFAULTS = Object.freeze({
  timeoutMs: 30_000,
  maxRows: 10_000,
  /** The most `maxRows` may be. */
  maxRowsLimit: 100_000,
  maxBytes: 64 * MiB,
  maxConcurrent: 2,
  maxSpill: '4GB',
});

/** What queries need of the lake (`Lakehouse` is one). */
export interface QueryableLake {
  tables(role: QueryRole): Promise<Array<{ spec: TableSpec; paths: string[] }>>;
  readonly settings: Pick<LakeSettings, 'memoryLimit' | 'threads'>;
}

export interface LakeQueryOptions {
  /** Local directory for DuckDB's spills of queries (a folder per query, removed after it). Default: the OS temp dir. */
  stagingDir?: string;
  /** Deadline of a query when the call gives none, queueing included. Default 30 s. */
  timeoutMs?: number;
  /** Queries running at once; more wait their turn. Default 2. */
  maxConcurrent?: number;
  /** Size bound of one answer, counted as the JSON text of its rows; reading stops there (truncated). Default 64 MiB. */
  maxBytes?: number;
  /** DuckDB memory limit of each query. Default: the lake's `memoryLimit`. */
  memoryLimit?: string;
  /** DuckDB threads of each query. Default: the lake's `threads`. */
  threads?: number;
  /** Spill space one query may use. Default `4GB`. */
  maxSpill?: string;
}

export type QueryFormat = 'json' | 'csv';

export interface QueryRunOptions {
  /** Analysts read silver and gold only; admins also bronze and quarantine. */
  role: QueryRole;
  /** Default `json`. */
  format?: QueryFormat;
  /** Default: the instance's `timeoutMs`. */
  timeoutMs?: number;
  /** Rows to return at most, 1 to 100 000. Default 10 000. */
  maxRows?: number;
}

export interface QueryColumn {
  name: string;
  /** DuckDB's name of the type, e.g. `VARCHAR`, `TIMESTAMP WITH TIME ZONE`, `DECIMAL(18,3)`. */
  type: string;
}

/** A JSON-safe value: BIGINTs as numbers when safe (else strings), times as ISO 8601 strings, dates as `YYYY-MM-DD`. */
export type QueryValue = Json;

interface QueryAnswer {
  columns: QueryColumn[];
  /** Rows returned. */
  rowCount: number;
  /** True when the query had more rows than returned (stopped at `maxRows` or the byte bound). */
  truncated: boolean;
  elapsedMs: number;
}

export interface JsonQueryResult extends QueryAnswer {
  format: 'json';
  /** One object per row, keyed by column name (a repeated name gets `:1`, `:2`… as in `columns`). */
  rows: Array<Record<string, QueryValue>>;
}

export interface CsvQueryResult extends QueryAnswer {
  format: 'csv';
  /** RFC 4180: a header row, CRLF line ends, fields quoted when they need it; NULL is an empty field, an empty string `""`. */
  csv: string;
}

export type QueryResult = JsonQueryResult | CsvQueryResult;

/** A query in progress: what the timer and `close()` need to stop it. */
interface Running {
  conn?: DuckDBConnection;
  /** Resolves when the query's time is up. */
  deadline: Promise<'timeout'>;
  /** The files the current try reads. */
  paths: string[];
  timedOut: boolean;
  done: Promise<unknown>;
}

interface Collected {
  columns: QueryColumn[];
  rows: QueryValue[][];
  truncated: boolean;
}

const MAX_REASON = 1000;

/** DuckDB's message, bounded (it quotes the SQL). */
function reasonOf(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.length > MAX_REASON ? `${message.slice(0, MAX_REASON)}…` : message;
}

/** An error of the query itself: refused when it reaches for what it may not, failed otherwise. */
function queryError(err: unknown): StrataError {
  if (err instanceof StrataError) return err;
  const reason = reasonOf(err);
  if (reason.startsWith('Permission Error')) {
    return lakeErrors.STRATA_ERR_LAKE_QUERY_REJECTED({ reason: `queries read the lake's tables only (${reason})` }, err);
  }
  return lakeErrors.STRATA_ERR_LAKE_QUERY_FAILED({ reason }, err);
}

/** True when one of `paths` is gone: a job replaced the file after the manifest was read. */
async function anyMissing(paths: readonly string[]): Promise<boolean> {
  const found = await Promise.all(paths.map((p) => access(p).then(() => true, () => false)));
  return found.includes(false);
}

class Slots {
  private waiting: Array<() => void> = [];

  constructor(private free: number) {}

  acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

export class LakeQuery {
  private readonly opts: Required<Omit<LakeQueryOptions, 'stagingDir'>> & { spillDir: string };
  private readonly slots: Slots;
  private readonly running = new Set<Running>();
  private closed = false;
  private seq = 0;

  constructor(
    private readonly lake: QueryableLake,
    opts: LakeQueryOptions = {},
  ) {
    this.opts = {
      timeoutMs: opts.timeoutMs ?? QUERY_DEFAULTS.timeoutMs,
      maxConcurrent: opts.maxConcurrent ?? QUERY_DEFAULTS.maxConcurrent,
      maxBytes: opts.maxBytes ?? QUERY_DEFAULTS.maxBytes,
      memoryLimit: opts.memoryLimit ?? lake.settings.memoryLimit,
      threads: opts.threads ?? lake.settings.threads,
      maxSpill: opts.maxSpill ?? QUERY_DEFAULTS.maxSpill,
      spillDir: join(opts.stagingDir ?? join(tmpdir(), 'strata-lake'), 'query-spill', `${process.pid}-${++instances}`),
    };
    const bad = (option: string, reason: string) => lakeErrors.STRATA_ERR_LAKE_BAD_SETTING({ setting: `query.${option}`, reason });
    if (!(Number.isInteger(this.opts.timeoutMs) && this.opts.timeoutMs > 0)) throw bad('timeoutMs', 'must be an integer > 0');
    if (!(Number.isInteger(this.opts.maxConcurrent) && this.opts.maxConcurrent >= 1)) throw bad('maxConcurrent', 'must be an integer ≥ 1');
    if (!(Number.isInteger(this.opts.maxBytes) && this.opts.maxBytes >= 1024)) throw bad('maxBytes', 'must be an integer ≥ 1024');
    this.slots = new Slots(this.opts.maxConcurrent);
  }

  /** Runs one SELECT for `role`. Rejects with STRATA_ERR_LAKE_QUERY_* (400/408) for the query's faults. */
  run(sql: string, opts: QueryRunOptions & { format?: 'json' }): Promise<JsonQueryResult>;
  run(sql: string, opts: QueryRunOptions & { format: 'csv' }): Promise<CsvQueryResult>;
  run(sql: string, opts: QueryRunOptions): Promise<QueryResult>;
  async run(sql: string, opts: QueryRunOptions): Promise<QueryResult> {
    if (this.closed) throw lakeErrors.STRATA_ERR_LAKE_CLOSED({});
    const maxRows = opts.maxRows ?? QUERY_DEFAULTS.maxRows;
    const timeoutMs = opts.timeoutMs ?? this.opts.timeoutMs;
    const rejected = (reason: string) => lakeErrors.STRATA_ERR_LAKE_QUERY_REJECTED({ reason });
    if (!(Number.isInteger(maxRows) && maxRows >= 1 && maxRows <= QUERY_DEFAULTS.maxRowsLimit)) throw rejected(`maxRows must be an integer from 1 to ${QUERY_DEFAULTS.maxRowsLimit}`);
    if (!(Number.isInteger(timeoutMs) && timeoutMs > 0)) throw rejected('timeoutMs must be an integer > 0');
    if (opts.role !== 'admin' && opts.role !== 'analyst') throw rejected(`unknown role ${String(opts.role)}`);
    if (opts.format !== undefined && opts.format !== 'json' && opts.format !== 'csv') throw rejected(`unknown format ${String(opts.format)}`);
    if (sql.trim() === '') throw rejected('the SQL is empty');

    const started = performance.now();
    let finish!: () => void;
    let expire!: (value: 'timeout') => void;
    const running: Running = { timedOut: false, done: new Promise<void>((r) => (finish = r)), deadline: new Promise((r) => (expire = r)), paths: [] };
    this.running.add(running);
    const timer = setTimeout(() => {
      running.timedOut = true;
      running.conn?.interrupt();
      expire('timeout');
    }, timeoutMs);
    try {
      const collected = await this.queued(running, () => this.collect(sql, opts.role, maxRows, running));
      const base = { columns: collected.columns, rowCount: collected.rows.length, truncated: collected.truncated, elapsedMs: Math.round(performance.now() - started) };
      if (opts.format === 'csv') return { format: 'csv', csv: toCsv(collected), ...base };
      const names = collected.columns.map((c) => c.name);
      return { format: 'json', rows: collected.rows.map((r) => Object.fromEntries(names.map((n, i) => [n, r[i] ?? null]))), ...base };
    } catch (err) {
      if (running.timedOut) throw lakeErrors.STRATA_ERR_LAKE_QUERY_TIMEOUT({ ms: timeoutMs }, err);
      if (this.closed && !(err instanceof StrataError)) throw lakeErrors.STRATA_ERR_LAKE_CLOSED({}, err);
      throw err;
    } finally {
      clearTimeout(timer);
      this.running.delete(running);
      finish();
    }
  }

  /** Stops running queries (they reject with STRATA_ERR_LAKE_CLOSED) and refuses new ones. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.running];
    for (const r of all) r.conn?.interrupt();
    await Promise.allSettled(all.map((r) => r.done));
    await rm(this.opts.spillDir, { recursive: true, force: true });
  }

  /** `body` once a slot is free; the deadline may come first (the slot, when it comes, is handed on). */
  private async queued<T>(running: Running, body: () => Promise<T>): Promise<T> {
    const acquired = this.slots.acquire();
    if ((await Promise.race([acquired.then(() => 'slot' as const), running.deadline])) === 'timeout') {
      void acquired.then(() => this.slots.release());
      throw new Error('timed out waiting for a slot');
    }
    try {
      if (this.closed) throw lakeErrors.STRATA_ERR_LAKE_CLOSED({});
      return await body();
    } finally {
      this.slots.release();
    }
  }

  /** One try, and a second if a file it read vanished meanwhile (a job committed and removed the files it replaced). */
  private async collect(sql: string, role: QueryRole, maxRows: number, running: Running): Promise<Collected> {
    try {
      return await this.attempt(sql, role, maxRows, running);
    } catch (err) {
      if (running.timedOut || this.closed || !(await anyMissing(running.paths))) throw err;
      return this.attempt(sql, role, maxRows, running);
    }
  }

  private async attempt(sql: string, role: QueryRole, maxRows: number, running: Running): Promise<Collected> {
    const tables = await this.lake.tables(role);
    running.paths = tables.flatMap((t) => t.paths.map((p) => resolve(p)));
    const spill = join(this.opts.spillDir, `q${++this.seq}`);
    const { instance, conn } = await openDuck({ threads: this.opts.threads, memoryLimit: this.opts.memoryLimit, tempDir: spill });
    running.conn = conn;
    try {
      // Our set-up: its errors are the lake's (5xx), not the query's.
      await this.lockDown(conn, tables, running.paths);
      if (running.timedOut || this.closed) throw new Error('stopped before it ran');
      try {
        return await this.execute(conn, sql, maxRows);
      } catch (err) {
        throw running.timedOut || this.closed ? err : queryError(err);
      }
    } finally {
      running.conn = undefined;
      conn.closeSync();
      instance.closeSync();
      await rm(spill, { recursive: true, force: true });
    }
  }

  /** Views over the role's files, then nothing else reachable, then the configuration locked. */
  private async lockDown(conn: DuckDBConnection, tables: Array<{ spec: TableSpec; paths: string[] }>, all: readonly string[]): Promise<void> {
    await conn.run(`SET max_temp_directory_size = ${lit(this.opts.maxSpill)}`);
    await conn.run(`SET allowed_paths = ${litList(all)}`);
    await conn.run(`SET enable_external_access = false`);
    for (const { spec, paths } of tables) await conn.run(viewDdl(spec, paths.map((p) => resolve(p))));
    await conn.run(`SET lock_configuration = true`);
  }

  private async execute(conn: DuckDBConnection, sql: string, maxRows: number): Promise<Collected> {
    let extracted;
    try {
      extracted = await conn.extractStatements(sql);
    } catch (err) {
      const prefix = 'Failed to extract statements: ';
      if (err instanceof Error && err.message.startsWith(prefix)) throw queryError(new Error(err.message.slice(prefix.length)));
      // No statement at all (only comments or semicolons).
      throw lakeErrors.STRATA_ERR_LAKE_QUERY_REJECTED({ reason: 'the SQL holds no statement' }, err);
    }
    if (extracted.count !== 1) throw lakeErrors.STRATA_ERR_LAKE_QUERY_REJECTED({ reason: `one statement at a time, and this SQL holds ${extracted.count}` });
    const prepared = await extracted.prepare(0);
    try {
      const type = prepared.statementType;
      if (type !== StatementType.SELECT) {
        throw lakeErrors.STRATA_ERR_LAKE_QUERY_REJECTED({ reason: `only SELECT statements may run, and this is ${StatementType[type] ?? String(type)}` });
      }
      await checkFunctions(conn, sql);
      const result = await prepared.stream();
      const names = result.deduplicatedColumnNames();
      const types = result.columnTypes();
      const columns = names.map((name, i) => ({ name, type: String(types[i]) }));
      const rows: QueryValue[][] = [];
      let bytes = 0;
      for (;;) {
        const chunk = await result.fetchChunk();
        if (!chunk || chunk.rowCount === 0) return { columns, rows, truncated: false };
        const vectors = names.map((_, c) => chunk.getColumnVector(c));
        for (let r = 0; r < chunk.rowCount; r++) {
          if (rows.length >= maxRows) return { columns, rows, truncated: true };
          const row = vectors.map((v, c) => toJsonSafe(v.getItem(r), types[c]!, toJsonSafe));
          bytes += JSON.stringify(row).length;
          if (bytes > this.opts.maxBytes) return { columns, rows, truncated: true };
          rows.push(row);
        }
      }
    } finally {
      prepared.destroySync();
    }
  }
}

/**
 * Table functions that change the instance despite `lock_configuration` (logging, profiling,
 * the parser, checkpoints), and `query` / `query_table`, which run SQL built at run time where
 * this check cannot see it. File logging in particular is dangerous: once it fails to write,
 * closing the instance throws inside DuckDB's destructor and ends the whole process.
 */
const DENIED_FUNCTION = /^(query|query_table)$|^(enable|disable|truncate|force)_|checkpoint|logging|profil/;

/** Refuses a statement that names a denied function anywhere (DuckDB's own parse of it, as JSON). */
async function checkFunctions(conn: DuckDBConnection, sql: string): Promise<void> {
  const reader = await conn.runAndReadAll('SELECT json_serialize_sql($1::VARCHAR) AS ast', [sql]);
  const ast = JSON.parse(String(reader.getRowsJson()[0]?.[0])) as { error?: boolean };
  if (ast.error) {
    throw lakeErrors.STRATA_ERR_LAKE_QUERY_REJECTED({ reason: 'this form of SELECT cannot be checked; write it as a plain SELECT (e.g. SELECT * FROM pragma_version(), or FROM t PIVOT (…))' });
  }
  const denied = new Set<string>();
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) for (const item of node) walk(item);
    else if (node !== null && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (key === 'function_name' && typeof value === 'string' && DENIED_FUNCTION.test(value.toLowerCase())) denied.add(value.toLowerCase());
        else walk(value);
      }
    }
  };
  walk(ast);
  if (denied.size > 0) throw lakeErrors.STRATA_ERR_LAKE_QUERY_REJECTED({ reason: `queries may not call ${[...denied].sort().join(', ')}` });
}

/** `CREATE VIEW` of a table over its files, typed as the spec says; an empty table is an empty view of the same columns. */
function viewDdl(spec: TableSpec, paths: readonly string[]): string {
  const view = `"${spec.view}"`;
  if (paths.length === 0) {
    const cols = [...spec.columns.map(([c, t]) => `NULL::${t} AS "${c}"`), 'NULL::DATE AS dt'].join(', ');
    return `CREATE VIEW ${view} AS SELECT ${cols} WHERE false`;
  }
  const cols = [...spec.columns.map(([c, t]) => `"${c}"::${t} AS "${c}"`), 'dt'].join(', ');
  return `CREATE VIEW ${view} AS SELECT ${cols} FROM read_parquet(${litList(paths)}, hive_partitioning = true, hive_types = {'dt': DATE})`;
}

/** `2026-11-20 10:00:00.5` (DuckDB's text) → `2026-11-20T10:00:00.500`; years beyond 0–9999 and infinities stay as DuckDB writes them. */
function isoOf(duckText: string, zone: '' | 'Z'): string {
  const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?:\.(\d+))?$/.exec(duckText);
  if (!m) return duckText;
  const fraction = (m[3] ?? '').padEnd(3, '0');
  return `${m[1]}T${m[2]}.${fraction}${zone}`;
}

const BIGINT_TYPES = new Set<DuckDBTypeId>([DuckDBTypeId.BIGINT, DuckDBTypeId.UBIGINT, DuckDBTypeId.HUGEINT, DuckDBTypeId.UHUGEINT]);

/**
 * A DuckDB value as JSON can carry it: integers beyond 2^53 and wide DECIMALs as strings (never
 * rounded), instants (TIMESTAMPTZ) as ISO 8601 UTC with `Z`, TIMESTAMPs without a zone as ISO
 * without one, DATEs as `YYYY-MM-DD`, INTERVALs as DuckDB's text, NaN and infinities as strings.
 * Lists, structs and maps keep their shape with the same rules inside.
 */
const toJsonSafe: DuckDBValueConverter<Json> = (value, type, converter) => {
  if (value === null || value === undefined) return null;
  if (BIGINT_TYPES.has(type.typeId) && typeof value === 'bigint') {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
  }
  if (value instanceof DuckDBTimestampTZValue) return isoOf(new DuckDBTimestampValue(value.micros).toString(), 'Z');
  if (value instanceof DuckDBTimestampValue || value instanceof DuckDBTimestampSecondsValue || value instanceof DuckDBTimestampMillisecondsValue || value instanceof DuckDBTimestampNanosecondsValue) {
    return isoOf(value.toString(), '');
  }
  if (value instanceof DuckDBDateValue || value instanceof DuckDBIntervalValue) return value.toString();
  if (value instanceof DuckDBDecimalValue) return value.width <= 15 ? value.toDouble() : value.toString();
  return JsonDuckDBValueConverter(value, type, converter);
};

/** One CSV field (RFC 4180). */
function csvField(value: QueryValue): string {
  if (value === null) return '';
  const text = typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  return text === '' || /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function toCsv(c: Collected): string {
  const lines = [c.columns.map((col) => csvField(col.name)), ...c.rows.map((r) => r.map(csvField))];
  return lines.map((l) => l.join(',') + '\r\n').join('');
}

