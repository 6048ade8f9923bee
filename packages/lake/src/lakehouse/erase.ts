/**
 * Erasure (GDPR, a patient's `DELETE`): removes every record of given devices from the lake, so
 * that no object holds any of it afterwards.
 *
 * What is rewritten, in this order (each step only touches objects that hold such records):
 *  1. raw zone: the gzip NDJSON objects of `raw/<topic>/` and `errors/<topic>/` of the lake's
 *     topic and of `alerts` (alert events carry `device`; findings and inventory are about cloud
 *     accounts, not devices, and are not read). A line is the devices' by erased.ts's rule. An
 *     object is rewritten under the same key with the other lines byte for byte (compare-and-set
 *     over the version read, so a concurrent rewrite by delivery is read again), or deleted when
 *     nothing is left. Bronze's manifest learns the new sizes, so bronze does not read them again.
 *     The `predictions` topic (the scoring role's, one device per event) is scrubbed the same way.
 *  2. bronze and quarantine (`device_id`; quarantine rows also by the text of `raw`), then silver
 *     (`device_key`, the HMAC pseudonym of pseudonym.ts under the lake's key): the files of a
 *     day holding such rows are rewritten without them under fresh names, like a job writes
 *     files; the day gets a new version. A day left empty is removed.
 *  3. gold: every day silver rewrote, and every gold day holding the devices' pseudonyms, is
 *     recomputed by gold's own job from the rewritten silver. A gold day whose silver day is
 *     gone (silver's retention is shorter than gold's) cannot be recomputed: its hourly and daily
 *     rows of the devices are removed and its fleet row is recomputed from the daily rows left.
 *  4. the predictions tables (predictions.ts): `predictions` and `predictions_quarantine` like
 *     bronze and quarantine (in step 2), `gold_predictions_daily` by removing the devices' rows
 *     (one row per device, day and model: nothing else to recompute).
 *
 * Manifests stay coherent: each layer commits through its manifest as the jobs do (new files,
 * manifest put, then unlisted files deleted), and records which upstream version a rewritten day
 * now corresponds to (silver built from bronze version v is, once both lose the same device, built
 * from bronze's new version), so the next run neither rebuilds nor resurrects anything. Files a
 * crashed job left unlisted are deleted first: they may hold the devices' rows.
 *
 * Erasure runs in the lakehouse's queue (`Lakehouse.erase`), so never beside one of its jobs; the
 * lakehouse holds its staging directory's lock, so no other process runs jobs there meanwhile.
 * Running it again finds nothing and reports zeros. A crash part-way leaves a coherent lake (every
 * step commits like a job); running it again finishes the work.
 */
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { stat } from 'node:fs/promises';
import { StrataError, uuidv7 } from '@strata/core';
import { storageErrors } from '@strata/storage';
import { lakeErrors } from '../errors.js';
import { DELIVERY_DEFAULTS } from '../delivery/delivery.js';
import { litList, rows } from './duck.js';
import { errorLineDevices, idIn, keyIn, lineDevices, loadDeviceSet, quarantineRowIn } from './erased.js';
import { runGold } from './gold.js';
import { Lakehouse, type JobContext } from './lakehouse.js';
import { loadManifest, removeUnlisted, saveManifest, type LayerManifest } from './manifest.js';
import { devicePseudonym } from './pseudonym.js';
import { replacePartition, writeDay } from './files.js';
import { tableSpec, TABLES, type TableSpec } from './tables.js';
import type { LakeOptions } from './types.js';

const gunzipAsync = promisify(gunzip);
const gzipAsync = promisify(gzip);
const NEWLINE = Buffer.from('\n');

const BRONZE = tableSpec('bronze', 'telemetry');
const QUARANTINE = tableSpec('bronze', 'quarantine');
const SILVER = tableSpec('silver', 'telemetry');
const HOURLY = tableSpec('gold', 'hourly');
const DAILY = tableSpec('gold', 'daily');
const FLEET = tableSpec('gold', 'fleet_daily');
const PREDICTIONS = tableSpec('bronze', 'predictions');
const PREDICTIONS_QUARANTINE = tableSpec('bronze', 'predictions_quarantine');
const PREDICTIONS_DAILY = tableSpec('gold', 'predictions_daily');

/** Same grammar as ingest's device ids. */
const DEVICE_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** Raw objects read at once. */
const RAW_PARALLEL = 8;

export interface EraseOptions {
  /** Topics whose raw/ and errors/ objects are scrubbed. Default: the lake's topic, `alerts` and `predictions`. */
  rawTopics?: readonly string[];
}

