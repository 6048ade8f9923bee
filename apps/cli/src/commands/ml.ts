import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { loadConfig, type StrataConfig } from '@strata/config';
import { appendAudit, openDatabase, platformSecret, type Database, type Db } from '@strata/db';
import { Lakehouse } from '@strata/lake';
import {
  AI4I_ONLINE,
  AI4I_SCHEMA,
  buildPdmDataset,
  classMetrics,
  DEFAULT_MODEL_NAME,
  generatePdmTelemetry,
  loadLabelledCsv,
  loadPdmLogs,
  ModelRegistry,
  parseModelRef,
  PDM_SCHEMA,
  PDM_SPEC,
  predict,
  trainModel,
  type ClassMetrics,
  type MlDb,
  type ModelArtifact,
  type ModelKind,
  type ModelRecord,
  type PdmLogs,
  type TelemetrySample,
  type TrainOptions,
  WARM_UP,
} from '@strata/ml';
import type { Kysely } from 'kysely';
import { commonOverrides, type CommonFlags } from '../options.js';
import { openStore } from '../store.js';
import { UsageError } from '../run.js';

/** The AI4I 2020 file of this machine's shared data (as bench/ml.ts finds it). */
export const DEFAULT_AI4I_CSV = fileURLToPath(new URL('../../../../../shared/data/ai4i2020/ai4i2020.csv', import.meta.url));

export interface MlFlags extends CommonFlags {
  db?: string;
  json?: boolean;
}

export interface TrainFlags extends MlFlags {
  file?: string;
  from?: 'csv' | 'pdm' | 'lake';
  /** `--from pdm|lake`: the directory of the Azure PdM logs; `generate` (pdm): telemetry generated for them. */
  logs?: string;
  generate?: boolean;
  machines?: number;
  /** `--from lake`: the telemetry's time range, [since, until). */
  since?: string;
  until?: string;
  start?: string;
  end?: string;
  sampleEvery?: number;
  kind?: ModelKind;
  name?: string;
  seed?: number;
  trees?: number;
  activate?: boolean;
  compare?: boolean;
}

export interface TrainResult {
  name: string;
  version: number;
  /** False when these exact bytes were registered already (that version is answered). */
  created: boolean;
  activated: boolean;
  kind: ModelKind;
  data: { source: string; sha256: string; rows: number; positives: number };
  metrics: ModelArtifact['metrics'];
  threshold: number;
  /** With `--compare`: the other kind, trained on the same split (not registered). */
  baseline?: { kind: ModelKind; metrics: ModelArtifact['metrics']; threshold: number };
  /** With `--from lake`: what was read. */
  lake?: LakeReadReport;
}

/** What `--from lake` read from silver. */
export interface LakeReadReport {
  /** Machines of the logs asked for (all, or the first `--machines`). */
  machines: number;
  /** Their samples read: one per (machine, time), metrics grouped. */
  samples: number;
  /** Machines of the logs without telemetry in range: skipped. */
  withoutTelemetry: string[];
  /** Devices with telemetry of these metrics in range that are not among those machines (not in the logs, or past `--machines`): ignored. */
  otherDevices: number;
  /** Their silver rows (one per metric value). */
  otherRows: number;
}

export interface EvaluateResult {
  name: string;
  version: number;
  file: string;
  metrics: ClassMetrics;
}

export type BootstrapResult = { status: 'already-active'; name: string; version: number } | ({ status: 'trained' } & TrainResult);

function integer(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`must be an integer from ${min} to ${max}`);
    return n;
  };
}

function configOf(flags: MlFlags, env: NodeJS.ProcessEnv): StrataConfig {
  return loadConfig({ ...(flags.config !== undefined && { file: flags.config }), env, overrides: { ...commonOverrides(flags), 'db.url': flags.db } });
}

/**
 * Opens the registry of a data dir (its embedded database: the server must be stopped) or of a
 * server by `--db`, with the object store the server uses, and always closes both.
 */
