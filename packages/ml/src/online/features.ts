/**
 * Per-machine incremental features for one `OnlineSpec` (see ./types.ts): the one feature builder
 * behind training on telemetry, the scoring consumer and the predict route.
 *
 * Buckets. Bucket k of a machine covers [k·res, (k+1)·res) ms, res = `resolutionSeconds`·1000.
 * Exactly one bucket is open: the newest one an event fell into. An event of a later bucket closes
 * it; its metric means (sum / count) are committed and it becomes the "last closed bucket" that
 * `row()` describes. An event of an earlier bucket than the open one is late: its telemetry is
 * dropped and counted (`late`), its maintenance and error events are still recorded (they are
 * facts with their own time, the log may lag). Within the open bucket the order of events does not
 * matter, nor how metrics are split over events (sum and count only).
 *
 * Memory. `latest` keeps the last bucket mean per metric; `rolling` keeps a ring of the last
 * R = max(windows, errorWindowHours)·3600 / res buckets (means per metric, error counts), each slot
 * tagged with its bucket index, so a slot holding an older bucket is a gap, never stale data.
 * Nothing grows with time.
 *
 * Rows (`row(context)`), for the last closed bucket b, ending at (b+1)·res:
 * - `latest`: feature f = the newest closed-bucket mean of `metrics[f]` (carried forward over
 *   buckets without it); category f = the newest value of tag `categories[f]` seen in closed
 *   buckets, else the device context's value of that key. Undefined until every metric has had at
 *   least one bucket and every category a value.
 * - `rolling`: `${metric}${Stat}${w}h` over the bucket means in buckets (b − w·3600/res, b]; buckets
 *   without the metric (gaps) are absent; mean, population std, min, max, and slope = least-squares
 *   change per hour against bucket start times. `hoursSince${Component}` = hours from the newest
 *   `maint.<component>` event to the end of b. `errors${Error}In${e}h` = number of `error.<id>`
 *   events in buckets (b − e·3600/res, b]. `age` (number) and `model` (string) from the tags, else
 *   the device context. Undefined unless every metric has at least one bucket in the smallest
 *   window, every component has had a maintenance event (fed, or seeded with `seedMaintenance`),
 *   and age and model are known.
 * `missing` names the first feature that kept the last `row()` from being built, or `warm-up`.
 *
 * Minimum history (`minHistoryHours`; default for `rolling`: the largest window, of `windowsHours`
 * and `errorWindowHours`; for `latest`: 0). No row is built for bucket b until the machine's first
 * telemetry bucket starts at least that long before the end of b (`missing` = `warm-up`), so no
 * window is partial: a machine is described only once its history covers every window. Gaps
 * inside that history are allowed (a window uses the buckets it has). This is the one warm-up
 * rule: training (../pdm/dataset.ts) and serving (scorer, predict route) both rely on it.
 *
 * Seeding. `seedMaintenance(component, ts)` gives a maintenance time known from elsewhere (the
 * store, after a restart whose warm-up read is shorter than the time since the last maintenance);
 * it only ever moves the machine's last maintenance of that component forward.
 *
 * Names. Features are camelCase, as schema.ts requires (`/^[a-z][A-Za-z0-9]{0,63}$/`): a metric,
 * component or error id is split at every character outside [A-Za-z0-9], parts capitalised after
 * the first (`process_temperature_k` → `processTemperatureK`, `comp1` → `Comp1`): `voltMean3h`,
 * `voltSlope24h`, `hoursSinceComp1`, `errorsError1In24h`, `age`, `model`.
 *
 * Database rollups. `addBucket(start, metric, mean, count)` feeds pre-aggregated buckets (the
 * store's one-minute rollups: mean = sum / count); they fold into resolution buckets by start
 * time, so `resolutionSeconds` must be a multiple of 60. A maintenance rollup counts at its
 * bucket's start; an error rollup adds `count` events.
 */
import { mlErrors } from '../errors.js';
import type { FeatureRow } from '../features/encode.js';
import { defineFeatureSchema, type FeatureSchema, type FeatureSpec } from '../features/schema.js';
import type { DeviceContext, OnlineSpec } from './types.js';