export interface EraseReport {
  /** Raw and errors/ objects rewritten or deleted (deleted: nothing else was in them). */
  rawObjectsRewritten: number;
  /** Raw and errors/ lines removed. */
  rawRecordsRemoved: number;
  /** Files of bronze and of the predictions table. */
  bronzeFilesRewritten: number;
  silverFilesRewritten: number;
  /** Files of both quarantine tables (telemetry's and predictions'). */
  quarantineFilesRewritten: number;
  /** Gold days recomputed (each: its hourly, daily and fleet partitions). */
  goldPartitionsRecomputed: number;
  /** Parquet rows removed: bronze, quarantine, silver and predictions rows, and gold hourly, daily and predictions_daily rows. */
  rowsRemoved: number;
  seconds: number;
}

/**
 * Opens the lake with `opts` (the options `Lakehouse.open` takes: taking its lock, so it refuses
 * with STRATA_ERR_LAKE_LOCKED while another process runs the lake's jobs), erases the devices and
 * closes it. A process that has the lake open already calls `lake.erase(deviceIds)`.
 */
export async function eraseDevices(opts: LakeOptions, deviceIds: readonly string[], eraseOpts: EraseOptions = {}): Promise<EraseReport> {
  const lake = await Lakehouse.open(opts);
  try {
    return await lake.erase(deviceIds, eraseOpts);
  } finally {
    await lake.close();
  }
}

