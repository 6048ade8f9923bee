/** Writing layer files: DuckDB writes Parquet to scratch, the object store gets them under fresh keys. */
import { readFile, rm } from 'node:fs/promises';
import type { JobContext } from './lakehouse.js';
import { lit, litList, rows } from './duck.js';
import type { PartitionFiles } from './manifest.js';
import type { TableSpec } from './tables.js';

export interface WrittenFile {
  day: string;
  key: string;
  rows: number;
  bytes: number;
}

/** Parquet options of every lake file: snappy, which every Parquet reader decodes (zstd is smaller, but not universal: hyparquet, for one, needs a plugin). */
const PARQUET = `FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 122880`;

/** One row of `COPY … (RETURN_STATS true)`. */
type CopyStats = { filename: string; count: number; file_size_bytes: number };

/** The spec's columns, cast to their types, in file order. */
const castColumns = (spec: TableSpec) => spec.columns.map(([c, t]) => `"${c}"::${t} AS "${c}"`).join(', ');

function partKey(spec: TableSpec, day: string, runId: string, n: number): string {
  return `${spec.prefix}/dt=${day}/part-${runId}-${n}.parquet`;
}

async function putFiles(ctx: JobContext, stats: CopyStats[], keyOf: (i: number, file: string) => { day: string; key: string }): Promise<WrittenFile[]> {
  const out: WrittenFile[] = [];
  for (const [i, s] of stats.entries()) {
    if (s.count === 0) continue;
    const { day, key } = keyOf(i, s.filename);
    await ctx.store.put(key, await readFile(s.filename), { contentType: 'application/vnd.apache.parquet' });
    await rm(s.filename, { force: true });
    out.push({ day, key, rows: s.count, bytes: s.file_size_bytes });
  }
  return out;
}

/**
 * Writes the rows of `select` (the spec's columns and a DATE column `day`) as one new file per
 * day, under `<prefix>/dt=<day>/part-<runId>-<n>.parquet`. When the caller knows every row is
 * of `onlyDay` (the usual batch), the write skips DuckDB's partitioning (measured 1.2–1.4× faster).
 */
export async function writePartitioned(ctx: JobContext, spec: TableSpec, select: string, runId: string, onlyDay?: string): Promise<WrittenFile[]> {
  const cols = castColumns(spec);
  if (onlyDay !== undefined) {
    const path = ctx.scratchFile(`${spec.view}.parquet`);
    const stats = await rows<CopyStats>(ctx.conn,
      `COPY (SELECT ${cols} FROM (${select})) TO ${lit(path)} (${PARQUET}, RETURN_STATS true)`);
    return putFiles(ctx, stats, () => ({ day: onlyDay, key: partKey(spec, onlyDay, runId, 0) }));
  }
  const dir = ctx.scratchFile(spec.view);
  const stats = await rows<CopyStats>(ctx.conn,
    `COPY (SELECT ${cols}, strftime(day, '%Y-%m-%d') AS day FROM (${select})) TO ${lit(dir)} (${PARQUET}, PARTITION_BY (day), FILENAME_PATTERN 'part_{i}', RETURN_STATS true)`);
  const seen = new Map<string, number>();
  return putFiles(ctx, stats, (_i, file) => {
    const day = /day=(\d{4}-\d{2}-\d{2})/.exec(file)?.[1];
    if (day === undefined) throw new Error(`unexpected partition file ${file}`);
    const n = seen.get(day) ?? 0;
    seen.set(day, n + 1);
    return { day, key: partKey(spec, day, runId, n) };
  });
}

/**
 * Writes the rows of `select` (the spec's columns) as the whole new content of one day, in files
 * of about `targetFileBytes`, ordered by `orderBy` when given.
 */
export async function writeDay(ctx: JobContext, spec: TableSpec, day: string, select: string, runId: string, orderBy?: string): Promise<WrittenFile[]> {
  const dir = ctx.scratchFile(spec.view);
  const cols = castColumns(spec);
  const stats = await rows<CopyStats>(ctx.conn,
    `COPY (SELECT ${cols} FROM (${select})${orderBy ? ` ORDER BY ${orderBy}` : ''}) TO ${lit(dir)} (${PARQUET}, FILE_SIZE_BYTES ${ctx.settings.targetFileBytes}, FILENAME_PATTERN 'part_{i}', RETURN_STATS true)`);
  stats.sort((a, b) => (a.filename < b.filename ? -1 : 1));
  return putFiles(ctx, stats, (i) => ({ day, key: partKey(spec, day, runId, i) }));
}

export function appendPartitionFiles(parts: Record<string, PartitionFiles>, f: WrittenFile, version: string): void {
  const p = (parts[f.day] ??= { version, files: [], rows: 0, bytes: 0 });
  p.version = version;
  p.files.push(f.key);
  p.rows += f.rows;
  p.bytes += f.bytes;
}

/** Replaces a day's files (or removes the day when `files` is empty). */
export function replacePartition(parts: Record<string, PartitionFiles>, day: string, files: WrittenFile[], version: string): void {
  if (files.length === 0) {
    delete parts[day];
    return;
  }
  parts[day] = { version, files: files.map((f) => f.key), rows: files.reduce((n, f) => n + f.rows, 0), bytes: files.reduce((n, f) => n + f.bytes, 0) };
}

/** Rewrites a day's files as few files of about `targetFileBytes`, sorted by `orderBy`. */
export async function compactPartition(ctx: JobContext, spec: TableSpec, parts: Record<string, PartitionFiles>, day: string, runId: string, orderBy: string): Promise<void> {
  const p = parts[day];
  if (!p) return;
  const paths = await Promise.all(p.files.map((k) => ctx.localFile(k)));
  const files = await writeDay(ctx, spec, day, `SELECT * FROM read_parquet(${litList(paths)})`, runId, orderBy);
  replacePartition(parts, day, files, runId);
}

/** Removes days older than `days` days before now from the partitions (0 keeps all); returns them. */
export function dropExpired(parts: Record<string, PartitionFiles>, days: number, now: number): string[] {
  if (days === 0) return [];
  const cutoff = new Date(now - days * 86_400_000).toISOString().slice(0, 10);
  const dropped = Object.keys(parts).filter((d) => d < cutoff).sort();
  for (const d of dropped) delete parts[d];
  return dropped;
}

/** Local paths of a day's files. */
export function dayFiles(ctx: JobContext, p: PartitionFiles | undefined): Promise<string[]> {
  return Promise.all((p?.files ?? []).map((k) => ctx.localFile(k)));
}