export type LatestSpec = Extract<OnlineSpec, { kind: 'latest' }>;
export type RollingSpec = Extract<OnlineSpec, { kind: 'rolling' }>;
export type RollingStat = RollingSpec['stats'][number];

/** Metric-name prefixes that mark maintenance and error events (value 1). */
export const MAINTENANCE_PREFIX = 'maint.';
export const ERROR_PREFIX = 'error.';
/** `missing` (and the scorer's skip reason) while a machine's history is shorter than its minimum. */
export const WARM_UP = 'warm-up';

const HOUR_MS = 3_600_000;
const STATS: readonly RollingStat[] = ['mean', 'std', 'min', 'max', 'slope'];
/** Most buckets a rolling spec may keep per machine (a week of minutes, 1,440 days of hours). */
const MAX_RING = 34_560;
const NAME = /^[a-z][A-Za-z0-9]{0,63}$/;

/** A metric, component or error id as a camelCase token: `process_temperature_k` → `processTemperatureK`. */
export function featureToken(s: string): string {
  const parts = s.split(/[^A-Za-z0-9]+/).filter((p) => p.length > 0);
  return parts.map((p, i) => (i === 0 ? p[0]!.toLowerCase() + p.slice(1) : p[0]!.toUpperCase() + p.slice(1))).join('');
}
const capital = (s: string) => {
  const t = featureToken(s);
  return t.length === 0 ? t : t[0]!.toUpperCase() + t.slice(1);
};

export const rollingStatName = (metric: string, stat: RollingStat, windowHours: number) => `${featureToken(metric)}${capital(stat)}${windowHours}h`;
export const hoursSinceName = (component: string) => `hoursSince${capital(component)}`;
export const errorCountName = (error: string, windowHours: number) => `errors${capital(error)}In${windowHours}h`;

/** Every feature a rolling spec builds, in row order: stats (metric, window, stat), hours since maintenance, error counts, `age`, `model`. */
export function rollingFeatureNames(spec: RollingSpec): string[] {
  const names: string[] = [];
  for (const m of spec.metrics) for (const w of spec.windowsHours) for (const s of spec.stats) names.push(rollingStatName(m, s, w));
  for (const c of spec.components) names.push(hoursSinceName(c));
  for (const e of spec.errors) names.push(errorCountName(e, spec.errorWindowHours));
  names.push('age', 'model');
  return names;
}

/**
 * The feature schema of a rolling spec: every built feature as a number (column = its name), and
 * `model` as a category of the given machine models. Label defaults to `failure`.
 */
export function rollingSchema(spec: RollingSpec, opts: { readonly models: readonly string[]; readonly label?: { readonly name: string; readonly column: string } }): FeatureSchema {
  const issue = onlineSpecIssue(spec);
  if (issue) throw mlErrors.STRATA_ERR_ML_SCHEMA({ reason: `online spec: ${issue}` });
  const features: FeatureSpec[] = rollingFeatureNames(spec).map((name) =>
    name === 'model' ? { name, kind: 'category', column: name, levels: [...opts.models] } : { name, kind: 'number', column: name },
  );
  return defineFeatureSchema({ label: opts.label ?? { name: 'failure', column: 'failure' }, features, leaky: [] });
}

/** Every feature a latest spec builds: its metric features, then its category features. */
export function latestFeatureNames(spec: LatestSpec): string[] {
  return [...Object.keys(spec.metrics), ...Object.keys(spec.categories ?? {})];
}

/** Names of the features a spec builds. */
export function onlineFeatureNames(spec: OnlineSpec): string[] {
  return spec.kind === 'latest' ? latestFeatureNames(spec) : rollingFeatureNames(spec);
}

const positiveInt = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x > 0;
const distinctStrings = (xs: unknown): xs is string[] => Array.isArray(xs) && xs.every((x) => typeof x === 'string' && x.length > 0) && new Set(xs).size === xs.length;