/** The work of `Lakehouse.erase`; also returns the keys of the Parquet files it replaced. */
export async function runErase(ctx: JobContext, deviceIds: readonly string[], opts: EraseOptions): Promise<{ report: EraseReport; replaced: string[] }> {
  const started = performance.now();
  const ids = [...new Set(deviceIds)];
  for (const id of ids) {
    if (typeof id !== 'string' || !DEVICE_ID.test(id)) throw lakeErrors.STRATA_ERR_LAKE_BAD_OPTION({ option: 'deviceIds', reason: `not a device id: ${JSON.stringify(id).slice(0, 140)}` });
  }
  const report: EraseReport = { rawObjectsRewritten: 0, rawRecordsRemoved: 0, bronzeFilesRewritten: 0, silverFilesRewritten: 0, quarantineFilesRewritten: 0, goldPartitionsRecomputed: 0, rowsRemoved: 0, seconds: 0 };
  const replaced: string[] = [];
  if (ids.length === 0) return { report, replaced };
  const log = ctx.logger;
  const { conn, store } = ctx;

  // 1. Raw zone.
  const rewritten = await scrubRaw(ctx, new Set(ids), opts.rawTopics ?? [...new Set([ctx.topic, 'alerts', 'predictions'])], report);

  // 2. Bronze and quarantine (one manifest), then silver.
  await loadDeviceSet(ctx, 'erase_set', ids, (id) => devicePseudonym(ctx.pseudonymKey, id));
  const bronzeM = await loadManifest(store, 'bronze');
  const bronzePrefixes = [BRONZE, QUARANTINE, PREDICTIONS, PREDICTIONS_QUARANTINE].map((t) => t.prefix);
  await removeUnlisted(store, bronzeM, bronzePrefixes);
  for (const [key, sizes] of rewritten) {
    if (bronzeM.rawDone[key] !== sizes.before) continue; // not read yet: bronze reads what is left
    if (sizes.after === undefined) delete bronzeM.rawDone[key];
    else bronzeM.rawDone[key] = sizes.after;
  }
  const bronzeVersions = versions(bronzeM, BRONZE);
  const bronze = await scrubTable(ctx, bronzeM, BRONZE, idIn('device_id', 'erase_set'));
  const quarantine = await scrubTable(ctx, bronzeM, QUARANTINE, quarantineRowIn('erase_set'));
  const predictionVersions = versions(bronzeM, PREDICTIONS);
  const predictions = await scrubTable(ctx, bronzeM, PREDICTIONS, idIn('device_id', 'erase_set'), 'device_id, ts');
  const predictionsQuarantine = await scrubTable(ctx, bronzeM, PREDICTIONS_QUARANTINE, quarantineRowIn('erase_set'));
  if (rewritten.size > 0 || bronze.files + quarantine.files + predictions.files + predictionsQuarantine.files > 0) {
    await saveManifest(store, bronzeM, ctx.now());
    await removeUnlisted(store, bronzeM, bronzePrefixes);
  }
  report.bronzeFilesRewritten = bronze.files + predictions.files;
  report.quarantineFilesRewritten = quarantine.files + predictionsQuarantine.files;
  replaced.push(...bronze.replaced, ...quarantine.replaced, ...predictions.replaced, ...predictionsQuarantine.replaced);
  report.rowsRemoved += predictions.rows + predictionsQuarantine.rows;

  const silverM = await loadManifest(store, 'silver');
  await removeUnlisted(store, silverM, [SILVER.prefix]);
  const silver = await scrubTable(ctx, silverM, SILVER, keyIn('device_key', 'erase_set'));
  // A silver day that was up to date with bronze is up to date with bronze's rewritten day.
  let silverChanged = silver.files > 0;
  for (const day of bronze.days) {
    if (silverM.builtFrom[day] !== bronzeVersions.get(day)) continue;
    const now = bronzeM.tables[BRONZE.name]?.[day]?.version;
    if (now !== undefined) silverM.builtFrom[day] = now;
    else if (silverM.tables[SILVER.name]?.[day] === undefined) delete silverM.builtFrom[day];
    silverChanged = true;
  }
  if (silverChanged) {
    await saveManifest(store, silverM, ctx.now());
    await removeUnlisted(store, silverM, [SILVER.prefix]);
  }
  report.silverFilesRewritten = silver.files;
  replaced.push(...silver.replaced);
  report.rowsRemoved += bronze.rows + quarantine.rows + silver.rows;

  // 3. Gold: what it holds of the devices, then the days to recompute.
  const goldM = await loadManifest(store, 'gold');
  await removeUnlisted(store, goldM, [HOURLY, DAILY, FLEET].map((t) => t.prefix));
  const goldHits = new Map<string, number>();
  for (const spec of [HOURLY, DAILY]) {
    for (const [day, n] of await rowsPerDay(ctx, goldM, spec, keyIn('device_key', 'erase_set'))) goldHits.set(day, (goldHits.get(day) ?? 0) + n);
  }
  report.rowsRemoved += [...goldHits.values()].reduce((a, b) => a + b, 0);
  const silverParts = silverM.tables[SILVER.name] ?? {};
  const recompute = [...new Set([...silver.days, ...goldHits.keys()])].filter((d) => silverParts[d] !== undefined).sort();
  if (recompute.length > 0) {
    const before = new Set(goldFiles(goldM));
    const s = await runGold(ctx, undefined, recompute);
    report.goldPartitionsRecomputed += s.partitions.length;
    const after = new Set(goldFiles(await loadManifest(store, 'gold')));
    replaced.push(...[...before].filter((k) => !after.has(k)));
  }
  // Gold days silver no longer has (its silver day expired, or held only these devices).
  const orphans = [...new Set([...silver.days, ...goldHits.keys()])].filter((d) => silverParts[d] === undefined).sort();
  if (orphans.length > 0) {
    const m = await loadManifest(store, 'gold');
    const before = new Set(goldFiles(m));
    for (const day of orphans) {
      if (await scrubGoldDay(ctx, m, day)) report.goldPartitionsRecomputed++;
    }
    await saveManifest(store, m, ctx.now());
    await removeUnlisted(store, m, [HOURLY, DAILY, FLEET].map((t) => t.prefix));
    const after = new Set(goldFiles(m));
    replaced.push(...[...before].filter((k) => !after.has(k)));
  }

  // Gold's predictions: rows per device (pseudonym), so removing them is exact; a day that was up
  // to date with the predictions table is up to date with its rewritten day.
  const predM = await loadManifest(store, 'gold');
  await removeUnlisted(store, predM, [PREDICTIONS_DAILY.prefix]);
  const predGold = await scrubTable(ctx, predM, PREDICTIONS_DAILY, keyIn('device_key', 'erase_set'), 'device_key, model');
  let predChanged = predGold.files > 0;
  for (const day of predictions.days) {
    const key = `predictions/${day}`;
    if (predM.builtFrom[key] !== predictionVersions.get(day)) continue;
    const now = bronzeM.tables[PREDICTIONS.name]?.[day]?.version;
    if (now !== undefined) predM.builtFrom[key] = now;
    else delete predM.builtFrom[key];
    predChanged = true;
  }
  if (predChanged) {
    await saveManifest(store, predM, ctx.now());
    await removeUnlisted(store, predM, [PREDICTIONS_DAILY.prefix]);
  }
  replaced.push(...predGold.replaced);
  report.rowsRemoved += predGold.rows;

  await conn.run('DROP TABLE IF EXISTS erase_set');
  report.seconds = (performance.now() - started) / 1000;
  log.info({ devices: ids.length, ...report }, 'lake erasure done');
  return { report, replaced };
}