export async function withRegistry<T>(flags: MlFlags, env: NodeJS.ProcessEnv, body: (r: { registry: ModelRegistry; db: Db; actor: string }) => Promise<T>): Promise<T> {
  const config = configOf(flags, env);
  const store = await openStore(config);
  try {
    const db = await openDatabase(config.db.url ? { url: config.db.url, poolSize: 2 } : { dir: join(config.dataDir, 'db') });
    try {
      return await body({ registry: new ModelRegistry({ db: db.kysely as unknown as MlDb, store, maxAgeMs: 0 }), db, actor: `cli:${env.USER ?? 'unknown'}` });
    } finally {
      await db.close();
    }
  } finally {
    await store.close();
  }
}

function existingFile(file: string): string {
  if (!existsSync(file) || !statSync(file).isFile()) throw new UsageError(`${file}: no such file`);
  return file;
}

function isoTime(flag: string, value: string): number {
  const ms = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value);
  if (!Number.isFinite(ms)) throw new UsageError(`${flag} ${value}: expected a date (YYYY-MM-DD) or an RFC 3339 time`);
  return ms;
}

/**
 * Telemetry read from the lake, columnar (a sample is its device index, time and one value per
 * metric, NaN when absent: 48 bytes for PDM_SPEC's four metrics, where objects would cost several
 * times that); iterating yields `TelemetrySample`s in the order read.
 */
class SampleColumns implements Iterable<TelemetrySample> {
  length = 0;
  private device = new Uint32Array(1024);
  private ts = new Float64Array(1024);
  private values: Float64Array;

  constructor(private readonly devices: readonly string[], private readonly metrics: readonly string[]) {
    this.values = new Float64Array(1024 * metrics.length);
  }

  /** Starts a sample (all metrics NaN) and returns its index. */
  push(device: number, ts: number): number {
    if (this.length === this.ts.length) {
      const grow = <T extends Uint32Array | Float64Array>(a: T, make: (n: number) => T): T => {
        const b = make(a.length * 2);
        b.set(a);
        return b;
      };
      this.device = grow(this.device, (n) => new Uint32Array(n));
      this.ts = grow(this.ts, (n) => new Float64Array(n));
      this.values = grow(this.values, (n) => new Float64Array(n));
    }
    const k = this.length++;
    this.device[k] = device;
    this.ts[k] = ts;
    this.values.fill(Number.NaN, k * this.metrics.length, (k + 1) * this.metrics.length);
    return k;
  }

  set(sample: number, metric: number, value: number): void {
    this.values[sample * this.metrics.length + metric] = value;
  }

  *[Symbol.iterator](): Iterator<TelemetrySample> {
    const M = this.metrics.length;
    for (let k = 0; k < this.length; k++) {
      const metrics: Record<string, number> = {};
      for (let j = 0; j < M; j++) {
        const v = this.values[k * M + j]!;
        if (!Number.isNaN(v)) metrics[this.metrics[j]!] = v;
      }
      yield { device: this.devices[this.device[k]!]!, ts: this.ts[k]!, metrics };
    }
  }
}

/**
 * `--from lake`: the machines' PDM_SPEC metrics from the lake's silver table, in device then time
 * order, long rows (one per metric) grouped into one sample per (device, time). Silver rather
 * than bronze: silver keeps a year (bronze 90 days) and is the cleaned layer the issue names; its
 * device ids are pseudonyms, which this command — run with platform access to the database —
 * matches with the platform's key (`lake_pseudonym_key`), the ids never leaving this process.
 * Its own staging directory, like `strata sql`: a running server's lake jobs are left alone.
 */