/** Why a spec is unusable (one reason), or undefined when it is sound. */
export function onlineSpecIssue(spec: unknown): string | undefined {
  if (!spec || typeof spec !== 'object') return 'expected an object';
  const s = spec as Record<string, unknown>;
  if (!positiveInt(s.resolutionSeconds)) return `resolutionSeconds must be a positive integer, got ${String(s.resolutionSeconds)}`;
  const res = s.resolutionSeconds;
  let names: string[];
  if (s.kind === 'latest') {
    const maps = [s.metrics, s.categories ?? {}];
    for (const [i, m] of maps.entries()) {
      const what = i === 0 ? 'metrics' : 'categories';
      if (!m || typeof m !== 'object' || Array.isArray(m)) return `${what} must map feature names to ${i === 0 ? 'metric names' : 'tag keys'}`;
      for (const [k, v] of Object.entries(m)) if (typeof v !== 'string' || v.length === 0) return `${what}.${k} must be a non-empty string`;
    }
    if (Object.keys(s.metrics as object).length === 0) return 'metrics is empty';
    for (const v of Object.values(s.metrics as Record<string, string>)) if (v.startsWith(MAINTENANCE_PREFIX) || v.startsWith(ERROR_PREFIX)) return `metric ${v} is an event, not a measurement`;
    names = latestFeatureNames(s as unknown as LatestSpec);
  } else if (s.kind === 'rolling') {
    if (!distinctStrings(s.metrics) || s.metrics.length === 0) return 'metrics must be distinct non-empty names';
    for (const m of s.metrics) if (m.startsWith(MAINTENANCE_PREFIX) || m.startsWith(ERROR_PREFIX)) return `metric ${m} is an event, not a measurement`;
    if (!Array.isArray(s.windowsHours) || s.windowsHours.length === 0 || !s.windowsHours.every(positiveInt) || new Set(s.windowsHours).size !== s.windowsHours.length) return 'windowsHours must be distinct positive integers';
    if (!Array.isArray(s.stats) || s.stats.length === 0 || !s.stats.every((x) => STATS.includes(x as RollingStat)) || new Set(s.stats).size !== s.stats.length) return `stats must be distinct, of ${STATS.join(', ')}`;
    if (!Array.isArray(s.components) || (s.components.length > 0 && !distinctStrings(s.components))) return 'components must be distinct names';
    if (!Array.isArray(s.errors) || (s.errors.length > 0 && !distinctStrings(s.errors))) return 'errors must be distinct ids';
    if (!positiveInt(s.errorWindowHours)) return 'errorWindowHours must be a positive integer';
    for (const w of [...(s.windowsHours as number[]), s.errorWindowHours]) if ((w * 3600) % res !== 0) return `a ${w} h window is not a whole number of ${res} s buckets`;
    const ring = (Math.max(...(s.windowsHours as number[]), s.errorWindowHours) * 3600) / res;
    if (ring > MAX_RING) return `the largest window needs ${ring} buckets of ${res} s (at most ${MAX_RING})`;
    names = rollingFeatureNames(s as unknown as RollingSpec);
  } else return `kind must be latest or rolling, got ${String(s.kind)}`;
  const seen = new Set<string>();
  for (const n of names) {
    if (!NAME.test(n)) return `feature name ${JSON.stringify(n)} must match ${NAME}`;
    if (seen.has(n)) return `feature ${n} is built twice`;
    seen.add(n);
  }
  return undefined;
}

/** What every machine of one spec shares: metric codes, window sizes, scratch space. */
interface Plan {
  readonly spec: OnlineSpec;
  readonly resMs: number;
  /** metric name → code: telemetry m ∈ [0, M), maintenance M + c, error M + C + e. */
  readonly codes: Map<string, number>;
  readonly M: number;
  readonly C: number;
  readonly E: number;
  /** Ring slots (rolling), 0 for latest. */
  readonly ring: number;
  /** Buckets per window (rolling), ascending with `windowsHours` order kept in `windowOrder`. */
  readonly windows: readonly number[];
  readonly errorWindow: number;
  /** Tag/context keys read: categories (latest) or age and model (rolling). */
  readonly contextKeys: readonly string[];
  /** latest: feature → metric code. */
  readonly latestFeatures: readonly (readonly [string, number])[];
  readonly latestCategories: readonly (readonly [string, number])[];
  readonly names: readonly string[];
  /** rolling: stat feature names at [(metric · windows + window) · stats + stat], then per component and error. */
  readonly statNames: readonly string[];
  readonly hoursNames: readonly string[];
  readonly errorNames: readonly string[];
  readonly xs: Float64Array;
  readonly ys: Float64Array;
  /** Scratch of `row()`: ring slots holding a bucket of the ring's span, and b − their bucket. */
  readonly present: Int32Array;
  readonly presentAge: Float64Array;
}

