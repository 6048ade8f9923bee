/**
 * The lakehouse: one embedded DuckDB running the raw → bronze → silver → gold jobs over the
 * object store, one run at a time. Each layer is incremental and commits through its manifest
 * (see manifest.ts): running it twice, or again after a crash half-way, gives the same tables.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { acquireDirLock, silentLogger, type Logger } from '@strata/core';
import type { ObjectStore } from '@strata/storage';
import { lakeErrors } from '../errors.js';
import { lit, litList, openDuck, rows } from './duck.js';
import { devicePseudonym } from './pseudonym.js';
import { listedFiles, loadManifest } from './manifest.js';
import { runBronze } from './bronze.js';
import { runSilver } from './silver.js';
import { runGold } from './gold.js';
import { mergeSummaries, runPredictions, runPredictionsGold } from './predictions.js';
import { runErase, type EraseOptions, type EraseReport } from './erase.js';
import { TABLES, type TableSpec } from './tables.js';
import { LAKE_LAYERS, type DeviceMeta, type LakeLayer, type LakeOptions, type LakeSettings, type LayerSummary, type QueryRole, type RunOptions, type RunSummary } from './types.js';

const MiB = 1024 * 1024;

/** Counters since open, for `/metrics`. */
export interface LakeStats {
  runs: number;
  failedRuns: number;
  /** Rows written per layer (bronze and silver: long rows; gold: aggregate rows). */
  rowsWritten: Record<LakeLayer, number>;
  quarantined: number;
  duplicates: number;
  /** `now()` ms of the end of the last run that succeeded, or null. */
  lastSuccessAt: number | null;
}

export interface LakeSeriesBucket {
  start: Date;
  count: number;
  min: number;
  max: number;
  sum: number;
  sumSq: number;
}

/** One row of the predictions table (predictions.ts), as `Lakehouse.predictions` returns it. */
export interface LakePrediction {
  eventId: string;
  device: string;
  ts: Date;
  model: string;
  probability: number;
  predicted: boolean;
  /** The features that weighed most, as the scoring role named them; empty when it named none. */
  topFeatures: string[];
  receivedAt: Date;
}

/** What `Lakehouse.telemetry` reads: some devices' metrics from silver. */
export interface LakeTelemetryQuery {
  /** Device ids, in the order their rows come. Silver holds pseudonyms: the ids are matched through the lake's key. */
  devices: readonly string[];
  metrics: readonly string[];
  /** Event times in [from, to); default: all of silver. */
  from?: Date;
  to?: Date;
}

/** A batch of silver rows (one DuckDB result chunk), columnar. */
export interface LakeTelemetryChunk {
  length: number;
  /** Per row: index into the query's `devices`. */
  device: Uint32Array;
  /** Per row: event time, Unix ms. */
  ts: Float64Array;
  /** Per row: index into the query's `metrics`. */
  metric: Uint32Array;
  value: Float64Array;
}

export interface LakeTelemetry {
  /** Rows in range per device of the query (0: none). */
  rows: number[];
  /** Devices silver holds rows of these metrics for in range that the query does not name, and their rows (skipped). */
  otherDevices: number;
  otherRows: number;
  /**
   * The rows ordered by device (the query's order), event time, metric (the query's order), as
   * DuckDB streams them; read once. The read holds a connection until the loop ends.
   */
  chunks: AsyncIterable<LakeTelemetryChunk>;
}

export const LAKE_DEFAULTS: Readonly<LakeSettings> = Object.freeze({
  lateAfterMs: 15 * 60_000,
  outlierSigma: 4,
  targetFileBytes: 128 * MiB,
  maxFilesPerPartition: 8,
  batchBytes: 64 * MiB,
  retentionDays: Object.freeze({ bronze: 90, quarantine: 90, silver: 365, gold: 0 }),
  memoryLimit: '2GB',
  threads: 2,
});

/** What a layer job gets. */
export interface JobContext {
  conn: DuckDBConnection;
  store: ObjectStore;
  topic: string;
  settings: LakeSettings;
  logger: Logger;
  now: () => number;
  pseudonymKey: Uint8Array;
  devices: () => Promise<DeviceMeta[]>;
  /** Devices whose data was erased: bronze drops their events (LakeOptions.erasedDevices). */
  erasedDevices: () => Promise<Iterable<string>>;
  /** Local file of an object: in place when the store has one, else a staged copy. */
  localFile: (key: string) => Promise<string>;
  /** A fresh local path to write a file that will be put under some key. */
  scratchFile: (name: string) => string;
}