export async function readLakeTelemetry(flags: TrainFlags, env: NodeJS.ProcessEnv, devices: readonly string[], range: { from?: number; to?: number }): Promise<{ telemetry: SampleColumns; report: LakeReadReport }> {
  const config = configOf(flags, env);
  const db = await openDatabase(config.db.url ? { url: config.db.url, poolSize: 2 } : { dir: join(config.dataDir, 'db') });
  let pseudonymKey: Buffer;
  try {
    pseudonymKey = await platformSecret(db, 'lake_pseudonym_key');
  } finally {
    await db.close();
  }
  const store = await openStore(config);
  const staging = await mkdtemp(join(tmpdir(), 'strata-ml-lake-'));
  try {
    const lake = await Lakehouse.open({ store, stagingDir: staging, pseudonymKey, devices: async () => [], settings: { memoryLimit: config.lake.memoryLimit, threads: config.lake.threads } });
    try {
      const metrics = PDM_SPEC.metrics;
      const read = await lake.telemetry({
        devices,
        metrics,
        ...(range.from !== undefined && { from: new Date(range.from) }),
        ...(range.to !== undefined && { to: new Date(range.to) }),
      });
      const telemetry = new SampleColumns(devices, metrics);
      let sample = -1, lastDevice = -1, lastTs = Number.NaN;
      for await (const c of read.chunks) {
        for (let i = 0; i < c.length; i++) {
          const d = c.device[i]!, ts = c.ts[i]!;
          if (d !== lastDevice || ts !== lastTs) [sample, lastDevice, lastTs] = [telemetry.push(d, ts), d, ts];
          telemetry.set(sample, c.metric[i]!, c.value[i]!);
        }
      }
      const withoutTelemetry = devices.filter((_, i) => read.rows[i] === 0);
      return { telemetry, report: { machines: devices.length, samples: telemetry.length, withoutTelemetry, otherDevices: read.otherDevices, otherRows: read.otherRows } };
    } finally {
      await lake.close();
    }
  } finally {
    await store.close();
    await rm(staging, { recursive: true, force: true });
  }
}

const LOGS_REQUIRED = 'the directory of PdM_machines.csv, PdM_failures.csv, PdM_maint.csv and PdM_errors.csv';

/** The logs' machines, or the first `--machines` of them. */
const machinesOf = (logs: PdmLogs, n: number | undefined) => (n !== undefined ? logs.machines.slice(0, n) : logs.machines);

