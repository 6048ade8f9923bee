/**
 * Training rows for path (b): telemetry plus Azure PdM event logs, labelled "fails within the
 * next H hours". The rows come from `MachineFeatures` (../online/features.ts), the same builder
 * the scoring consumer and the predict route use, so training and serving compute one thing.
 *
 * Per machine, telemetry samples and the logs as events (`logEvents`: `maint.<comp>` and
 * `error.<id>`, value 1) are fed in time order. Whenever a bucket holding telemetry closes, the
 * builder's row describes it; its time t is the bucket's end and it uses only events with ts < t.
 * Label: 1 when the machine has a failure in (t, t + H]. The failures log is only ever read for
 * labels, never fed to the builder. Age and model come from PdM_machines.csv (`DeviceContext`).
 *
 * Rows are kept when t is a multiple of `sampleEveryHours` (UTC), the builder builds them, and the
 * label window is observed: t + H ≤ `labelsUntil` (default: the end of the telemetry). The
 * builder's own minimum history (the spec's largest window, `defaultMinHistoryHours`) is the
 * warm-up: there is no second rule here, so a scorer or the predict route, with the same default,
 * builds a row exactly where training has one. Rows the builder cannot build are skipped and
 * counted by reason (`warm-up`, or the missing feature: no maintenance of a component yet, say).
 * Output in time order, then device, so `split: 'time'` cuts it cleanly; `labelHorizonMs` (H) lets
 * a time split purge training rows whose label window reaches into the test period.
 */
import { createHash } from 'node:crypto';
import { mlErrors } from '../errors.js';
import type { LabelledData } from '../data/labelled-csv.js';
import type { FeatureRow } from '../features/encode.js';
import type { FeatureSchema } from '../features/schema.js';
import { MachineFeatures, rollingSchema, type RollingSpec } from '../online/features.js';
import type { DeviceContext } from '../online/types.js';
import { logEvents, type TelemetrySample } from './generate.js';
import type { PdmLogs } from './logs.js';

/** The Azure PdM feature spec: hourly buckets, 3 h and 24 h windows, 4 components, 5 errors. */
export const PDM_SPEC: RollingSpec = Object.freeze<RollingSpec>({
  kind: 'rolling',
  resolutionSeconds: 3600,
  metrics: ['volt', 'rotate', 'pressure', 'vibration'],
  windowsHours: [3, 24],
  stats: ['mean', 'std', 'min', 'max', 'slope'],
  components: ['comp1', 'comp2', 'comp3', 'comp4'],
  errors: ['error1', 'error2', 'error3', 'error4', 'error5'],
  errorWindowHours: 24,
});

/** The Azure PdM machine models. */
export const PDM_MODELS = Object.freeze(['model1', 'model2', 'model3', 'model4']);

/** `PDM_SPEC`'s schema (51 features; `model` a category of `PDM_MODELS`), label `failure`. */
export const PDM_SCHEMA: FeatureSchema = rollingSchema(PDM_SPEC, { models: PDM_MODELS, label: { name: 'failure', column: 'failure' } });

export interface PdmDatasetOptions {
  /** Samples `{device, ts, metrics}`; per device in time order (devices may interleave). */
  readonly telemetry: Iterable<TelemetrySample>;
  readonly logs: PdmLogs;
  /** Default `PDM_SPEC`. */
  readonly spec?: RollingSpec;
  /** The label horizon H, hours. Default 24. */
  readonly horizonHours?: number;
  /** Keep a row every this many hours (UTC-aligned). Default 1. */
  readonly sampleEveryHours?: number;
  /** Failures are known up to here (Unix ms); later label windows are not observed. Default: end of the telemetry. */
  readonly labelsUntil?: number;
  /** `data.source`. Default `azure_pdm`. */
  readonly source?: string;
}

export interface PdmDatasetReport {
  readonly samples: number;
  readonly logEvents: number;
  /** Samples of devices that are not in the machines log (skipped). */
  readonly unknownDevices: number;
  /** Rows the builder could not build, by the first missing feature. */
  readonly skipped: Readonly<Record<string, number>>;
  /** Telemetry values the builder dropped as late or unusable. */
  readonly late: number;
  readonly rejected: number;
}

export interface PdmDataset extends LabelledData {
  /** Per row: its time t (end of the bucket, Unix ms). */
  readonly times: number[];
  /** Per row: the machine's device id. */
  readonly devices: string[];
  readonly report: PdmDatasetReport;
}

const HOUR = 3_600_000;

