/** DuckDB helpers shared by the lake jobs and queries. */
import { mkdir } from 'node:fs/promises';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';

export interface DuckOptions {
  threads: number;
  memoryLimit: string;
  /** Where DuckDB spills when over its memory limit. */
  tempDir: string;
}

/** An in-memory DuckDB in UTC (timestamps in the lake are instants; days and hours are UTC). */
export async function openDuck(opts: DuckOptions): Promise<{ instance: DuckDBInstance; conn: DuckDBConnection }> {
  await mkdir(opts.tempDir, { recursive: true });
  const instance = await DuckDBInstance.create(':memory:', {
    threads: String(opts.threads),
    memory_limit: opts.memoryLimit,
    temp_directory: opts.tempDir,
    // Extensions are never downloaded (no network here, and no surprise code in production).
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
  });
  const conn = await instance.connect();
  await conn.run(`SET GLOBAL TimeZone = 'UTC'`);
  return { instance, conn };
}

/** A SQL string literal. */
export function lit(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/** A SQL list of string literals: `['a', 'b']`. */
export function litList(items: readonly string[]): string {
  return `[${items.map(lit).join(', ')}]`;
}

/** All rows of a query as plain objects (BIGINTs as numbers: lake counts fit). */
export async function rows<T = Record<string, unknown>>(conn: DuckDBConnection, sql: string): Promise<T[]> {
  const reader = await conn.runAndReadAll(sql);
  return reader.getRowObjectsJS().map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v]))) as T[];
}