const plans = new WeakMap<OnlineSpec, Plan>();

function planOf(spec: OnlineSpec): Plan {
  const cached = plans.get(spec);
  if (cached) return cached;
  const issue = onlineSpecIssue(spec);
  if (issue) throw mlErrors.STRATA_ERR_ML_SCHEMA({ reason: `online spec: ${issue}` });
  const resMs = spec.resolutionSeconds * 1000;
  const codes = new Map<string, number>();
  let plan: Plan;
  if (spec.kind === 'latest') {
    const metrics = [...new Set(Object.values(spec.metrics))];
    metrics.forEach((m, i) => codes.set(m, i));
    const keys = [...new Set(Object.values(spec.categories ?? {}))];
    plan = {
      spec, resMs, codes, M: metrics.length, C: 0, E: 0, ring: 0, windows: [], errorWindow: 0, contextKeys: keys,
      latestFeatures: Object.entries(spec.metrics).map(([f, m]) => [f, codes.get(m)!] as const),
      latestCategories: Object.entries(spec.categories ?? {}).map(([f, k]) => [f, keys.indexOf(k)] as const),
      names: latestFeatureNames(spec), statNames: [], hoursNames: [], errorNames: [], xs: new Float64Array(0), ys: new Float64Array(0), present: new Int32Array(0), presentAge: new Float64Array(0),
    };
  } else {
    const M = spec.metrics.length, C = spec.components.length, E = spec.errors.length;
    spec.metrics.forEach((m, i) => codes.set(m, i));
    spec.components.forEach((c, i) => codes.set(MAINTENANCE_PREFIX + c, M + i));
    spec.errors.forEach((e, i) => codes.set(ERROR_PREFIX + e, M + C + i));
    const per = (h: number) => (h * HOUR_MS) / resMs;
    const windows = spec.windowsHours.map(per);
    const ring = Math.max(...windows, per(spec.errorWindowHours));
    plan = {
      spec, resMs, codes, M, C, E, ring, windows, errorWindow: per(spec.errorWindowHours), contextKeys: ['age', 'model'],
      latestFeatures: [], latestCategories: [], names: rollingFeatureNames(spec),
      statNames: spec.metrics.flatMap((m) => spec.windowsHours.flatMap((w) => spec.stats.map((s) => rollingStatName(m, s, w)))),
      hoursNames: spec.components.map(hoursSinceName), errorNames: spec.errors.map((e) => errorCountName(e, spec.errorWindowHours)),
      xs: new Float64Array(ring), ys: new Float64Array(ring), present: new Int32Array(ring), presentAge: new Float64Array(ring),
    };
  }
  plans.set(spec, plan);
  return plan;
}

const mod = (a: number, n: number) => ((a % n) + n) % n;

export interface MachineFeaturesOptions {
  /**
   * Hours of history (from the start of the machine's first telemetry bucket to the end of the
   * row's bucket) before a row is built. Default: `rolling` the largest window, `latest` 0.
   */
  readonly minHistoryHours?: number;
}

/** The default minimum history of a spec: its largest window (`rolling`), 0 (`latest`). */
export function defaultMinHistoryHours(spec: OnlineSpec): number {
  return spec.kind === 'latest' ? 0 : Math.max(...spec.windowsHours, spec.errorWindowHours);
}

/** Incremental features of one machine; see the file header for buckets, rows and memory. */
export class MachineFeatures {
  /** Telemetry values dropped because their bucket had closed. */
  late = 0;
  /** Values dropped as unusable (non-finite time or value, non-positive rollup count). */
  rejected = 0;
  /** Why the last `row()` returned undefined: the first missing feature, or `warm-up`. */
  missing: string | undefined = undefined;