function checkSettings(s: LakeSettings): void {
  const bad = (setting: string, reason: string) => lakeErrors.STRATA_ERR_LAKE_BAD_SETTING({ setting, reason });
  if (!(s.lateAfterMs >= 0)) throw bad('lateAfterMs', 'must be ≥ 0');
  if (!(s.outlierSigma > 0)) throw bad('outlierSigma', 'must be > 0');
  if (!(s.targetFileBytes >= MiB)) throw bad('targetFileBytes', 'must be ≥ 1 MiB');
  if (!(Number.isInteger(s.maxFilesPerPartition) && s.maxFilesPerPartition >= 1)) throw bad('maxFilesPerPartition', 'must be an integer ≥ 1');
  if (!(s.batchBytes >= 1024)) throw bad('batchBytes', 'must be ≥ 1024');
  if (!(Number.isInteger(s.threads) && s.threads >= 1)) throw bad('threads', 'must be an integer ≥ 1');
  for (const [layer, days] of Object.entries(s.retentionDays)) {
    if (!(Number.isInteger(days) && days >= 0)) throw bad(`retentionDays.${layer}`, 'must be an integer ≥ 0');
  }
}

export class Lakehouse {
  readonly settings: LakeSettings;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private stagedSeq = 0;
  private seriesConn: DuckDBConnection | undefined;
  private readonly counters: LakeStats = { runs: 0, failedRuns: 0, rowsWritten: { bronze: 0, silver: 0, gold: 0 }, quarantined: 0, duplicates: 0, lastSuccessAt: null };

  private constructor(
    private readonly opts: LakeOptions,
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
    settings: LakeSettings,
    private readonly release: () => Promise<void>,
  ) {
    this.settings = settings;
  }

  static async open(opts: LakeOptions): Promise<Lakehouse> {
    const settings: LakeSettings = {
      ...LAKE_DEFAULTS,
      ...opts.settings,
      retentionDays: { ...LAKE_DEFAULTS.retentionDays, ...opts.settings?.retentionDays },
    };
    checkSettings(settings);
    // One process runs a lake's jobs: the staging directory is its lock.
    await mkdir(opts.stagingDir, { recursive: true });
    const release = await acquireDirLock(opts.stagingDir, { logger: opts.logger ?? silentLogger, locked: lakeErrors.STRATA_ERR_LAKE_LOCKED });
    try {
      // Scratch from a previous process is never needed again.
      await rm(join(opts.stagingDir, 'jobs'), { recursive: true, force: true });
      await mkdir(join(opts.stagingDir, 'jobs'), { recursive: true });
      const { instance, conn } = await openDuck({ threads: settings.threads, memoryLimit: settings.memoryLimit, tempDir: join(opts.stagingDir, 'spill') });
      return new Lakehouse(opts, instance, conn, settings, release);
    } catch (err) {
      await release();
      throw err;
    }
  }

  get store(): ObjectStore {
    return this.opts.store;
  }

  /** The lake's local scratch directory (its lock, job scratch, spills). */
  get stagingDir(): string {
    return this.opts.stagingDir;
  }

