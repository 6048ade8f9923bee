/**
 * A model's input row for one device, from what the operational store holds of it: the
 * one-minute rollups (mean = sum / count per metric and minute) and the device's metadata and
 * latest tags. The same feature builder as the scoring consumer (`MachineFeatures`, ../online)
 * folds the rollups into the artifact's `online` spec buckets, so a row asked for here is the row
 * the consumer scores at the end of the same bucket.
 *
 * The row describes the device's last complete bucket: the one holding its newest rollup minute
 * if that bucket has ended by `now`, else the one before (the rollups of the incomplete bucket are
 * not read, so a 3600 s spec asked at 10:05 describes 09:00–10:00, `at` = 10:00, never a six-minute
 * "hourly" mean ending in the future). So "recent" follows the device's newest rollup, not the
 * clock: a machine that stopped reporting an hour ago is described as it was then (the answer
 * says when: `at`). The rollups read are those of the spec's largest window before the end of
 * that bucket (`latest`: one hour, each metric carried forward), plus each component's newest
 * maintenance event for `rolling` specs. The minimum history of `MachineFeatures` applies: a
 * device with less telemetry than the spec's largest window is refused (409, "needs N h").
 */
import { sql, type Kysely } from 'kysely';
import type { ModelArtifact } from '../artifact/train.js';
import { mlErrors } from '../errors.js';
import type { FeatureRow } from '../features/encode.js';
import { ERROR_PREFIX, MachineFeatures, MAINTENANCE_PREFIX, WARM_UP } from '../online/features.js';
import { defaultOnlineSpec } from '../online/spec.js';
import type { DeviceContext, OnlineSpec } from '../online/types.js';

/** The columns of `rollups_1m` read here (@strata/db's schema). */
interface RollupTables {
  rollups_1m: { device: string; metric: string; minute: Date; count: number; sum: number };
}

export interface DeviceInfo {
  readonly id: string;
  /** devices.metadata: the device context (`model`, `age`, `type`, …). */
  readonly metadata: Readonly<Record<string, unknown>>;
  /** devices.tags: the latest tags seen on its events; they win over metadata. */
  readonly tags?: Readonly<Record<string, string>>;
}

export interface DeviceFeatures {
  readonly row: FeatureRow;
  /** End of the bucket the row describes. */
  readonly at: Date;
}

const LATEST_LOOKBACK_MS = 3_600_000;

/** How the artifact's features come from telemetry: its `online` spec, else the default one (../online/spec.ts). */
export function onlineSpecOf(artifact: ModelArtifact): OnlineSpec {
  return artifact.online ?? defaultOnlineSpec(artifact.schema);
}

/** The metric names a spec reads, and the maintenance ones among them. */
function specMetrics(spec: OnlineSpec): { telemetry: string[]; events: string[]; maintenance: string[] } {
  if (spec.kind === 'latest') return { telemetry: [...new Set(Object.values(spec.metrics))], events: [], maintenance: [] };
  const maintenance = spec.components.map((c) => `${MAINTENANCE_PREFIX}${c}`);
  return { telemetry: [...spec.metrics], events: [...maintenance, ...spec.errors.map((e) => `${ERROR_PREFIX}${e}`)], maintenance };
}

/** The device context a spec's categories read: metadata, overridden by the latest tags; strings and numbers only. */
export function deviceContext(device: DeviceInfo): DeviceContext {
  const out: Record<string, string | number> = {};
  for (const [k, v] of Object.entries({ ...device.metadata, ...device.tags })) if (typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v))) out[k] = v;
  return out;
}

/**
 * The artifact's input row for `device` from its rollups; throws `STRATA_ERR_ML_DEVICE_FEATURES`
 * (409) naming what is missing when the telemetry does not give every feature.
 */
export async function deviceFeatures(kysely: Kysely<unknown>, artifact: ModelArtifact, device: DeviceInfo, opts: { readonly now?: Date } = {}): Promise<DeviceFeatures> {
  const db = kysely as Kysely<RollupTables>;
  const spec = onlineSpecOf(artifact);
  const { telemetry, events, maintenance } = specMetrics(spec);
  const fail = (reason: string) => mlErrors.STRATA_ERR_ML_DEVICE_FEATURES({ device: device.id, reason });
  const newest = await db.selectFrom('rollups_1m').select((eb) => eb.fn.max('minute').as('minute')).where('device', '=', device.id).where('metric', 'in', telemetry).executeTakeFirst();
  if (!newest?.minute) throw fail(`it has no telemetry of ${telemetry.join(', ')}`);
  const newestMs = new Date(newest.minute).getTime();
  const resMs = spec.resolutionSeconds * 1000;
  const bucketStart = Math.floor(newestMs / resMs) * resMs;
  const now = (opts.now ?? new Date()).getTime();
  // End of the last complete bucket; the rollups read are those before it.
  const end = bucketStart + resMs <= now ? bucketStart + resMs : bucketStart;
  const anchor = new Date(end - 60_000);
  const lookbackMs = spec.kind === 'latest' ? Math.max(LATEST_LOOKBACK_MS, resMs) : Math.max(...spec.windowsHours, spec.errorWindowHours) * 3_600_000;
  const from = new Date(Math.floor((end - lookbackMs) / 60_000) * 60_000);
  const { rows } = await sql<{ metric: string; minute: Date; count: number; sum: number }>`
    select metric, minute, count, sum from rollups_1m
    where device = ${device.id} and metric in (${sql.join([...telemetry, ...events])}) and minute > ${from.toISOString()}::timestamptz and minute <= ${anchor.toISOString()}::timestamptz
    union all
    select metric, max(minute), 1, 1 from rollups_1m
    where device = ${device.id} and metric in (${sql.join(maintenance.length > 0 ? maintenance : [''])}) and minute <= ${from.toISOString()}::timestamptz
    group by metric
    order by minute`.execute(db);
  const machine = new MachineFeatures(spec);
  let first = Infinity;
  for (const r of rows) {
    const start = new Date(r.minute).getTime();
    if (telemetry.includes(r.metric) && start < first) first = start;
    machine.addBucket(start, r.metric, r.sum / r.count, r.count);
  }
  machine.flush();
  const row = machine.row(deviceContext(device));
  if (!row && machine.missing === WARM_UP) {
    const has = first === Infinity ? 0 : ((machine.closedEnd ?? end) - Math.floor(first / resMs) * resMs) / 3_600_000;
    throw fail(`needs ${machine.minHistoryHours} h of telemetry before ${new Date(end).toISOString()}; has ${Math.max(0, Math.floor(has * 10) / 10)} h`);
  }
  if (!row) throw fail(first === Infinity ? `no complete ${spec.resolutionSeconds} s bucket of telemetry before ${new Date(end).toISOString()}` : `no recent value for ${machine.missing ?? 'a feature'} (telemetry up to ${anchor.toISOString()})`);
  return { row, at: new Date(machine.closedEnd ?? end) };
}