  private readonly plan: Plan;
  private readonly minHistoryMs: number;
  /** The first bucket that held telemetry (Infinity: none yet). */
  private firstTelemetry = Infinity;
  /** The newest event time fed (Unix ms), -Infinity before the first. */
  private newest = -Infinity;
  private open = -Infinity;
  private openAny = false;
  private openTelemetry = false;
  private readonly sum: Float64Array;
  private readonly count: Float64Array;
  private readonly openMaint: Float64Array;
  private readonly openErrors: Float64Array;
  private readonly openTags: (string | undefined)[];
  private closed = -Infinity;
  private readonly lastMaint: Float64Array;
  private readonly tags: (string | undefined)[];
  /** latest: newest bucket mean per metric (NaN: none yet). */
  private readonly last: Float64Array;
  /** rolling ring: bucket index per slot (NaN: empty), means [slot·M + m] (NaN: absent), errors [slot·E + e]. */
  private readonly slotBucket: Float64Array;
  private readonly means: Float64Array;
  private readonly errorCounts: Float64Array;

  constructor(spec: OnlineSpec, opts: MachineFeaturesOptions = {}) {
    const p = (this.plan = planOf(spec));
    const minHistory = opts.minHistoryHours ?? defaultMinHistoryHours(spec);
    if (!(minHistory >= 0) || !Number.isFinite(minHistory)) throw mlErrors.STRATA_ERR_ML_BAD_OPTION({ option: 'minHistoryHours', reason: `${String(minHistory)}: expected a finite number >= 0` });
    this.minHistoryMs = minHistory * HOUR_MS;
    this.sum = new Float64Array(p.M);
    this.count = new Float64Array(p.M);
    this.openMaint = new Float64Array(p.C).fill(-Infinity);
    this.lastMaint = new Float64Array(p.C).fill(-Infinity);
    this.openErrors = new Float64Array(p.E);
    this.openTags = new Array<string | undefined>(p.contextKeys.length).fill(undefined);
    this.tags = new Array<string | undefined>(p.contextKeys.length).fill(undefined);
    this.last = new Float64Array(p.spec.kind === 'latest' ? p.M : 0).fill(Number.NaN);
    this.slotBucket = new Float64Array(p.ring).fill(Number.NaN);
    this.means = new Float64Array(p.ring * p.M);
    this.errorCounts = new Float64Array(p.ring * p.E);
  }

  get spec(): OnlineSpec {
    return this.plan.spec;
  }

  /** Feature names of `row()`, in order. */
  get names(): readonly string[] {
    return this.plan.names;
  }

  /** End of the last closed bucket (Unix ms), undefined before the first one closes. */
  get closedEnd(): number | undefined {
    return this.closed === -Infinity ? undefined : (this.closed + 1) * this.plan.resMs;
  }

  /** Hours of history a row needs (see the file header). */
  get minHistoryHours(): number {
    return this.minHistoryMs / HOUR_MS;
  }

  /** The newest event time fed by `add` or `addBucket` (Unix ms), undefined before the first. */
  get lastEventTs(): number | undefined {
    return this.newest === -Infinity ? undefined : this.newest;
  }

  /**
   * A maintenance of `component` at `ts` (Unix ms) known from elsewhere, e.g. the store's newest
   * `maint.<component>` before a warm-up read. Only moves the last maintenance time forward; never
   * changes the row of a bucket already closed (a time at or after its end counts from the next
   * close, as a maintenance event would). Ignored for `latest` specs, unknown components and
   * non-finite times. Opens and closes no bucket, and is not an event (`lastEventTs`).
   */
  seedMaintenance(component: string, ts: number): void {
    const p = this.plan;
    const code = p.codes.get(MAINTENANCE_PREFIX + component);
    if (code === undefined || code < p.M || code >= p.M + p.C || !Number.isFinite(ts)) return;
    const c = code - p.M;
    if (ts <= this.lastMaint[c]!) return;
    if (this.closed !== -Infinity && ts >= (this.closed + 1) * p.resMs) {
      // After the last closed bucket: committed when the open bucket closes (there is one).
      if (ts > this.openMaint[c]!) this.openMaint[c] = ts;
      this.openAny = true;
    } else this.lastMaint[c] = ts;
  }