  /** Runs the layers in order (bronze, silver, gold by default), one run at a time. */
  run(runOpts: RunOptions = {}): Promise<RunSummary> {
    const next = this.queue.then(() => this.runNow(runOpts));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /**
   * Erases every trace of `deviceIds` from the lake (raw, errors, bronze, quarantine, silver,
   * gold: see erase.ts), in the same queue as `run()`: never beside a job of this lake. Rejects
   * with STRATA_ERR_LAKE_CLOSED after `close()`, STRATA_ERR_LAKE_BAD_OPTION on a bad id.
   */
  erase(deviceIds: readonly string[], eraseOpts: EraseOptions = {}): Promise<EraseReport> {
    const next = this.queue.then(async () => {
      if (this.closed) throw lakeErrors.STRATA_ERR_LAKE_CLOSED({});
      const { report, replaced } = await this.withJobContext((ctx) => runErase(ctx, deviceIds, eraseOpts));
      // Staged copies of the files erasure replaced (stores without local files) go now, not at
      // the next prune: they hold the erased rows.
      if (!this.opts.store.localPath) {
        const queryDir = join(this.opts.stagingDir, 'query');
        for (const key of replaced) await rm(join(queryDir, ...key.split('/')), { force: true });
      }
      return report;
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  stats(): LakeStats {
    return { ...this.counters, rowsWritten: { ...this.counters.rowsWritten } };
  }

  private async runNow(runOpts: RunOptions): Promise<RunSummary> {
    if (this.closed) throw lakeErrors.STRATA_ERR_LAKE_CLOSED({});
    this.counters.runs++;
    try {
      const summary = await this.runLayers(runOpts);
      this.counters.lastSuccessAt = (this.opts.now ?? Date.now)();
      return summary;
    } catch (err) {
      this.counters.failedRuns++;
      throw err;
    }
  }

  private async runLayers(runOpts: RunOptions): Promise<RunSummary> {
    const started = performance.now();
    const layers = LAKE_LAYERS.filter((l) => (runOpts.layers ?? LAKE_LAYERS).includes(l));
    const summaries: LayerSummary[] = [];
    await this.withJobContext(async (ctx) => {
      for (const layer of layers) {
        const t0 = performance.now();
        const s = await this.runLayer(layer, ctx, runOpts.since);
        s.seconds = (performance.now() - t0) / 1000;
        ctx.logger.info({ ...s, partitions: s.partitions.length, dropped: s.dropped.length }, 'lake layer done');
        summaries.push(s);
        this.counters.rowsWritten[layer] += s.rowsWritten;
        this.counters.quarantined += s.quarantined;
        this.counters.duplicates += s.duplicates;
      }
    });
    return { layers: summaries, seconds: (performance.now() - started) / 1000 };
  }

  /** Runs `fn` with a job context; the job scratch (staged copies, DuckDB's output) is cleared after. */
  private async withJobContext<T>(fn: (ctx: JobContext) => Promise<T>): Promise<T> {
    try {
      return await fn(this.context());
    } finally {
      await rm(join(this.opts.stagingDir, 'jobs'), { recursive: true, force: true });
      await mkdir(join(this.opts.stagingDir, 'jobs'), { recursive: true });
    }
  }

  /** A layer's jobs; bronze and gold also build the predictions tables (predictions.ts), counted in the layer's summary. */
  private async runLayer(layer: LakeLayer, ctx: JobContext, since: number | undefined): Promise<LayerSummary> {
    switch (layer) {
      case 'bronze':
        return mergeSummaries(await runBronze(ctx, since), await runPredictions(ctx, since));
      case 'silver':
        return runSilver(ctx, since);
      case 'gold':
        return mergeSummaries(await runGold(ctx, since), await runPredictionsGold(ctx, since));
    }
  }

  private context(): JobContext {
    const { store, stagingDir } = this.opts;
    const jobs = join(stagingDir, 'jobs');
    return {
      conn: this.conn,
      store,
      topic: this.opts.topic ?? 'telemetry',
      settings: this.settings,
      logger: this.opts.logger ?? silentLogger,
      now: this.opts.now ?? Date.now,
      pseudonymKey: this.opts.pseudonymKey,
      devices: this.opts.devices,
      erasedDevices: this.opts.erasedDevices ?? (async () => []),
      localFile: (key) => this.localFile(key, jobs),
      scratchFile: (name) => join(jobs, `${++this.stagedSeq}-${name}`),
    };
  }

  /**
   * Staged copies keep the key's path (Hive readers need its `dt=` folders) and are reused: lake
   * files are never rewritten under the same key (raw objects only with the same bytes, or by
   * erasure, and the job scratch holding them is cleared after every run and erasure).
   */
  private async localFile(key: string, dir: string): Promise<string> {
    const { store } = this.opts;
    if (store.localPath) return store.localPath(key);
    const path = join(dir, ...key.split('/'));
    if (await stat(path).then(() => true, () => false)) return path;
    const body = await store.get(key);
    if (body === undefined) throw lakeErrors.STRATA_ERR_LAKE_JOB_FAILED({ layer: 'read', reason: `object ${key} disappeared` });
    await mkdir(dirname(path), { recursive: true });
    // Written aside then renamed: a concurrent query never sees a partial copy.
    const tmp = join(dirname(path), `.tmp-${randomBytes(6).toString('hex')}`);
    try {
      await writeFile(tmp, body);
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    return path;
  }

  /**
   * Removes the staged copies under `dir` of files that no manifest loaded at `loadedAt` lists
   * (replaced, compacted or expired since they were staged). A copy staged after `loadedAt` is
   * kept: it may come from a newer manifest. Queries that still read a removed copy retry.
   */
  private async pruneStaged(dir: string, listed: ReadonlySet<string>, loadedAt: number): Promise<void> {
    for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const path = join(entry.parentPath, entry.name);
      if (listed.has(relative(dir, path).split(sep).join('/'))) continue;
      // A `.tmp-` file is a copy being written, unless a crash left it long ago.
      const before = entry.name.startsWith('.tmp-') ? loadedAt - 60_000 : loadedAt;
      const info = await stat(path).catch(() => undefined);
      if (info && info.mtimeMs < before) await rm(path, { force: true });
    }
  }

  /**
   * The queryable tables for `role` with the local files of their current partitions (read from
   * the manifests now). Analysts get silver and gold only. Paths of a store without local files
   * are staged copies under `stagingDir/query/`; copies of files no manifest lists any more are
   * removed here.
   */
  async tables(role: QueryRole): Promise<Array<{ spec: TableSpec; paths: string[] }>> {
    if (this.closed) throw lakeErrors.STRATA_ERR_LAKE_CLOSED({});
    const out: Array<{ spec: TableSpec; paths: string[] }> = [];
    const queryDir = join(this.opts.stagingDir, 'query');
    await mkdir(queryDir, { recursive: true });
    const loadedAt = Date.now();
    const manifests = new Map<LakeLayer, Awaited<ReturnType<typeof loadManifest>>>();
    for (const layer of LAKE_LAYERS) manifests.set(layer, await loadManifest(this.opts.store, layer));
    for (const spec of TABLES) {
      if (!spec.roles.includes(role)) continue;
      const m = manifests.get(spec.layer)!;
      const keys = Object.keys(m.tables[spec.name] ?? {}).sort().flatMap((dt) => m.tables[spec.name]![dt]!.files);
      out.push({ spec, paths: await Promise.all(keys.map((k) => this.localFile(k, queryDir))) });
    }
    if (!this.opts.store.localPath) {
      await this.pruneStaged(queryDir, new Set([...manifests.values()].flatMap((m) => [...listedFiles(m)])), loadedAt);
    }
    return out;
  }

  /**
   * Local files (staged under `stagingDir/query/` for a store without local files) of the day
   * partitions of `layer`'s `table` that [from, to) touches, per its manifest now; an open end
   * takes every day on that side.
   */
  private async rangeFiles(layer: LakeLayer, table: string, range: { from?: Date | undefined; to?: Date | undefined }): Promise<string[]> {
    if (this.closed) throw lakeErrors.STRATA_ERR_LAKE_CLOSED({});
    const parts = (await loadManifest(this.opts.store, layer)).tables[table] ?? {};
    const fromDay = range.from?.toISOString().slice(0, 10) ?? '';
    const toDay = range.to ? new Date(range.to.getTime() - 1).toISOString().slice(0, 10) : '9999';
    const keys = Object.keys(parts).filter((d) => d >= fromDay && d <= toDay).sort().flatMap((d) => parts[d]!.files);
    if (keys.length === 0) return [];
    const dir = join(this.opts.stagingDir, 'query');
    await mkdir(dir, { recursive: true });
    return Promise.all(keys.map((k) => this.localFile(k, dir)));
  }

  /**
   * Buckets of one device's metric from silver (for ranges older than the operational store
   * keeps): only buckets holding samples, with the sums that let callers merge and derive
   * mean and population stddev. Reads only the day partitions of the range.
   */
  async series(q: { device: string; metric: string; from: Date; to: Date; stepSeconds: number }): Promise<LakeSeriesBucket[]> {
    const paths = await this.rangeFiles('silver', 'telemetry', q);
    if (paths.length === 0) return [];
    this.seriesConn ??= await this.instance.connect();
    const stepMs = q.stepSeconds * 1000;
    const found = await rows<{ start_ms: number; count: number; min: number; max: number; sum: number; sum_sq: number }>(this.seriesConn, `
      SELECT (epoch_ms(ts) // ${stepMs}) * ${stepMs} AS start_ms, count(*) AS count, min(value) AS min, max(value) AS max, sum(value) AS sum, sum(value * value) AS sum_sq
      FROM read_parquet(${litList(paths)})
      WHERE device_key = ${lit(devicePseudonym(this.opts.pseudonymKey, q.device))} AND metric = ${lit(q.metric)}
        AND ts >= TIMESTAMPTZ ${lit(q.from.toISOString())} AND ts < TIMESTAMPTZ ${lit(q.to.toISOString())}
      GROUP BY start_ms ORDER BY start_ms`);
    return found.map((r) => ({ start: new Date(r.start_ms), count: r.count, min: r.min, max: r.max, sum: r.sum, sumSq: r.sum_sq }));
  }

  /**
   * Telemetry of `q.devices` from silver, streamed in device and time order (for training; see
   * `LakeTelemetry`). Reads only the day partitions of the range; rows flagged `is_outlier` or
   * `is_late` are included (a failure's precursor looks like an outlier).
   */
  async telemetry(q: LakeTelemetryQuery): Promise<LakeTelemetry> {
    if (this.closed) throw lakeErrors.STRATA_ERR_LAKE_CLOSED({});
    const rowsOf = q.devices.map(() => 0);
    const empty: LakeTelemetry = { rows: rowsOf, otherDevices: 0, otherRows: 0, chunks: (async function* () {})() };
    if (q.devices.length === 0 || q.metrics.length === 0) return empty;
    const paths = await this.rangeFiles('silver', 'telemetry', q);
    if (paths.length === 0) return empty;
    const key = this.opts.pseudonymKey;
    const values = (items: readonly string[]) => items.map((x, i) => `(${lit(x)}, ${i})`).join(', ');
    const range = [
      q.from && `ts >= TIMESTAMPTZ ${lit(q.from.toISOString())}`,
      q.to && `ts < TIMESTAMPTZ ${lit(q.to.toISOString())}`,
    ].filter(Boolean).map((c) => ` AND ${c}`).join('');
    const src = `WITH devs(device_key, idx) AS (VALUES ${values(q.devices.map((d) => devicePseudonym(key, d)))}),
      mets(metric, mi) AS (VALUES ${values(q.metrics)}),
      s AS (SELECT device_key, ts, metric, value FROM read_parquet(${litList(paths)}) WHERE metric IN (SELECT metric FROM mets)${range})`;
    this.seriesConn ??= await this.instance.connect();
    const counts = await rows<{ idx: number | null; n: number; k: number }>(this.seriesConn, `${src}
      SELECT devs.idx, count(*) AS n, count(DISTINCT s.device_key) AS k FROM s LEFT JOIN devs USING (device_key) GROUP BY devs.idx`);
    let otherDevices = 0, otherRows = 0;
    for (const c of counts) {
      if (c.idx === null) [otherDevices, otherRows] = [c.k, c.n];
      else rowsOf[c.idx] = c.n;
    }
    const instance = this.instance;
    const isClosed = () => this.closed;
    async function* chunks(): AsyncGenerator<LakeTelemetryChunk> {
      if (isClosed()) throw lakeErrors.STRATA_ERR_LAKE_CLOSED({});
      const conn = await instance.connect();
      try {
        const result = await conn.stream(`${src}
          SELECT devs.idx::UINTEGER, epoch_ms(s.ts)::DOUBLE, mets.mi::UINTEGER, s.value
          FROM s JOIN devs USING (device_key) JOIN mets USING (metric) ORDER BY devs.idx, s.ts, mets.mi`);
        for (let chunk = await result.fetchChunk(); chunk && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
          const [device, ts, metric, value] = [0, 1, 2, 3].map((i) => chunk!.getColumnValues(i) as number[]);
          yield { length: chunk.rowCount, device: Uint32Array.from(device!), ts: Float64Array.from(ts!), metric: Uint32Array.from(metric!), value: Float64Array.from(value!) };
        }
      } finally {
        conn.closeSync();
      }
    }
    return { rows: rowsOf, otherDevices, otherRows, chunks: chunks() };
  }

  /**
   * One device's predictions from the predictions table, newest first, at most `limit`, with
   * event times in [from, to). Reads only the day partitions of the range.
   */
  async predictions(q: { device: string; from: Date; to: Date; limit: number }): Promise<LakePrediction[]> {
    const paths = await this.rangeFiles('bronze', 'predictions', q);
    if (paths.length === 0) return [];
    this.seriesConn ??= await this.instance.connect();
    const found = await rows<{ event_id: string; device_id: string; ts_ms: number; model: string; probability: number; predicted: boolean; top: string[] | null; received_ms: number }>(this.seriesConn, `
      SELECT event_id, device_id, epoch_ms(ts) AS ts_ms, model, probability, predicted, top_features AS top, epoch_ms(received_at) AS received_ms
      FROM read_parquet(${litList(paths)})
      WHERE device_id = ${lit(q.device)} AND ts >= TIMESTAMPTZ ${lit(q.from.toISOString())} AND ts < TIMESTAMPTZ ${lit(q.to.toISOString())}
      ORDER BY ts DESC, event_id LIMIT ${Math.max(0, Math.floor(q.limit))}`);
    return found.map((r) => ({
      eventId: r.event_id, device: r.device_id, ts: new Date(r.ts_ms), model: r.model, probability: r.probability, predicted: r.predicted,
      topFeatures: r.top ?? [], receivedAt: new Date(r.received_ms),
    }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    this.seriesConn?.closeSync();
    this.conn.closeSync();
    this.instance.closeSync();
    await this.release();
  }
}
