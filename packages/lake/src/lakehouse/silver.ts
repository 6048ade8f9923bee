/**
 * bronze → silver: each day partition of bronze that changed is rebuilt whole (so flags that
 * depend on the day — outliers — never depend on how runs were split), from bronze joined with
 * device metadata from the operational store:
 *  - `device_key`: the device id pseudonymised (pseudonym.ts); the id, name and free-form
 *    metadata are not carried: analysts read silver;
 *  - `kind`, `site`, `model` from the store (null for devices it does not know);
 *  - `is_outlier`: more than `outlierSigma` standard deviations from the mean of the same device
 *    and metric that day (needs ≥ 10 samples and a non-zero deviation);
 *  - `is_late`: received more than `lateAfterMs` after its event time.
 * Files keep bronze's order, which is close to event-time order: row groups prune well on `ts`.
 * Sorting by device as well cost more than the rest of the layer together (measured), so it is
 * left to gold, which the dashboard reads.
 */
import { uuidv7 } from '@strata/core';
import type { JobContext } from './lakehouse.js';
import { litList } from './duck.js';
import { dayFiles, dropExpired, replacePartition, writeDay } from './files.js';
import { loadManifest, removeUnlisted, saveManifest } from './manifest.js';
import { tableSpec } from './tables.js';
import { loadDeviceTable, staleDays } from './upstream.js';
import type { LayerSummary } from './types.js';

const SILVER = tableSpec('silver', 'telemetry');
const MIN_OUTLIER_SAMPLES = 10;

export async function runSilver(ctx: JobContext, since: number | undefined): Promise<LayerSummary> {
  const { store, settings } = ctx;
  const summary: LayerSummary = { layer: 'silver', objectsRead: 0, rowsRead: 0, rowsWritten: 0, quarantined: 0, duplicates: 0, erased: 0, partitions: [], dropped: [], seconds: 0 };
  const bronze = (await loadManifest(store, 'bronze')).tables.telemetry ?? {};
  const m = await loadManifest(store, 'silver');
  await removeUnlisted(store, m, [SILVER.prefix]);
  const parts = (m.tables[SILVER.name] ??= {});
  const days = staleDays(bronze, m, since);
  if (days.length > 0) await loadDeviceTable(ctx, await Promise.all(days.flatMap((d) => bronze[d]!.files).map((k) => ctx.localFile(k))));

  for (const day of days) {
    const runId = uuidv7();
    const files = await dayFiles(ctx, bronze[day]);
    // The statistics read the files a second time: a CTE used twice would be materialised
    // (measured 2× slower), and comparing epochs beats comparing intervals (measured 2×).
    const src = `read_parquet(${litList(files)})`;
    const select = `WITH st AS (SELECT device_id, metric, avg(value) AS mean, stddev_samp(value) AS sd, count(*) AS n FROM ${src} GROUP BY device_id, metric)
      SELECT d.device_key, d.kind, d.site, d.model, b.metric, b.ts, b.value, b.unit, b.received_at, b.source,
        coalesce(st.n >= ${MIN_OUTLIER_SAMPLES} AND st.sd > 0 AND abs(b.value - st.mean) > ${settings.outlierSigma} * st.sd, false) AS is_outlier,
        epoch_us(b.received_at) - epoch_us(b.ts) > ${settings.lateAfterMs * 1000} AS is_late
      FROM ${src} b JOIN devmeta d USING (device_id) JOIN st USING (device_id, metric)`;
    const written = await writeDay(ctx, SILVER, day, select, runId);
    replacePartition(parts, day, written, runId);
    m.builtFrom[day] = bronze[day]!.version;
    await saveManifest(store, m, ctx.now());
    summary.objectsRead += files.length;
    summary.rowsRead += bronze[day]!.rows;
    summary.rowsWritten += written.reduce((n, f) => n + f.rows, 0);
    summary.partitions.push(day);
  }
  summary.dropped = dropExpired(parts, settings.retentionDays.silver, ctx.now());
  for (const d of summary.dropped) delete m.builtFrom[d];
  if (summary.dropped.length > 0) await saveManifest(store, m, ctx.now());
  await removeUnlisted(store, m, [SILVER.prefix]);
  return summary;
}