  /** Buckets kept (rolling: the ring; latest: 0). */
  get bucketsKept(): number {
    return this.plan.ring;
  }

  /**
   * Feeds one event (ts in Unix ms). Metrics outside the spec are ignored. Returns true when it
   * closed a bucket holding telemetry: `row()` then describes that bucket.
   */
  add(ts: number, metrics: Readonly<Record<string, number>>, tags?: Readonly<Record<string, string>>): boolean {
    if (!Number.isFinite(ts)) {
      this.rejected++;
      return false;
    }
    const p = this.plan;
    if (ts > this.newest) this.newest = ts;
    const bucket = Math.floor(ts / p.resMs);
    let closed = false;
    if (bucket > this.open) closed = this.roll(bucket);
    else if (bucket < this.open) {
      for (const k in metrics) {
        const code = p.codes.get(k);
        if (code !== undefined) this.lateValue(code, bucket, ts, 1);
      }
      return false;
    }
    for (const k in metrics) {
      const code = p.codes.get(k);
      if (code === undefined) continue;
      if (code < p.M) {
        const v = metrics[k]!;
        if (typeof v !== 'number' || !Number.isFinite(v)) {
          this.rejected++;
          continue;
        }
        this.sum[code]! += v;
        this.count[code]!++;
        this.openTelemetry = true;
      } else if (code < p.M + p.C) {
        if (ts > this.openMaint[code - p.M]!) this.openMaint[code - p.M] = ts;
      } else this.openErrors[code - p.M - p.C]!++;
      this.openAny = true;
    }
    if (tags !== undefined) {
      const keys = p.contextKeys;
      for (let i = 0; i < keys.length; i++) {
        const t = tags[keys[i]!];
        if (t !== undefined) {
          this.openTags[i] = String(t);
          this.openAny = true;
        }
      }
    }
    return closed;
  }

  /**
   * Feeds one pre-aggregated bucket (a database rollup starting at `startMs`): `mean` of `count`
   * values of `metric`. Rollups of one resolution bucket may come in any order. Returns as `add`.
   */
  addBucket(startMs: number, metric: string, mean: number, count: number): boolean {
    const p = this.plan;
    if (p.resMs % 60_000 !== 0) throw mlErrors.STRATA_ERR_ML_SCHEMA({ reason: `online spec: addBucket needs resolutionSeconds to be a multiple of 60, got ${p.spec.resolutionSeconds}` });
    if (!Number.isFinite(startMs) || !Number.isFinite(mean) || !(count > 0) || !Number.isFinite(count)) {
      this.rejected++;
      return false;
    }
    if (startMs > this.newest) this.newest = startMs;
    const bucket = Math.floor(startMs / p.resMs);
    const code = p.codes.get(metric);
    let closed = false;
    if (bucket > this.open) closed = this.roll(bucket);
    else if (bucket < this.open) {
      if (code !== undefined) this.lateValue(code, bucket, startMs, count);
      return false;
    }
    if (code === undefined) return closed;
    if (code < p.M) {
      this.sum[code]! += mean * count;
      this.count[code]! += count;
      this.openTelemetry = true;
    } else if (code < p.M + p.C) {
      if (startMs > this.openMaint[code - p.M]!) this.openMaint[code - p.M] = startMs;
    } else this.openErrors[code - p.M - p.C]! += count;
    this.openAny = true;
    return closed;
  }

  /** Closes the open bucket now (end of a backfill or of a stream). Returns as `add`. */
  flush(): boolean {
    return this.roll(this.open === -Infinity ? -Infinity : this.open + 1);
  }