/** Trains from the flags' source; one branch per source (`--from`). */
async function trainArtifacts(flags: TrainFlags, kind: ModelKind, env: NodeJS.ProcessEnv): Promise<{ artifact: ModelArtifact; baseline?: ModelArtifact; lake?: LakeReadReport }> {
  const from = flags.from ?? 'csv';
  const seed = flags.seed ?? 42;
  const gbt = flags.trees !== undefined ? { gbt: { nTrees: flags.trees } } : {};
  const other: ModelKind = kind === 'gbt' ? 'logistic' : 'gbt';
  switch (from) {
    case 'csv': {
      // AI4I 2020, per sample: a stratified split; live telemetry maps onto it per AI4I_ONLINE.
      if (flags.file === undefined) throw new UsageError('--file is required: a labelled CSV in the AI4I 2020 format');
      const data = loadLabelledCsv(existingFile(flags.file), AI4I_SCHEMA);
      const opts = (k: ModelKind): TrainOptions => ({ kind: k, seed, online: AI4I_ONLINE, ...gbt });
      return { artifact: trainModel(data, AI4I_SCHEMA, opts(kind)), ...(flags.compare && { baseline: trainModel(data, AI4I_SCHEMA, opts(other)) }) };
    }
    case 'pdm': {
      // Azure PdM: event logs + telemetry, rolling-window features, "fails within 24 h", a time split.
      if (flags.logs === undefined) throw new UsageError(`--logs DIR is required with --from pdm: ${LOGS_REQUIRED}`);
      if (!flags.generate) throw new UsageError('--from pdm needs --generate: the Azure PdM telemetry file is not available, so telemetry is generated for the logs\' machines');
      const logs = loadPdmLogs(flags.logs);
      const start = isoTime('--start', flags.start ?? '2020-01-01');
      const end = isoTime('--end', flags.end ?? '2021-01-01');
      if (end <= start) throw new UsageError('--end must be after --start');
      const machines = machinesOf(logs, flags.machines).map((m) => m.id);
      const telemetry = generatePdmTelemetry({ logs, seed, from: start, to: end, machines });
      const data = buildPdmDataset({ telemetry, logs, sampleEveryHours: flags.sampleEvery ?? 6 });
      const opts = (k: ModelKind): TrainOptions => ({ kind: k, seed, split: 'time', online: PDM_SPEC, ...gbt });
      return { artifact: trainModel(data, PDM_SCHEMA, opts(kind)), ...(flags.compare && { baseline: trainModel(data, PDM_SCHEMA, opts(other)) }) };
    }
    case 'lake': {
      // Azure PdM logs + the machines' telemetry as the platform stored it (silver), as 'pdm' otherwise.
      if (flags.logs === undefined) throw new UsageError(`--logs DIR is required with --from lake: ${LOGS_REQUIRED}`);
      const logs = loadPdmLogs(flags.logs);
      const from = flags.since !== undefined ? isoTime('--since', flags.since) : undefined;
      const to = flags.until !== undefined ? isoTime('--until', flags.until) : undefined;
      if (from !== undefined && to !== undefined && to <= from) throw new UsageError('--until must be after --since');
      const devices = machinesOf(logs, flags.machines).map((m) => m.device);
      const { telemetry, report } = await readLakeTelemetry(flags, env, devices, { ...(from !== undefined && { from }), ...(to !== undefined && { to }) });
      const range = `${from !== undefined ? ` from ${new Date(from).toISOString()}` : ''}${to !== undefined ? ` until ${new Date(to).toISOString()}` : ''}`;
      if (telemetry.length === 0) {
        throw new UsageError(`no telemetry (${PDM_SPEC.metrics.join(', ')}) of the logs' ${devices.length} machines in the lake's silver table${range}` +
          (report.otherDevices > 0 ? ` (${report.otherDevices} other devices have some; machines are named machine-<machineID>)` : ''));
      }
      const data = buildPdmDataset({ telemetry, logs, sampleEveryHours: flags.sampleEvery ?? 6, source: 'lake+azure_pdm' });
      if (data.rows.length === 0) {
        const warmUp = `in warm-up (less than ${Math.max(...PDM_SPEC.windowsHours, PDM_SPEC.errorWindowHours)} h of telemetry)`;
        const skipped = Object.entries(data.report.skipped).map(([feature, n]) => `${n} ${feature === WARM_UP ? warmUp : `without ${feature}`}`).join(', ');
        throw new UsageError(`no training row from ${report.samples} samples${range}: a machine needs ${Math.max(...PDM_SPEC.windowsHours)} h of telemetry before a row and 24 h after it` +
          (skipped ? `, and the logs' history for its features (skipped: ${skipped}; is the telemetry within the logs' time span?)` : ''));
      }
      if (!data.labels.includes(1)) throw new UsageError(`no failures of the machines with telemetry within 24 h of a training row${range}: nothing to learn from (${data.rows.length} rows)`);
      const opts = (k: ModelKind): TrainOptions => ({ kind: k, seed, split: 'time', online: PDM_SPEC, ...gbt });
      return { artifact: trainModel(data, PDM_SCHEMA, opts(kind)), ...(flags.compare && { baseline: trainModel(data, PDM_SCHEMA, opts(other)) }), lake: report };
    }
  }
}

async function registerAndMaybeActivate(registry: ModelRegistry, db: Db, actor: string, artifact: ModelArtifact, name: string, activate: boolean): Promise<{ version: number; created: boolean }> {
  const { version, created } = await registry.register(artifact, { name, createdBy: actor });
  const audit = (k: Kysely<Database>, action: string, details: Record<string, unknown>) => appendAudit(k, { actor, action, resource: `model:${name}@${version}`, outcome: 'success', details });
  if (created) await audit(db.kysely, 'ml.model.register', { kind: artifact.kind, data: artifact.data.source, dataSha256: artifact.data.sha256 });
  if (activate) await registry.activate(name, version, { inTransaction: (tx, previous) => audit(tx as unknown as Kysely<Database>, 'ml.model.activate', { previous }) });
  return { version, created };
}

