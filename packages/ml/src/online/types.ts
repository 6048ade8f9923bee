/**
 * The contract between a model artifact and live telemetry (issue 9, online scoring and
 * `POST /v1/predict {device}`). One feature builder serves training on telemetry, the scoring
 * consumer and the predict route, so features cannot differ between training and serving.
 */
import type { Contribution } from '../artifact/predict.js';

/**
 * How a model's input row is computed from a machine's telemetry (`artifact.online`).
 * Telemetry is first resampled to `resolutionSeconds` buckets (bucket mean per metric); a machine is
 * scored once per closed bucket, so 1 Hz sensors and the hourly training data see the same features.
 *
 * - `latest`: each input feature is the last bucket's mean of one metric (`metrics[feature]`);
 *   category features come from the event's tags or the device's metadata (`categories[feature]`
 *   names the tag/metadata key). AI4I-style models.
 * - `rolling`: for every metric, window and stat, a feature `${metric}${Stat}${window}h` over the
 *   buckets in the window (`voltMean3h`); `hoursSince${Component}` since the last
 *   `maint.${component}` event (`hoursSinceComp1`); `errors${Error}In${errorWindowHours}h` counts of
 *   `error.${error}` events (`errorsError1In24h`); and the device's `age` and `model` from its tags
 *   or metadata. Azure-PdM-style models. Names are camelCase (schema.ts's name rule); see
 *   ./features.ts for the exact rules (bucket closing, gaps, when a row can be built).
 * Maintenance and error logs arrive as telemetry events carrying metric `maint.<component>` or
 * `error.<id>` with value 1 (the Azure PdM CSVs are fed the same way in training).
 */
export type OnlineSpec =
  | {
      readonly kind: 'latest';
      readonly resolutionSeconds: number;
      readonly metrics: Readonly<Record<string, string>>;
      readonly categories?: Readonly<Record<string, string>>;
    }
  | {
      readonly kind: 'rolling';
      readonly resolutionSeconds: number;
      readonly metrics: readonly string[];
      readonly windowsHours: readonly number[];
      readonly stats: readonly ('mean' | 'std' | 'min' | 'max' | 'slope')[];
      readonly components: readonly string[];
      readonly errors: readonly string[];
      readonly errorWindowHours: number;
    };

/** What the platform knows about a device beyond its telemetry (devices.metadata). */
export type DeviceContext = Readonly<Record<string, string | number>>;

/** One prediction for one machine at the end of one bucket. */
export interface OnlinePrediction {
  readonly device: string;
  /** End of the scored bucket, Unix ms (event time). */
  readonly ts: number;
  /** `name@version` of the model that scored. */
  readonly model: string;
  readonly probability: number;
  readonly label: 0 | 1;
  readonly contributions: readonly Contribution[];
}

export interface OnlineScorer {
  /**
   * Feeds one event (ts in Unix ms); returns the predictions that became due (closed buckets), in
   * time order. Do not modify the array: when nothing is due it is one shared, frozen empty array
   * (no allocation per event).
   */
  push(device: string, ts: number, metrics: Readonly<Record<string, number>>, tags?: Readonly<Record<string, string>>): OnlinePrediction[];
  /** Closes the open bucket of one machine (or of all) and scores it: end of a replay, or a machine gone quiet. */
  flush(device?: string): OnlinePrediction[];
  /**
   * Drops a machine's state (decommissioned device, or one from `devicesIdleSince`); true if it
   * had some. A machine seen again starts afresh: warm-up again, maintenance seeded again.
   */
  forget(device: string): boolean;
  /**
   * A maintenance of `component` on `device` at `ts` (Unix ms) known from elsewhere: after a
   * restart the role re-reads only the warm-up span of telemetry, so a `rolling` model would
   * skip a machine (`hoursSince<Component>`) until each component's next maintenance event, for
   * months. Seed each component's newest `maint.<component>` time from the store (before or
   * during the warm-up read). Creates the machine's state if needed; only ever moves the last
   * maintenance time forward, never changes a row already built; ignored for `latest` specs and
   * for components the spec does not have.
   */
  seedMaintenance(device: string, component: string, ts: number): void;
  /**
   * Machines whose newest event (event time, `push`) is before `ms`, or that have none (seeded
   * only): to drop with `forget` once idle past the warm-up span, which bounds the state. Scans
   * every machine: call it now and then, not per event.
   */
  devicesIdleSince(ms: number): string[];
  /** PSI per feature between the artifact's reference and the last `driftWindow` scored rows (empty until `minDriftRows`). */
  drift(): Readonly<Record<string, number>>;
  /** Machines with state. */
  readonly devices: number;
  /** Rows scored. */
  readonly scored: number;
  /** Closed buckets not scored because their row could not be built or was invalid. */
  readonly skipped: number;
  /** `skipped` by reason: the missing feature's name, `warm-up` (less history than the spec's minimum), or `<feature>: unknown level` and the like (bounded by the schema). */
  readonly skippedBy: Readonly<Record<string, number>>;
  /** Telemetry values dropped because their bucket had already closed. */
  readonly late: number;
  /** The spec in use (the artifact's, or the default for artifacts without one). */
  readonly spec: OnlineSpec;
}