  /** The feature row of the last closed bucket, or undefined (then `missing` says why). */
  row(context?: DeviceContext): FeatureRow | undefined {
    const p = this.plan;
    this.missing = undefined;
    if (this.closed === -Infinity) return this.fail('a closed bucket');
    if (this.minHistoryMs > 0 && (this.closed + 1 - this.firstTelemetry) * p.resMs < this.minHistoryMs) return this.fail(WARM_UP);
    const row: Record<string, number | string> = {};
    if (p.spec.kind === 'latest') {
      for (const [f, m] of p.latestFeatures) {
        const v = this.last[m]!;
        if (Number.isNaN(v)) return this.fail(f);
        row[f] = v;
      }
      for (const [f, k] of p.latestCategories) {
        const v = this.tags[k] ?? context?.[p.contextKeys[k]!];
        if (v === undefined) return this.fail(f);
        row[f] = String(v);
      }
      return row;
    }
    const spec = p.spec;
    const b = this.closed;
    const hoursPerBucket = spec.resolutionSeconds / 3600;
    const maxWindow = Math.max(...p.windows);
    const { xs, ys, present, presentAge } = p;
    // The loops live in small functions: `row` itself is too large and too polymorphic (it sets
    // ~50 named fields) for V8 to optimise soon, small loops are optimised at once.
    const np = presentSlots(this.slotBucket, p.ring, b, present, presentAge);
    let first = 0;
    while (first < np && presentAge[first]! >= maxWindow) first++;
    for (let m = 0; m < p.M; m++) {
      // Present bucket means of the largest window, oldest first; each window is a suffix.
      const n = gatherMeans(this.means, p.M, m, present, presentAge, first, np, hoursPerBucket, xs, ys);
      for (let w = 0; w < p.windows.length; w++) {
        const from = suffixFrom(xs, n, (1 - p.windows[w]!) * hoursPerBucket);
        // Windows all end at b, so an empty one is the smallest one or inside it.
        if (from === n) return this.fail(p.statNames[(m * p.windows.length + w) * spec.stats.length]!);
        windowStats(xs, ys, from, n, spec.stats, p.statNames, (m * p.windows.length + w) * spec.stats.length, row);
      }
    }
    const end = (b + 1) * p.resMs;
    for (let c = 0; c < p.C; c++) {
      const t = this.lastMaint[c]!;
      if (t === -Infinity) return this.fail(p.hoursNames[c]!);
      row[p.hoursNames[c]!] = (end - t) / HOUR_MS;
    }
    for (let e = 0; e < p.E; e++) {
      row[p.errorNames[e]!] = errorsWithin(this.errorCounts, p.E, e, present, presentAge, np, p.errorWindow);
    }
    const age = this.tags[0] ?? context?.age;
    const ageValue = typeof age === 'number' ? age : age === undefined || age.trim() === '' ? Number.NaN : Number(age);
    if (!Number.isFinite(ageValue)) return this.fail('age');
    row.age = ageValue;
    const model = this.tags[1] ?? context?.model;
    if (model === undefined) return this.fail('model');
    row.model = String(model);
    return row;
  }

  private fail(feature: string): undefined {
    this.missing = feature;
    return undefined;
  }

  /** Closes the open bucket (if it holds anything) and opens `bucket`. True if telemetry closed. */
  private roll(bucket: number): boolean {
    const p = this.plan;
    const had = this.openTelemetry;
    if (this.openAny) {
      const k = this.open;
      if (p.spec.kind === 'latest') {
        for (let m = 0; m < p.M; m++) if (this.count[m]! > 0) this.last[m] = this.sum[m]! / this.count[m]!;
      } else {
        const s = mod(k, p.ring);
        this.slotBucket[s] = k;
        for (let m = 0; m < p.M; m++) this.means[s * p.M + m] = this.count[m]! > 0 ? this.sum[m]! / this.count[m]! : Number.NaN;
        for (let e = 0; e < p.E; e++) this.errorCounts[s * p.E + e] = this.openErrors[e]!;
      }
      for (let c = 0; c < p.C; c++) if (this.openMaint[c]! > this.lastMaint[c]!) this.lastMaint[c] = this.openMaint[c]!;
      for (let i = 0; i < this.tags.length; i++) if (this.openTags[i] !== undefined) this.tags[i] = this.openTags[i];
      this.closed = k;
      if (had && k < this.firstTelemetry) this.firstTelemetry = k;
      this.sum.fill(0);
      this.count.fill(0);
      this.openMaint.fill(-Infinity);
      this.openErrors.fill(0);
      this.openTags.fill(undefined);
    }
    this.open = bucket;
    this.openAny = false;
    this.openTelemetry = false;
    return had;
  }