/** `strata ml train`: trains, registers as the next version of `--name`, optionally activates. */
export async function trainCommand(flags: TrainFlags, env: NodeJS.ProcessEnv): Promise<TrainResult> {
  const name = flags.name ?? configOf(flags, env).ml.model;
  parseModelRef(name); // a bad name fails before minutes of training
  if (flags.name?.includes('@')) throw new UsageError('--name takes a name, not name@version');
  const kind = flags.kind ?? 'gbt';
  const { artifact, baseline, lake } = await trainArtifacts(flags, kind, env);
  return withRegistry(flags, env, async ({ registry, db, actor }) => {
    const { version, created } = await registerAndMaybeActivate(registry, db, actor, artifact, name, flags.activate === true);
    return {
      name,
      version,
      created,
      activated: flags.activate === true,
      kind,
      data: artifact.data,
      metrics: artifact.metrics,
      threshold: artifact.threshold,
      ...(baseline && { baseline: { kind: baseline.kind, metrics: baseline.metrics, threshold: baseline.threshold } }),
      ...(lake && { lake }),
    };
  });
}

export async function listCommand(flags: MlFlags & { name?: string }, env: NodeJS.ProcessEnv): Promise<ModelRecord[]> {
  return withRegistry(flags, env, ({ registry }) => registry.list(flags.name));
}

export async function activateCommand(name: string, version: number, flags: MlFlags, env: NodeJS.ProcessEnv): Promise<{ name: string; version: number; previous: number | null }> {
  return withRegistry(flags, env, ({ registry, actor }) =>
    registry.activate(name, version, {
      inTransaction: (tx, previous) => appendAudit(tx as unknown as Kysely<Database>, { actor, action: 'ml.model.activate', resource: `model:${name}@${version}`, outcome: 'success', details: { previous } }),
    }),
  );
}

/** `strata ml evaluate NAME[@VERSION] --file CSV`: a registered model's metrics on a labelled file, at its own threshold. */
export async function evaluateCommand(ref: string, flags: MlFlags & { file?: string }, env: NodeJS.ProcessEnv): Promise<EvaluateResult> {
  const { name, version } = parseModelRef(ref);
  if (flags.file === undefined) throw new UsageError('--file is required: a labelled CSV');
  const file = existingFile(flags.file);
  return withRegistry(flags, env, async ({ registry }) => {
    const { record, artifact } = await registry.get(name, version);
    const data = loadLabelledCsv(file, artifact.schema);
    const scores = Float64Array.from(predict(artifact, data.rows, { top: 0 }), (p) => p.probability);
    return { name: record.name, version: record.version, file: basename(file), metrics: classMetrics(data.labels, scores, artifact.threshold) };
  });
}

/**
 * `strata ml bootstrap`: seed 004's bootstrap mode. Without an active model of `--name`, trains
 * boosted trees from the AI4I CSV (`--file`, else the shared data set), registers and activates
 * it; with one, does nothing.
 */
export async function bootstrapCommand(flags: MlFlags & { file?: string; name?: string; trees?: number; seed?: number }, env: NodeJS.ProcessEnv): Promise<BootstrapResult> {
  const name = flags.name ?? configOf(flags, env).ml.model;
  const active = await withRegistry(flags, env, ({ registry }) => registry.activeOrNone(name).then((m) => m?.record));
  if (active) return { status: 'already-active', name, version: active.version };
  const file = flags.file ?? DEFAULT_AI4I_CSV;
  if (!existsSync(file)) throw new UsageError(`${file}: no such file; pass --file with an AI4I 2020 CSV`);
  const result = await trainCommand({ ...flags, file, name, kind: 'gbt', activate: true }, env);
  return { status: 'trained', ...result };
}

const f3 = (x: number) => x.toFixed(3);

function metricLines(columns: { title: string; m: ClassMetrics | null }[]): string {
  const rows: [string, (m: ClassMetrics) => string][] = [
    ['F1', (m) => f3(m.f1)],
    ['precision', (m) => f3(m.precision)],
    ['recall', (m) => f3(m.recall)],
    ['PR-AUC', (m) => f3(m.prAuc)],
    ['threshold', (m) => f3(m.threshold)],
    ['confusion', (m) => `tp ${m.confusion.tp} fp ${m.confusion.fp} fn ${m.confusion.fn} tn ${m.confusion.tn}`],
    ['rows', (m) => `${m.rows} (${m.positives} failures)`],
  ];
  const cells = [['', ...columns.map((c) => c.title)], ...rows.map(([label, fn]) => [label, ...columns.map((c) => (c.m ? fn(c.m) : '-'))])];
  const widths = cells[0]!.map((_, j) => Math.max(...cells.map((r) => r[j]!.length)));
  return cells.map((r) => r.map((c, j) => c.padEnd(widths[j]!)).join('  ').trimEnd()).join('\n') + '\n';
}