interface RawSizes {
  before: number;
  /** Undefined when the object was deleted. */
  after: number | undefined;
}

/** Step 1: every raw/ and errors/ object of `topics` holding lines of `ids`. */
async function scrubRaw(ctx: JobContext, ids: ReadonlySet<string>, topics: readonly string[], report: EraseReport): Promise<Map<string, RawSizes>> {
  const { store } = ctx;
  const objects: Array<{ key: string; size: number; zone: 'raw' | 'errors' }> = [];
  for (const topic of topics) {
    for (const zone of ['raw', 'errors'] as const) {
      for await (const o of store.list(`${zone}/${topic}/`)) objects.push({ key: o.key, size: o.size, zone });
    }
  }
  const out = new Map<string, RawSizes>();
  let next = 0;
  const worker = async () => {
    while (next < objects.length) {
      const o = objects[next++]!;
      const r = await scrubObject(ctx, o.key, o.zone, ids);
      if (r === undefined) continue;
      out.set(o.key, { before: o.size, after: r.size });
      report.rawObjectsRewritten++;
      report.rawRecordsRemoved += r.removed;
    }
  };
  await Promise.all(Array.from({ length: RAW_PARALLEL }, worker));
  return out;
}

/**
 * Rewrites one object without the lines of `ids`; undefined when it has none. The write is
 * conditional on the version read: if delivery rewrote the object meanwhile, it is read again.
 */
async function scrubObject(ctx: JobContext, key: string, zone: 'raw' | 'errors', ids: ReadonlySet<string>): Promise<{ removed: number; size: number | undefined } | undefined> {
  for (let attempt = 0; ; attempt++) {
    const obj = await ctx.store.getVersioned(key);
    if (obj === undefined) return undefined;
    let text: Buffer;
    try {
      text = await gunzipAsync(obj.body);
    } catch (err) {
      // Bronze quarantines it as unreadable (without its bytes); nothing here can tell whose it is.
      ctx.logger.warn({ key, err }, 'lake erasure: raw object is not gzip, left as is');
      return undefined;
    }
    // Most objects do not even contain the text of an id: no line to parse.
    if (![...ids].some((id) => text.includes(id))) return undefined;
    const kept: Buffer[] = [];
    let removed = 0;
    for (let start = 0; start < text.length; ) {
      let end = text.indexOf(0x0a, start);
      if (end < 0) end = text.length;
      const line = text.subarray(start, end);
      start = end + 1;
      if (line.length === 0) continue;
      const s = line.toString('utf8');
      const devices = zone === 'raw' ? lineDevices(s) : errorLineDevices(s);
      if (devices.some((d) => ids.has(d))) removed++;
      else kept.push(line, NEWLINE);
    }
    if (removed === 0) return undefined;
    try {
      if (kept.length === 0) {
        await ctx.store.delete(key);
        return { removed, size: undefined };
      }
      const body = await gzipAsync(Buffer.concat(kept), { level: DELIVERY_DEFAULTS.gzipLevel });
      await ctx.store.putIf(key, body, obj.version, { contentType: 'application/gzip' });
      return { removed, size: body.length };
    } catch (err) {
      if (attempt < 3 && err instanceof StrataError && err.code === storageErrors.STRATA_ERR_STORAGE_CHANGED.code) continue;
      throw err;
    }
  }
}

/** Day → version of a table's partitions. */
function versions(m: LayerManifest, spec: TableSpec): Map<string, string> {
  return new Map(Object.entries(m.tables[spec.name] ?? {}).map(([day, p]) => [day, p.version]));
}

function goldFiles(m: LayerManifest): string[] {
  return TABLES.filter((t) => t.layer === 'gold').flatMap((t) => Object.values(m.tables[t.name] ?? {}).flatMap((p) => p.files));
}

