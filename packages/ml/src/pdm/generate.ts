/**
 * Telemetry for the Azure PdM logs, generated: the data set's own telemetry file (876,100 hourly
 * rows) is not available (see ../shared/data/azure_pdm/PROVENANCE.txt), so training and tests use
 * a seeded stand-in with the same four metrics and known failure precursors.
 *
 * Per machine and step: each metric is normal noise around its machine model's baseline
 * (`PDM_BASELINES`, near the Azure data's means; the models differ, and not in index order, so a
 * model cannot be read off as one monotone offset). In the `precursorHours` (default 48) before a
 * failure of a component, that component's metric drifts linearly from 0 to `driftSd` (default 3)
 * standard deviations at the failure:
 *
 *   comp1 → volt up, comp2 → rotate down, comp3 → pressure up, comp4 → vibration up
 *
 * (`PDM_PRECURSORS`; the directions the Azure guide's telemetry shows). After the failure the
 * metric is back at its baseline (the component was replaced). Several failures add up.
 *
 * Deterministic: machine m's series comes from mulberry32 seeded with (seed, m) only, so the same
 * seed, `from` and resolution give the same numbers for a machine whatever other machines are
 * asked for and wherever `to` is.
 */
import { prng } from '../random.js';
import { mlErrors } from '../errors.js';
import { pdmDevice, type PdmLogs } from './logs.js';

/** Azure PdM's telemetry metrics. */
export const PDM_METRICS = ['volt', 'rotate', 'pressure', 'vibration'] as const;
export type PdmMetric = (typeof PDM_METRICS)[number];

/** Which metric a component's coming failure moves, and which way. */
export const PDM_PRECURSORS: Readonly<Record<string, { readonly metric: PdmMetric; readonly sign: 1 | -1 }>> = Object.freeze({
  comp1: { metric: 'volt', sign: 1 },
  comp2: { metric: 'rotate', sign: -1 },
  comp3: { metric: 'pressure', sign: 1 },
  comp4: { metric: 'vibration', sign: 1 },
});

/** Mean and standard deviation of each metric per machine model (unknown models: `model1`'s). */
export const PDM_BASELINES: Readonly<Record<string, Readonly<Record<PdmMetric, { readonly mean: number; readonly sd: number }>>>> = Object.freeze({
  model1: { volt: { mean: 170, sd: 15 }, rotate: { mean: 446, sd: 52 }, pressure: { mean: 100, sd: 10 }, vibration: { mean: 40, sd: 5 } },
  model2: { volt: { mean: 178, sd: 15 }, rotate: { mean: 420, sd: 50 }, pressure: { mean: 96, sd: 10 }, vibration: { mean: 43, sd: 5 } },
  model3: { volt: { mean: 164, sd: 14 }, rotate: { mean: 470, sd: 55 }, pressure: { mean: 104, sd: 11 }, vibration: { mean: 38, sd: 5 } },
  model4: { volt: { mean: 174, sd: 16 }, rotate: { mean: 436, sd: 50 }, pressure: { mean: 99, sd: 10 }, vibration: { mean: 42, sd: 5 } },
});

/** One reading of one machine: what ingest would store in the lake. */
export interface TelemetrySample {
  readonly device: string;
  /** Unix ms. */
  readonly ts: number;
  readonly metrics: Readonly<Record<string, number>>;
}

/**
 * Generated telemetry, columnar (about 48 bytes a sample rather than an object each); iterate it
 * for `TelemetrySample`s, machine by machine, in time order within a machine.
 */
export interface PdmTelemetry extends Iterable<TelemetrySample> {
  readonly metrics: readonly PdmMetric[];
  /** Device ids, one per generated machine. */
  readonly devices: readonly string[];
  readonly length: number;
  /** Per sample: index into `devices`. */
  readonly device: Uint16Array;
  /** Per sample: Unix ms. */
  readonly ts: Float64Array;
  /** Row-major, `length × metrics.length`. */
  readonly values: Float64Array;
}

export interface GenerateOptions {
  readonly logs: PdmLogs;
  readonly seed: number;
  /** First sample time, Unix ms (inclusive). */
  readonly from: number;
  /** End, Unix ms (exclusive). */
  readonly to: number;
  /** Hours between samples. Default 1 (the Azure data's resolution). */
  readonly resolutionHours?: number;
  /** Machine ids to generate (default all in the logs). */
  readonly machines?: readonly number[];
  /** Hours before a failure in which its metric drifts. Default 48. */
  readonly precursorHours?: number;
  /** Drift at the failure, in standard deviations of the metric. Default 3. */
  readonly driftSd?: number;
}

const HOUR = 3_600_000;