function lakeLine(l: LakeReadReport): string {
  const missing = l.withoutTelemetry;
  const named = missing.slice(0, 5).join(', ') + (missing.length > 5 ? `, … ${missing.length - 5} more` : '');
  return `lake: ${l.samples} samples of ${l.machines - missing.length} of ${l.machines} machines` +
    (missing.length > 0 ? `; skipped ${missing.length} without telemetry (${named})` : '') +
    (l.otherDevices > 0 ? `; ignored ${l.otherDevices} other devices (${l.otherRows} silver rows)` : '') + '\n';
}

export function formatTrain(r: TrainResult): string {
  const head = `${r.name} v${r.version} (${r.kind}) ${r.created ? 'registered' : 'already registered (same bytes)'}${r.activated ? ', active' : ''}\n` +
    `data ${r.data.source}: ${r.data.rows} rows, ${r.data.positives} failures, sha256 ${r.data.sha256}\n` +
    (r.lake ? lakeLine(r.lake) : '');
  const columns = [{ title: `${r.kind} validation`, m: r.metrics.validation }, { title: `${r.kind} test`, m: r.metrics.test }];
  if (r.baseline) columns.push({ title: `${r.baseline.kind} validation`, m: r.baseline.metrics.validation }, { title: `${r.baseline.kind} test`, m: r.baseline.metrics.test });
  let out = head + metricLines(columns);
  if (r.baseline?.metrics.test && r.metrics.test) out += `test F1 ${r.kind} ${f3(r.metrics.test.f1)} vs ${r.baseline.kind} ${f3(r.baseline.metrics.test.f1)} (Δ ${(r.metrics.test.f1 - r.baseline.metrics.test.f1 >= 0 ? '+' : '') + f3(r.metrics.test.f1 - r.baseline.metrics.test.f1)})\n`;
  return out;
}

export function formatList(models: ModelRecord[]): string {
  if (models.length === 0) return 'no models registered (strata ml bootstrap, or strata ml train --file FILE)\n';
  const cells = [
    ['NAME', 'VERSION', 'KIND', 'F1', 'PR-AUC', 'ACTIVE', 'CREATED'],
    ...models.map((m) => {
      const metrics = m.metrics.test ?? m.metrics.validation;
      return [m.name, String(m.version), m.kind, f3(metrics.f1), f3(metrics.prAuc), m.active ? 'yes' : '', m.created.toISOString().replace(/\.\d{3}Z$/, 'Z')];
    }),
  ];
  const widths = cells[0]!.map((_, j) => Math.max(...cells.map((r) => r[j]!.length)));
  return cells.map((r) => r.map((c, j) => c.padEnd(widths[j]!)).join('  ').trimEnd()).join('\n') + '\n';
}

const print = (flags: { json?: boolean }, value: unknown, text: () => string) => process.stdout.write(flags.json ? JSON.stringify(value) + '\n' : text());

