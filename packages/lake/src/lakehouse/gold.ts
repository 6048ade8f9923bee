/**
 * silver → gold: each changed day of silver is aggregated again, whole:
 *  - `gold_hourly` and `gold_daily`: per device (pseudonym) and metric, count, min, max, mean,
 *    sample standard deviation, exact p50 and p95 (one scan, two grouping sets);
 *  - `gold_daily` also has completeness: samples received / samples expected between the day's
 *    first and last sample, at the device's nominal interval (metadata `sampleIntervalSeconds`)
 *    or else the median over the day's hours of each hour's mean gap, or else (devices sending
 *    less than twice an hour) the median gap between consecutive samples; a device silent the
 *    whole day has no row (the heartbeat rules watch silence);
 *  - `gold_fleet_daily`: per kind and day, devices, metrics, samples, late and outlier samples,
 *    mean completeness.
 * Alert counts join once the alerts topic exists (issue 5).
 */
import { uuidv7 } from '@strata/core';
import type { JobContext } from './lakehouse.js';
import { litList } from './duck.js';
import { dayFiles, dropExpired, replacePartition, writeDay } from './files.js';
import { loadManifest, removeUnlisted, saveManifest } from './manifest.js';
import { tableSpec } from './tables.js';
import { loadDeviceTable, staleDays } from './upstream.js';
import type { LayerSummary } from './types.js';

const HOURLY = tableSpec('gold', 'hourly');
const DAILY = tableSpec('gold', 'daily');
const FLEET = tableSpec('gold', 'fleet_daily');
const GOLD = [HOURLY, DAILY, FLEET];

/** Both quantiles from one sort of each group's values (measured faster than two, and than approx_quantile). */
const STATS = `count(*) AS count, min(value) AS min, max(value) AS max, avg(value) AS mean, stddev_samp(value) AS stddev,
  quantile_cont(value, [0.5, 0.95]) AS q`;

/**
 * Builds the gold days of silver that changed (and with `since`, every day from its day on), or,
 * with `only`, exactly those days of silver (erasure recomputes the days it rewrote).
 */
export async function runGold(ctx: JobContext, since: number | undefined, only?: readonly string[]): Promise<LayerSummary> {
  const { conn, store, settings } = ctx;
  const summary: LayerSummary = { layer: 'gold', objectsRead: 0, rowsRead: 0, rowsWritten: 0, quarantined: 0, duplicates: 0, erased: 0, partitions: [], dropped: [], seconds: 0 };
  const silver = (await loadManifest(store, 'silver')).tables.telemetry ?? {};
  const m = await loadManifest(store, 'gold');
  await removeUnlisted(store, m, GOLD.map((t) => t.prefix));
  const days = only ? [...new Set(only)].filter((d) => silver[d] !== undefined).sort() : staleDays(silver, m, since);
  if (days.length > 0) await loadDeviceTable(ctx, []);

  for (const day of days) {
    const runId = uuidv7();
    const files = await dayFiles(ctx, silver[day]);
    const s = `read_parquet(${litList(files)})`;
    // One scan of the day: hourly and daily statistics as two grouping sets.
    await conn.run(`CREATE OR REPLACE TEMP TABLE agg AS
      SELECT device_key, kind, metric, date_trunc('hour', ts) AS hour, grouping(date_trunc('hour', ts)) = 1 AS whole_day, ${STATS},
        count_if(is_late) AS late, count_if(is_outlier) AS outliers, epoch_ms(min(ts)) AS first_ms, epoch_ms(max(ts)) AS last_ms
      FROM ${s}
      GROUP BY GROUPING SETS ((device_key, kind, metric, date_trunc('hour', ts)), (device_key, kind, metric))`);
    const hourly = await writeDay(ctx, HOURLY, day, `SELECT *, q[1] AS p50, q[2] AS p95 FROM agg WHERE NOT whole_day`, runId, 'device_key, metric, hour');
    // The typical gap between samples: nominal (metadata), else the median over the day's hours
    // of each hour's mean gap (whole hours of silence count as missing samples), else, for
    // devices sending less than twice an hour, the median gap between consecutive samples.
    await conn.run(`CREATE OR REPLACE TEMP TABLE daily AS
      WITH hourly_gap AS (SELECT device_key, metric, median((last_ms - first_ms) / (count - 1)) AS gap_ms FROM agg WHERE NOT whole_day AND count > 1 GROUP BY device_key, metric),
           sparse AS (SELECT device_key, metric FROM agg WHERE whole_day AND count > 1 AND (device_key, metric) NOT IN (SELECT (device_key, metric) FROM hourly_gap)),
           sparse_gap AS (SELECT device_key, metric, median(gap_ms) FILTER (WHERE gap_ms > 0) AS gap_ms FROM (
               SELECT device_key, metric, epoch_ms(ts) - lag(epoch_ms(ts)) OVER (PARTITION BY device_key, metric ORDER BY ts) AS gap_ms
               FROM ${s} WHERE (device_key, metric) IN (SELECT (device_key, metric) FROM sparse)) GROUP BY device_key, metric),
           d AS (SELECT a.*, coalesce(m.interval_s * 1000, h.gap_ms, g.gap_ms) AS interval_ms FROM agg a
                 LEFT JOIN hourly_gap h USING (device_key, metric) LEFT JOIN sparse_gap g USING (device_key, metric)
                 LEFT JOIN devmeta m USING (device_key) WHERE a.whole_day)
      SELECT *, CASE WHEN interval_ms > 0 THEN floor((last_ms - first_ms) / interval_ms)::BIGINT + 1 ELSE count END AS expected FROM d`);
    const daily = await writeDay(ctx, DAILY, day,
      `SELECT device_key, kind, metric, DATE '${day}' AS day, count, min, max, mean, stddev, q[1] AS p50, q[2] AS p95, expected, least(1.0, count / expected) AS completeness, late, outliers FROM daily`,
      runId, 'device_key, metric');
    const fleet = await writeDay(ctx, FLEET, day,
      `SELECT kind, DATE '${day}' AS day, count(DISTINCT device_key) AS devices, count(DISTINCT metric) AS metrics, sum(count) AS samples,
         sum(late) AS late, sum(outliers) AS outliers, avg(least(1.0, count / expected)) AS mean_completeness FROM daily GROUP BY kind`,
      runId, 'kind');
    for (const [spec, written] of [[HOURLY, hourly], [DAILY, daily], [FLEET, fleet]] as const) {
      replacePartition((m.tables[spec.name] ??= {}), day, written, runId);
      summary.rowsWritten += written.reduce((n, f) => n + f.rows, 0);
    }
    m.builtFrom[day] = silver[day]!.version;
    await saveManifest(store, m, ctx.now());
    summary.objectsRead += files.length;
    summary.rowsRead += silver[day]!.rows;
    summary.partitions.push(day);
  }
  const dropped = new Set<string>();
  for (const spec of GOLD) for (const d of dropExpired((m.tables[spec.name] ??= {}), settings.retentionDays.gold, ctx.now())) dropped.add(d);
  summary.dropped = [...dropped].sort();
  for (const d of dropped) delete m.builtFrom[d];
  if (dropped.size > 0) await saveManifest(store, m, ctx.now());
  await removeUnlisted(store, m, GOLD.map((t) => t.prefix));
  await conn.run('DROP TABLE IF EXISTS daily; DROP TABLE IF EXISTS agg');
  return summary;
}