/** Rows matching `where` per file of a table (only files that have some). */
async function rowsPerFile(ctx: JobContext, m: LayerManifest, spec: TableSpec, where: string, days?: ReadonlySet<string>): Promise<Array<{ day: string; key: string; path: string; n: number }>> {
  const files = Object.entries(m.tables[spec.name] ?? {}).filter(([day]) => !days || days.has(day)).flatMap(([day, p]) => p.files.map((key) => ({ day, key })));
  if (files.length === 0) return [];
  const paths = await Promise.all(files.map((f) => ctx.localFile(f.key)));
  const byPath = new Map(paths.map((p, i) => [p, files[i]!]));
  const hits = await rows<{ filename: string; n: number }>(ctx.conn,
    `SELECT filename, count(*) AS n FROM read_parquet(${litList(paths)}, filename = true, hive_partitioning = false) WHERE ${where} GROUP BY filename`);
  return hits.map((h) => {
    const f = byPath.get(h.filename);
    if (f === undefined) throw lakeErrors.STRATA_ERR_LAKE_JOB_FAILED({ layer: 'erase', reason: `unexpected file name ${h.filename} from DuckDB` });
    return { ...f, path: h.filename, n: h.n };
  });
}

async function rowsPerDay(ctx: JobContext, m: LayerManifest, spec: TableSpec, where: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const h of await rowsPerFile(ctx, m, spec, where)) out.set(h.day, (out.get(h.day) ?? 0) + h.n);
  return out;
}

interface Scrubbed {
  files: number;
  rows: number;
  /** Days rewritten (or removed, when nothing was left). */
  days: string[];
  /** Keys of the files replaced. */
  replaced: string[];
}

/**
 * Rewrites, in `m` (not saved), the files of `spec` holding rows matching `where` without those
 * rows (of `days` only, when given): per day, the files hit become new files (`part-<run>-<n>`), the others stay; the day gets
 * the run's id as version, or is removed when empty.
 */
async function scrubTable(ctx: JobContext, m: LayerManifest, spec: TableSpec, where: string, orderBy?: string, days?: ReadonlySet<string>): Promise<Scrubbed> {
  const out: Scrubbed = { files: 0, rows: 0, days: [], replaced: [] };
  const hits = await rowsPerFile(ctx, m, spec, where, days);
  const parts = (m.tables[spec.name] ??= {});
  for (const day of [...new Set(hits.map((h) => h.day))].sort()) {
    const dayHits = hits.filter((h) => h.day === day);
    const p = parts[day]!;
    const runId = uuidv7();
    const written = await writeDay(ctx, spec, day,
      `SELECT * FROM read_parquet(${litList(dayHits.map((h) => h.path))}, hive_partitioning = false) WHERE NOT (${where})`, runId, orderBy);
    const hitKeys = new Set(dayHits.map((h) => h.key));
    let oldBytes = 0;
    for (const h of dayHits) oldBytes += (await stat(h.path)).size;
    const removed = dayHits.reduce((n, h) => n + h.n, 0);
    const files = [...p.files.filter((k) => !hitKeys.has(k)), ...written.map((w) => w.key)];
    if (files.length === 0) delete parts[day];
    else parts[day] = { version: runId, files, rows: p.rows - removed, bytes: p.bytes - oldBytes + written.reduce((n, w) => n + w.bytes, 0) };
    out.files += dayHits.length;
    out.rows += removed;
    out.days.push(day);
    out.replaced.push(...hitKeys);
  }
  return out;
}

/**
 * A gold day without silver: the devices' hourly and daily rows removed, the fleet row recomputed
 * from the daily rows left as gold computes it (`mean_completeness` is the mean of `completeness`).
 * Returns whether it changed anything.
 */
async function scrubGoldDay(ctx: JobContext, m: LayerManifest, day: string): Promise<boolean> {
  const where = keyIn('device_key', 'erase_set');
  const only = new Set([day]);
  const hourly = await scrubTable(ctx, m, HOURLY, where, 'device_key, metric, hour', only);
  const daily = await scrubTable(ctx, m, DAILY, where, 'device_key, metric', only);
  if (hourly.files + daily.files === 0) return false;
  const left = m.tables[DAILY.name]?.[day];
  const fleetParts = (m.tables[FLEET.name] ??= {});
  const fleet = left === undefined ? [] : await writeDay(ctx, FLEET, day,
    `SELECT kind, DATE '${day}' AS day, count(DISTINCT device_key) AS devices, count(DISTINCT metric) AS metrics, sum(count) AS samples,
       sum(late) AS late, sum(outliers) AS outliers, avg(completeness) AS mean_completeness
     FROM read_parquet(${litList(await Promise.all(left.files.map((k) => ctx.localFile(k))))}, hive_partitioning = false) GROUP BY kind`, uuidv7(), 'kind');
  replacePartition(fleetParts, day, fleet, uuidv7());
  if (left === undefined && m.tables[HOURLY.name]?.[day] === undefined) delete m.builtFrom[day];
  return true;
}
