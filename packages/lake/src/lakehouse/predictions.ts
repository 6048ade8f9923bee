/**
 * The scoring role's predictions in the lake: `raw/predictions/` → the `predictions` table (in
 * the bronze layer, with bronze's manifest) → `gold_predictions_daily` (in the gold layer).
 *
 * A prediction is a telemetry-shaped event on topic `predictions`:
 * `{id, device, ts, metrics: {failure_probability, failure_predicted}, tags: {ml.model, ml.top}, source, received_at}`
 * (`ml.top`: the features that weighed most, comma-separated). It becomes one row
 * `event_id, device_id, ts, model, probability, predicted, top_features, received_at`.
 *
 * Reading is bronze's (bronze.ts `newObjects`, `stageBatch`): the same objects bookkeeping
 * (`rawDone` of the bronze manifest: keys name their topic), the same typed reader, slow path,
 * erased-device filter and de-duplication by (device, event id, event time) across objects and
 * runs, the same commit per batch. On top of bronze's reasons, an event is quarantined (table
 * `predictions_quarantine`, same columns as `quarantine`) when its `failure_probability` is missing
 * or outside [0, 1], its `failure_predicted` is not 0 or 1, or it has no `ml.model` tag. Compaction
 * and retention follow bronze's settings (`maxFilesPerPartition`, `retentionDays.bronze` and
 * `.quarantine`).
 *
 * Gold rebuilds each day whose predictions changed, whole: per device (pseudonym, like silver's
 * `device_key`), kind and model, the number of predictions, how many predicted a failure, the
 * highest, mean and last probability. Its manifest records the predictions version a day was
 * built from under `builtFrom["predictions/<day>"]` (gold's own days are silver's).
 */
import { PREDICTION, PREDICTIONS_TOPIC, uuidv7 } from '@strata/core';
import type { JobContext } from './lakehouse.js';
import { litList } from './duck.js';
import { DROP_STAGED, batches, compactAndExpire, loadErased, newObjects, stageBatch, writeBatch } from './bronze.js';
import { dayFiles, dropExpired, replacePartition, writeDay } from './files.js';
import { loadManifest, removeUnlisted, saveManifest } from './manifest.js';
import { tableSpec } from './tables.js';
import { loadDeviceTable, staleDays } from './upstream.js';
import type { LakeLayer, LayerSummary } from './types.js';


const PREDICTIONS = tableSpec('bronze', 'predictions');
const QUARANTINE = tableSpec('bronze', 'predictions_quarantine');
const DAILY = tableSpec('gold', 'predictions_daily');

const PROBABILITY = `map_extract_value(metrics, '${PREDICTION.probabilityMetric}')`;
const PREDICTED = `map_extract_value(metrics, '${PREDICTION.predictedMetric}')`;
const MODEL = `map_extract_value(tags, '${PREDICTION.modelTag}')`;
const TOP = `map_extract_value(tags, '${PREDICTION.topTag}')`;

/** What a prediction needs beyond a valid event (bronze.ts `eventReason`'s `extra`). */
const PREDICTION_REASONS = `
  WHEN ${PROBABILITY} IS NULL OR NOT (${PROBABILITY} BETWEEN 0 AND 1) THEN 'failure_probability missing or outside [0, 1]'
  WHEN ${PREDICTED} IS NULL OR ${PREDICTED} NOT IN (0, 1) THEN 'failure_predicted missing or not 0 or 1'
  WHEN ${MODEL} IS NULL OR trim(${MODEL}) = '' THEN 'missing model tag'`;

/** Rows of the table from `stageBatch`'s kept events; `top_features` is null without an `ml.top` tag. */
const rowsOf = (kept: string) => `SELECT id AS event_id, device AS device_id, ts, ${MODEL} AS model, ${PROBABILITY} AS probability, ${PREDICTED} = 1 AS predicted,
    CASE WHEN ${TOP} IS NULL OR trim(${TOP}) = '' THEN NULL ELSE list_filter(list_transform(string_split(${TOP}, ','), f -> trim(f)), f -> f <> '') END AS top_features,
    received_at, ts::DATE AS day
  FROM (${kept})`;

const gotDay = (day: string) => `predictions/${day}`;

export function emptySummary(layer: LakeLayer): LayerSummary {
  return { layer, objectsRead: 0, rowsRead: 0, rowsWritten: 0, quarantined: 0, duplicates: 0, erased: 0, partitions: [], dropped: [], seconds: 0 };
}