export function registerMl(program: Command, env: NodeJS.ProcessEnv): void {
  const ml = program.command('ml').description('predictive maintenance models: train, register, activate, evaluate');
  const target = (c: Command) =>
    c
      .option('--data <dir>', 'data directory whose embedded database and object store to use (server stopped; default ./data, env STRATA_DATA)')
      .option('--db <url>', 'a PostgreSQL server instead (env STRATA_DB_URL)')
      .option('--config <file>', 'YAML or JSON config file')
      .option('--json', 'print JSON instead of text');

  target(
    ml
      .command('train')
      .description('train a model, register it as the next version of --name, print its metrics')
      .addOption(
        new Option('--from <source>', 'training data: csv (a labelled CSV, AI4I 2020 format), pdm (Azure PdM logs and generated telemetry) or lake (Azure PdM logs and the machines\' telemetry in the lake)')
          .choices(['csv', 'pdm', 'lake'])
          .default('csv'),
      )
      .option('--file <csv>', '--from csv: the labelled CSV')
      .option('--logs <dir>', '--from pdm|lake: the directory of the Azure PdM logs (PdM_machines, PdM_failures, PdM_maint, PdM_errors .csv)')
      .option('--generate', '--from pdm: generate the telemetry for the logs\' machines (seeded by --seed)')
      .option('--machines <n>', '--from pdm|lake: the first N machines of the logs only (default all)', integer(1, 100_000))
      .option('--since <time>', '--from lake: telemetry from this time (2015-01-01 or an RFC 3339 time; default all of silver)')
      .option('--until <time>', '--from lake: telemetry before this time (default all of silver)')
      .option('--start <date>', '--from pdm --generate: first telemetry time (default 2020-01-01)')
      .option('--end <date>', '--from pdm --generate: end of the telemetry (default 2021-01-01)')
      .option('--sample-every <hours>', '--from pdm|lake: a training row every N hours (default 6)', integer(1, 24 * 365))
      .addOption(new Option('--kind <kind>', 'model').choices(['gbt', 'logistic']).default('gbt'))
      .option('--name <name>', `model name (default: the config's ml.model, ${DEFAULT_MODEL_NAME})`)
      .option('--seed <n>', 'seed of the split, folds and trees', integer(0, 2 ** 31 - 1), 42)
      .option('--trees <n>', 'boosted trees (default 200)', integer(1, 5000))
      .option('--compare', 'also train the other kind on the same split and print both (only --kind is registered)')
      .option('--activate', 'make it the active version'),
  ).action(async (flags: TrainFlags) => {
    const result = await trainCommand(flags, env);
    print(flags, result, () => formatTrain(result));
  });

  target(ml.command('list').description('registered models: name, version, kind, test F1 and PR-AUC, active, created').option('--name <name>', 'one name only')).action(async (flags: MlFlags & { name?: string }) => {
    const models = await listCommand(flags, env);
    print(flags, models, () => formatList(models));
  });

  target(ml.command('activate').description('make a version the one scoring uses for its name').argument('<name>', 'model name').argument('<version>', 'version', integer(1, 999_999_999))).action(
    async (name: string, version: number, flags: MlFlags) => {
      const result = await activateCommand(name, version, flags, env);
      print(flags, result, () => (result.previous === version ? `${name} v${version} was already active\n` : `${name} v${version} is active${result.previous === null ? '' : ` (was v${result.previous})`}\n`));
    },
  );

  target(ml.command('evaluate').description("score a labelled CSV with a registered model (NAME: its active version, else its latest) and print the metrics at the model's threshold").argument('<model>', 'NAME or NAME@VERSION').option('--file <csv>', 'the labelled CSV')).action(
    async (ref: string, flags: MlFlags & { file?: string }) => {
      const result = await evaluateCommand(ref, flags, env);
      print(flags, result, () => `${result.name} v${result.version} on ${result.file}\n` + metricLines([{ title: 'metrics', m: result.metrics }]));
    },
  );

  target(
    ml
      .command('bootstrap')
      .description(`without an active model: train boosted trees from the AI4I CSV (default ${DEFAULT_AI4I_CSV}), register and activate; with one: nothing`)
      .option('--file <csv>', 'the labelled CSV')
      .option('--name <name>', `model name (default: the config's ml.model, ${DEFAULT_MODEL_NAME})`)
      .option('--seed <n>', 'seed', integer(0, 2 ** 31 - 1), 42)
      .option('--trees <n>', 'boosted trees (default 200)', integer(1, 5000)),
  ).action(async (flags: MlFlags & { file?: string; name?: string; trees?: number; seed?: number }) => {
    const result = await bootstrapCommand(flags, env);
    print(flags, result, () => (result.status === 'already-active' ? `${result.name} v${result.version} is active already; nothing to do\n` : formatTrain(result)));
  });
}
