/**
 * The online scorer: live events in, one prediction per machine per closed bucket out.
 *
 * Per event: one map lookup for the machine, one per metric for its slot, a sum and a count
 * (./features.ts). Nothing is allocated on that path: an event that closes no bucket returns a
 * shared empty array. Per closed bucket with telemetry: the machine's feature row is built,
 * checked (every input feature present, numbers finite, categories one of their levels) and
 * encoded once into a reused vector, scored with the artifact's model (predict.ts's trees or
 * weights), and added to the drift window. A row that cannot be built or fails the check is not
 * scored: it is counted in `skipped`, by reason (a feature name, so bounded) in `skippedBy`.
 *
 * Order: buckets of a machine close in time order, so its predictions come out in event-time
 * order. A machine whose events stop keeps its open bucket until `flush()`.
 *
 * State: one `MachineFeatures` per machine seen or seeded, until `forget` drops it; the caller
 * bounds it with `devicesIdleSince` (event time). A new machine is not scored before its minimum
 * history (`warm-up`, ./features.ts).
 */
import { gbtContributions, gbtMargin } from '../models/gbt.js';
import { logisticContributions, logisticMargin } from '../models/logistic.js';
import type { Contribution } from '../artifact/predict.js';
import type { ModelArtifact } from '../artifact/train.js';
import { DriftWindow } from './drift.js';
import { mlErrors } from '../errors.js';
import { MachineFeatures, onlineSpecIssue } from './features.js';
import { defaultOnlineSpec, onlineSchemaIssue } from './spec.js';
import type { DeviceContext, OnlinePrediction, OnlineScorer, OnlineSpec } from './types.js';

export interface OnlineScorerOptions {
  /** `name@version` of the model, copied into every prediction. */
  readonly model: string;
  /** What the platform knows about a device (metadata): categories, `age`, `model`. Called once per row, not per event. */
  readonly context?: (device: string) => DeviceContext | undefined;
  /** Contributions per prediction, largest |contribution| first. Default 3; 0: none (faster). */
  readonly top?: number;
  /** Scored rows the drift window keeps. Default 1,000. */
  readonly driftWindow?: number;
  /** Rows before `drift()` reports. Default 200. */
  readonly minDriftRows?: number;
}

/** What `push` returns when nothing is due: shared and frozen, so no event allocates an array. */
const NONE = Object.freeze([]) as unknown as OnlinePrediction[];
const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

type Column =
  | { readonly kind: 'number'; readonly name: string }
  | { readonly kind: 'category'; readonly name: string; readonly levels: ReadonlyMap<string, number> }
  | { readonly kind: 'derived'; readonly name: string; readonly a: number; readonly b: number; readonly product: boolean; readonly scale: number };