/** `b`'s counts added to `a`'s (one layer's jobs over two tables, reported as the layer). */
export function mergeSummaries(a: LayerSummary, b: LayerSummary): LayerSummary {
  return {
    ...a,
    objectsRead: a.objectsRead + b.objectsRead,
    rowsRead: a.rowsRead + b.rowsRead,
    rowsWritten: a.rowsWritten + b.rowsWritten,
    quarantined: a.quarantined + b.quarantined,
    duplicates: a.duplicates + b.duplicates,
    erased: a.erased + b.erased,
    partitions: [...new Set([...a.partitions, ...b.partitions])].sort(),
    dropped: [...new Set([...a.dropped, ...b.dropped])].sort(),
  };
}

/** raw/predictions → `predictions` (and `predictions_quarantine`): incremental, one commit per batch. */
export async function runPredictions(ctx: JobContext, since: number | undefined): Promise<LayerSummary> {
  const { conn, store, settings } = ctx;
  const summary = emptySummary('bronze');
  const m = await loadManifest(store, 'bronze');
  const prefixes = [PREDICTIONS.prefix, QUARANTINE.prefix];
  await removeUnlisted(store, m, prefixes);
  const parts = (m.tables[PREDICTIONS.name] ??= {});
  const quarantineParts = (m.tables[QUARANTINE.name] ??= {});
  const objects = await newObjects(ctx, m, since, PREDICTIONS_TOPIC);
  const touched = new Set<string>();
  if (objects.length > 0) {
    const hasErased = await loadErased(ctx);
    for (const batch of batches(objects, settings.batchBytes)) {
      const staged = await stageBatch(ctx, batch, parts, hasErased, PREDICTION_REASONS);
      await writeBatch(ctx, m, { spec: PREDICTIONS, parts, quarantine: QUARANTINE, quarantineParts }, batch, staged, rowsOf(staged.kept), summary, touched);
    }
    await conn.run(DROP_STAGED);
  }
  summary.dropped = await compactAndExpire(ctx, m, PREDICTIONS, parts, quarantineParts, prefixes);
  summary.partitions = [...touched].sort();
  return summary;
}

/** `predictions` → `gold_predictions_daily`: each changed day (and with `since`, every day from its day on) rebuilt whole. */
export async function runPredictionsGold(ctx: JobContext, since: number | undefined): Promise<LayerSummary> {
  const { conn, store, settings } = ctx;
  const summary = emptySummary('gold');
  const upstream = (await loadManifest(store, 'bronze')).tables[PREDICTIONS.name] ?? {};
  const m = await loadManifest(store, 'gold');
  await removeUnlisted(store, m, [DAILY.prefix]);
  const parts = (m.tables[DAILY.name] ??= {});
  const days = staleDays(upstream, m, since, gotDay);
  if (days.length > 0) await loadDeviceTable(ctx, await Promise.all(days.flatMap((d) => upstream[d]!.files).map((k) => ctx.localFile(k))));
  for (const day of days) {
    const runId = uuidv7();
    const files = await dayFiles(ctx, upstream[day]);
    const written = await writeDay(ctx, DAILY, day,
      `SELECT d.device_key, d.kind, p.model, DATE '${day}' AS day, count(*) AS predictions, count_if(p.predicted) AS predicted,
         max(p.probability) AS max_probability, avg(p.probability) AS mean_probability, arg_max(p.probability, p.ts) AS last_probability
       FROM read_parquet(${litList(files)}) p JOIN devmeta d USING (device_id) GROUP BY d.device_key, d.kind, p.model`,
      runId, 'device_key, model');
    replacePartition(parts, day, written, runId);
    m.builtFrom[gotDay(day)] = upstream[day]!.version;
    await saveManifest(store, m, ctx.now());
    summary.objectsRead += files.length;
    summary.rowsRead += upstream[day]!.rows;
    summary.rowsWritten += written.reduce((n, f) => n + f.rows, 0);
    summary.partitions.push(day);
  }
  summary.dropped = dropExpired(parts, settings.retentionDays.gold, ctx.now());
  for (const d of summary.dropped) delete m.builtFrom[gotDay(d)];
  if (summary.dropped.length > 0) await saveManifest(store, m, ctx.now());
  await removeUnlisted(store, m, [DAILY.prefix]);
  if (days.length > 0) await conn.run('DROP TABLE IF EXISTS devmeta');
  return summary;
}