/** Builds the labelled rows; see the file header. */
export function buildPdmDataset(opts: PdmDatasetOptions): PdmDataset {
  const spec = opts.spec ?? PDM_SPEC;
  const H = opts.horizonHours ?? 24;
  const every = opts.sampleEveryHours ?? 1;
  const source = opts.source ?? 'azure_pdm';
  const bad = (option: string, value: number, expected: string) => mlErrors.STRATA_ERR_ML_BAD_OPTION({ option, reason: `${String(value)}: expected ${expected}` });
  if (!(H > 0) || !Number.isFinite(H)) throw bad('horizonHours', H, '> 0');
  if (!Number.isInteger(every) || every < 1) throw bad('sampleEveryHours', every, 'an integer >= 1');

  const { logs } = opts;
  const machineOf = new Map(logs.machines.map((m) => [m.device, m]));
  interface State {
    readonly fx: MachineFeatures;
    readonly context: DeviceContext;
    readonly events: ReturnType<typeof logEvents>;
    next: number;
    lastTs: number;
    readonly failures: number[];
  }
  const events = logEvents(logs);
  const eventsOf = new Map<string, typeof events>();
  for (const e of events) {
    let list = eventsOf.get(e.device);
    if (!list) eventsOf.set(e.device, (list = []));
    list.push(e);
  }
  const failuresOf = new Map<number, number[]>();
  for (const f of logs.failures) {
    let list = failuresOf.get(f.machine);
    if (!list) failuresOf.set(f.machine, (list = []));
    list.push(f.ts);
  }
  const states = new Map<string, State>();
  const rows: FeatureRow[] = [];
  const times: number[] = [];
  const rowDevice: string[] = [];
  const labels: number[] = [];
  const skipped: Record<string, number> = {};
  let samples = 0, unknown = 0, fed = 0, end = -Infinity;
  const hash = createHash('sha256').update(`${logs.sha256}\n`);
  const everyMs = every * HOUR;
  const rowFailures: (readonly number[])[] = [];

  const emit = (state: State, device: string) => {
    const t = state.fx.closedEnd!;
    if (t % everyMs !== 0) return;
    const row = state.fx.row(state.context);
    if (!row) {
      const why = state.fx.missing ?? 'unknown';
      skipped[why] = (skipped[why] ?? 0) + 1;
      return;
    }
    rows.push(row);
    rowFailures.push(state.failures);
    times.push(t);
    rowDevice.push(device);
  };
  const feedEventsBefore = (state: State, device: string, ts: number) => {
    while (state.next < state.events.length && state.events[state.next]!.ts <= ts) {
      const e = state.events[state.next++]!;
      fed++;
      if (state.fx.add(e.ts, e.metrics)) emit(state, device);
    }
  };

  const scratch = new Float64Array(1 + spec.metrics.length);
  for (const s of opts.telemetry) {
    samples++;
    const machine = machineOf.get(s.device);
    if (!machine) {
      unknown++;
      continue;
    }
    let state = states.get(s.device);
    if (!state) {
      state = { fx: new MachineFeatures(spec), context: { age: machine.age, model: machine.model }, events: eventsOf.get(s.device) ?? [], next: 0, lastTs: -Infinity, failures: failuresOf.get(machine.id) ?? [] };
      states.set(s.device, state);
    }
    if (s.ts < state.lastTs) throw mlErrors.STRATA_ERR_ML_DATA({ source, where: '', reason: `telemetry of ${s.device} goes back in time at ${new Date(s.ts).toISOString()} (feed each device in time order)` });
    state.lastTs = s.ts;
    if (s.ts > end) end = s.ts;
    feedEventsBefore(state, s.device, s.ts);
    if (state.fx.add(s.ts, s.metrics)) emit(state, s.device);
    scratch[0] = s.ts;
    spec.metrics.forEach((m, j) => (scratch[j + 1] = s.metrics[m] ?? Number.NaN));
    hash.update(s.device).update(new Uint8Array(scratch.buffer));
  }
  // Close each machine's last bucket: events inside it first, then flush.
  const resMs = spec.resolutionSeconds * 1000;
  for (const [device, state] of states) {
    const closeAt = (Math.floor(state.lastTs / resMs) + 1) * resMs;
    feedEventsBefore(state, device, closeAt - 1);
    if (state.fx.flush()) emit(state, device);
  }
  if (samples - unknown === 0) throw mlErrors.STRATA_ERR_ML_DATA({ source, where: '', reason: `no telemetry of a machine in the logs (${samples} samples)` });

  const until = opts.labelsUntil ?? (Math.floor(end / resMs) + 1) * resMs;
  const order = times.map((_, i) => i).filter((i) => times[i]! + H * HOUR <= until);
  order.sort((a, b) => times[a]! - times[b]! || (rowDevice[a]! < rowDevice[b]! ? -1 : rowDevice[a]! > rowDevice[b]! ? 1 : 0));
  for (const i of order) {
    const t = times[i]!;
    const fails = rowFailures[i]!;
    labels[i] = fails.some((f) => f > t && f <= t + H * HOUR) ? 1 : 0;
  }
  let late = 0, rejected = 0;
  for (const state of states.values()) {
    late += state.fx.late;
    rejected += state.fx.rejected;
  }
  return {
    rows: order.map((i) => rows[i]!),
    labels: Uint8Array.from(order, (i) => labels[i]!),
    times: order.map((i) => times[i]!),
    devices: order.map((i) => rowDevice[i]!),
    sha256: hash.digest('hex'),
    source,
    labelHorizonMs: H * HOUR,
    report: { samples, logEvents: fed, unknownDevices: unknown, skipped, late, rejected },
  };
}