/** Scores live telemetry with one artifact; see the file header. */
export function createOnlineScorer(artifact: ModelArtifact, opts: OnlineScorerOptions): OnlineScorer {
  const spec: OnlineSpec = artifact.online ?? defaultOnlineSpec(artifact.schema);
  // Checked here, not at the first event: nothing in `push` throws.
  const issue = onlineSpecIssue(spec) ?? onlineSchemaIssue(spec, artifact.schema);
  if (issue) throw mlErrors.STRATA_ERR_ML_ARTIFACT({ reason: `online: ${issue}` });
  const { schema, model, threshold } = artifact;
  const names = schema.features.map((f) => f.name);
  const index = new Map(names.map((n, j) => [n, j]));
  const columns: Column[] = schema.features.map((f) =>
    f.kind === 'number'
      ? { kind: 'number', name: f.name }
      : f.kind === 'category'
        ? { kind: 'category', name: f.name, levels: new Map(f.levels.map((l, i) => [l, i])) }
        : { kind: 'derived', name: f.name, a: index.get(f.of[0])!, b: index.get(f.of[1])!, product: f.op === 'product', scale: f.scale ?? 1 },
  );
  const top = Math.max(0, Math.floor(opts.top ?? 3));
  const drift = new DriftWindow(artifact.reference ?? {}, names, { window: opts.driftWindow ?? 1000, minRows: opts.minDriftRows ?? 200 });
  const machines = new Map<string, MachineFeatures>();
  const x = new Float64Array(columns.length);
  const skippedBy: Record<string, number> = {};
  let skipped = 0;
  let scored = 0;

  const skip = (reason: string) => {
    skipped++;
    skippedBy[reason] = (skippedBy[reason] ?? 0) + 1;
  };

  /** Encodes a built row into `x`; the reason it cannot, or undefined. */
  const encode = (row: Readonly<Record<string, number | string>>): string | undefined => {
    for (let j = 0; j < columns.length; j++) {
      const c = columns[j]!;
      if (c.kind === 'number') {
        const v = row[c.name];
        if (typeof v !== 'number' || !Number.isFinite(v)) return `${c.name}: not a finite number`;
        x[j] = v;
      } else if (c.kind === 'category') {
        const level = c.levels.get(row[c.name] as string);
        if (level === undefined) return `${c.name}: unknown level`;
        x[j] = level;
      } else {
        const v = c.scale * (c.product ? x[c.a]! * x[c.b]! : x[c.a]! - x[c.b]!);
        if (!Number.isFinite(v)) return `${c.name}: not a finite number`;
        x[j] = v;
      }
    }
    return undefined;
  };

  const score = (device: string, m: MachineFeatures): OnlinePrediction | undefined => {
    const row = m.row(opts.context?.(device));
    if (row === undefined) {
      skip(m.missing ?? 'row');
      return undefined;
    }
    const problem = encode(row);
    if (problem !== undefined) {
      skip(problem);
      return undefined;
    }
    scored++;
    drift.add(x);
    let probability: number;
    let contributions: Contribution[] = [];
    if (top === 0) probability = sigmoid(model.kind === 'gbt' ? gbtMargin(model, x) : logisticMargin(model, x));
    else {
      const r = model.kind === 'gbt' ? gbtContributions(model, x) : logisticContributions(model, x);
      probability = sigmoid(r.margin);
      contributions = topContributions(r.contributions, columns, row, x, top);
    }
    return { device, ts: m.closedEnd!, model: opts.model, probability, label: probability >= threshold ? 1 : 0, contributions };
  };

  const machine = (device: string): MachineFeatures => {
    let m = machines.get(device);
    if (m === undefined) {
      m = new MachineFeatures(spec);
      machines.set(device, m);
    }
    return m;
  };

  return {
    push(device, ts, metrics, tags) {
      const m = machine(device);
      if (!m.add(ts, metrics, tags)) return NONE;
      const p = score(device, m);
      return p === undefined ? NONE : [p];
    },
    flush(device) {
      const out: OnlinePrediction[] = [];
      const close = (d: string, m: MachineFeatures) => {
        if (!m.flush()) return;
        const p = score(d, m);
        if (p !== undefined) out.push(p);
      };
      if (device === undefined) for (const [d, m] of machines) close(d, m);
      else {
        const m = machines.get(device);
        if (m) close(device, m);
      }
      return out;
    },
    forget(device) {
      return machines.delete(device);
    },
    seedMaintenance(device, component, ts) {
      if (spec.kind === 'latest' || !spec.components.includes(component)) return;
      machine(device).seedMaintenance(component, ts);
    },
    devicesIdleSince(ms) {
      const idle: string[] = [];
      for (const [d, m] of machines) if (!((m.lastEventTs ?? -Infinity) >= ms)) idle.push(d);
      return idle;
    },
    drift: () => drift.psi(),
    get devices() {
      return machines.size;
    },
    get scored() {
      return scored;
    },
    get skipped() {
      return skipped;
    },
    get skippedBy() {
      return { ...skippedBy };
    },
    get late() {
      let n = 0;
      for (const m of machines.values()) n += m.late;
      return n;
    },
    get spec() {
      return spec;
    },
  };
}

/** The `top` contributions by |value|, largest first (a partial selection, no full sort). */
function topContributions(c: Float64Array, columns: readonly Column[], row: Readonly<Record<string, number | string>>, x: Float64Array, top: number): Contribution[] {
  const picked: number[] = [];
  for (let j = 0; j < c.length; j++) {
    const a = Math.abs(c[j]!);
    let i = picked.length;
    if (i === top && a <= Math.abs(c[picked[i - 1]!]!)) continue;
    if (i === top) picked.pop();
    i = picked.length;
    while (i > 0 && Math.abs(c[picked[i - 1]!]!) < a) i--;
    picked.splice(i, 0, j);
  }
  return picked.map((j) => {
    const col = columns[j]!;
    return { feature: col.name, value: col.kind === 'category' ? (row[col.name] as string) : x[j]!, contribution: c[j]! };
  });
}