/** Telemetry for the logs' machines with failure precursors; see the file header. */
export function generatePdmTelemetry(opts: GenerateOptions): PdmTelemetry {
  const { logs, seed, from, to } = opts;
  const res = opts.resolutionHours ?? 1;
  const precursor = opts.precursorHours ?? 48;
  const drift = opts.driftSd ?? 3;
  const bad = (option: string, value: unknown, expected: string) => mlErrors.STRATA_ERR_ML_BAD_OPTION({ option, reason: `${String(value)}: expected ${expected}` });
  if (!Number.isSafeInteger(seed)) throw bad('seed', seed, 'an integer');
  if (!Number.isFinite(from) || !Number.isFinite(to) || to <= from) throw bad('to', to, 'a time after from');
  if (!(res > 0) || !Number.isFinite(res)) throw bad('resolutionHours', res, '> 0');
  if (!(precursor >= 0) || !Number.isFinite(precursor)) throw bad('precursorHours', precursor, '>= 0');
  if (!Number.isFinite(drift)) throw bad('driftSd', drift, 'a number');
  const byId = new Map(logs.machines.map((m) => [m.id, m]));
  const ids = opts.machines ?? logs.machines.map((m) => m.id);
  for (const id of ids) if (!byId.has(id)) throw bad('machines', id, 'a machine of the logs');
  if (ids.length > 65_535) throw bad('machines', ids.length, 'at most 65,535 machines');

  const step = res * HOUR;
  const perMachine = Math.ceil((to - from) / step);
  const n = perMachine * ids.length;
  const M = PDM_METRICS.length;
  const device = new Uint16Array(n);
  const ts = new Float64Array(n);
  const values = new Float64Array(n * M);
  const failuresOf = new Map<number, { ts: number; metric: number; sign: number }[]>();
  for (const f of logs.failures) {
    const p = PDM_PRECURSORS[f.component];
    if (!p) continue;
    let list = failuresOf.get(f.machine);
    if (!list) failuresOf.set(f.machine, (list = []));
    list.push({ ts: f.ts, metric: PDM_METRICS.indexOf(p.metric), sign: p.sign });
  }

  ids.forEach((id, k) => {
    const machine = byId.get(id)!;
    const base = PDM_BASELINES[machine.model] ?? PDM_BASELINES.model1!;
    const mean = PDM_METRICS.map((x) => base[x].mean);
    const sd = PDM_METRICS.map((x) => base[x].sd);
    const random = prng((Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(id, 0xc2b2ae35)) >>> 0);
    const normal = () => {
      // Box–Muller, one of the pair (simple and reproducible; speed is not the point here).
      const u = 1 - random();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
    };
    const fails = failuresOf.get(id) ?? [];
    for (let s = 0; s < perMachine; s++) {
      const i = k * perMachine + s;
      const t = from + s * step;
      device[i] = k;
      ts[i] = t;
      for (let j = 0; j < M; j++) values[i * M + j] = mean[j]! + sd[j]! * normal();
      for (const f of fails) {
        const lead = (f.ts - t) / HOUR;
        if (lead >= 0 && lead < precursor) values[i * M + f.metric]! += f.sign * drift * sd[f.metric]! * (1 - lead / precursor);
      }
    }
  });

  const devices = ids.map(pdmDevice);
  return {
    metrics: PDM_METRICS,
    devices,
    length: n,
    device,
    ts,
    values,
    *[Symbol.iterator]() {
      for (let i = 0; i < n; i++) {
        const metrics: Record<string, number> = {};
        for (let j = 0; j < M; j++) metrics[PDM_METRICS[j]!] = values[i * M + j]!;
        yield { device: devices[device[i]!]!, ts: ts[i]!, metrics };
      }
    },
  };
}

/** A maintenance or error log entry as a telemetry event: metric `maint.<comp>` / `error.<id>`, value 1. */
export interface LogEvent extends TelemetrySample {
  readonly kind: 'maint' | 'error';
}

/**
 * The logs as telemetry events, the platform's convention (online/types.ts, `rolling`): a
 * maintenance of compN is `{metrics: {'maint.compN': 1}}`, an error `{metrics: {'error.errorK': 1}}`.
 * Failures are labels and are never turned into events. In time order (then machine), optionally
 * only for some machines and times in [from, to).
 */
export function logEvents(logs: PdmLogs, opts: { readonly machines?: readonly number[]; readonly from?: number; readonly to?: number } = {}): LogEvent[] {
  const keep = opts.machines ? new Set(opts.machines) : undefined;
  const from = opts.from ?? -Infinity;
  const to = opts.to ?? Infinity;
  const out: LogEvent[] = [];
  const inRange = (e: { ts: number; machine: number }) => e.ts >= from && e.ts < to && (!keep || keep.has(e.machine));
  for (const e of logs.maint) if (inRange(e)) out.push({ kind: 'maint', device: pdmDevice(e.machine), ts: e.ts, metrics: { [`maint.${e.component}`]: 1 } });
  for (const e of logs.errors) if (inRange(e)) out.push({ kind: 'error', device: pdmDevice(e.machine), ts: e.ts, metrics: { [`error.${e.error}`]: 1 } });
  const machineOf = (d: string) => Number(d.slice('machine-'.length));
  return out.sort((a, b) => a.ts - b.ts || machineOf(a.device) - machineOf(b.device) || (a.kind === b.kind ? 0 : a.kind === 'maint' ? -1 : 1));
}