  /** A value for a bucket before the open one: maintenance and errors are kept, telemetry is late. */
  private lateValue(code: number, bucket: number, ts: number, count: number): void {
    const p = this.plan;
    if (code < p.M) {
      this.late++;
    } else if (code < p.M + p.C) {
      // Counted from the next closed bucket on (rows already built are not rebuilt).
      if (ts > this.openMaint[code - p.M]!) this.openMaint[code - p.M] = ts;
      this.openAny = true;
    } else {
      const s = mod(bucket, p.ring);
      const held = this.slotBucket[s]!;
      if (held > bucket) return; // older than the ring: outside every window from now on
      if (held !== bucket) {
        this.slotBucket[s] = bucket;
        this.means.fill(Number.NaN, s * p.M, (s + 1) * p.M);
        this.errorCounts.fill(0, s * p.E, (s + 1) * p.E);
      }
      this.errorCounts[s * p.E + code - p.M - p.C]! += count;
    }
  }
}

/**
 * Fills `present` with the ring slots holding a bucket of (b − ring, b], oldest first, and
 * `age` with b − their bucket; returns how many. Slot arithmetic by increment (a floating-point %
 * per bucket would cost more than the rest).
 */
function presentSlots(slotBucket: Float64Array, ring: number, b: number, present: Int32Array, age: Float64Array): number {
  let np = 0;
  for (let k = b - ring + 1, s = mod(k, ring); k <= b; k++, s = s + 1 === ring ? 0 : s + 1) {
    if (slotBucket[s] !== k) continue;
    present[np] = s;
    age[np++] = b - k;
  }
  return np;
}

/** Copies metric m's present means of present[first, np) into ys, their times (hours before b) into xs; returns how many. */
function gatherMeans(means: Float64Array, M: number, m: number, present: Int32Array, age: Float64Array, first: number, np: number, hoursPerBucket: number, xs: Float64Array, ys: Float64Array): number {
  let n = 0;
  for (let i = first; i < np; i++) {
    const v = means[present[i]! * M + m]!;
    if (v !== v) continue; // NaN: no value of this metric in that bucket
    xs[n] = -age[i]! * hoursPerBucket;
    ys[n++] = v;
  }
  return n;
}

/** The first index of xs[0, n) (ascending) at or after `since`. */
function suffixFrom(xs: Float64Array, n: number, since: number): number {
  let from = n;
  while (from > 0 && xs[from - 1]! >= since) from--;
  return from;
}

/** Error e's events in the present buckets younger than `window` buckets. */
function errorsWithin(counts: Float64Array, E: number, e: number, present: Int32Array, age: Float64Array, np: number, window: number): number {
  let count = 0;
  for (let i = np - 1; i >= 0 && age[i]! < window; i--) count += counts[present[i]! * E + e]!;
  return count;
}

/** Writes the stats of ys[from, to) (times xs, hours) into `row`. Needs from < to. */
function windowStats(xs: Float64Array, ys: Float64Array, from: number, to: number, stats: readonly RollingStat[], names: readonly string[], at: number, row: Record<string, number | string>): void {
  const n = to - from;
  let sy = 0, sx = 0, min = Infinity, max = -Infinity;
  for (let i = from; i < to; i++) {
    const y = ys[i]!;
    sy += y;
    sx += xs[i]!;
    if (y < min) min = y;
    if (y > max) max = y;
  }
  const my = sy / n, mx = sx / n;
  let syy = 0, sxy = 0, sxx = 0;
  for (let i = from; i < to; i++) {
    const dy = ys[i]! - my, dx = xs[i]! - mx;
    syy += dy * dy;
    sxy += dx * dy;
    sxx += dx * dx;
  }
  for (let i = 0; i < stats.length; i++) {
    const s = stats[i];
    row[names[at + i]!] = s === 'mean' ? my : s === 'std' ? Math.sqrt(syy / n) : s === 'min' ? min : s === 'max' ? max : sxx > 0 ? sxy / sxx : 0;
  }
}
