/**
 * raw → bronze: new raw objects (and delivery's errors/ objects) become long rows, one per
 * (event, metric), typed, with units normalised, de-duplicated by event id, appended to the day
 * partitions of their event time. What fails goes to quarantine/ with a reason; nothing is
 * dropped silently except exact re-deliveries (counted as duplicates).
 *
 * Per batch of raw objects (bounded by `batchBytes`): DuckDB reads the gzip NDJSON directly (the
 * fast path). An object it cannot read as events (invalid JSON, a line that is not an object,
 * a field of the wrong shape) is read again line by line here: good lines go on to DuckDB
 * through a staging file, bad ones to quarantine with their text. Then:
 *  - an event with a bad id, device, event time or received time, or no metrics, is
 *    quarantined whole; a metric with a bad name or a value that is not a finite number is
 *    quarantined alone;
 *  - of the valid events, one per event id is kept: the first in (raw key, line) order, and none
 *    whose id bronze already holds in the day partitions the batch touches (re-delivery after a
 *    crash, the same event in two raw objects, a replay);
 *  - rows are written as one new file per touched day, the manifest is committed (the batch's
 *    objects marked done in the same put), and only then are the next objects read.
 * A day partition with more than `maxFilesPerPartition` files is compacted at the end of a run.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { isUtf8 } from 'node:buffer';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { uuidv7 } from '@strata/core';
import type { JobContext } from './lakehouse.js';
import { lit, litList, rows } from './duck.js';
import { loadManifest, removeUnlisted, saveManifest, type LayerManifest, type PartitionFiles } from './manifest.js';
import { hourPrefixes, objectHour } from '../delivery/layout.js';
import { appendPartitionFiles, dropExpired, writePartitioned, compactPartition } from './files.js';
import { tableSpec, type TableSpec } from './tables.js';
import type { LayerSummary } from './types.js';
import { idIn, loadDeviceSet, quarantineRowIn } from './erased.js';

const gunzipAsync = promisify(gunzip);
const NEWLINE = Buffer.from('\n');

const BRONZE = tableSpec('bronze', 'telemetry');
const QUARANTINE = tableSpec('bronze', 'quarantine');
/** Same grammar as ingest (core's DEVICE_ID_PATTERN, EVENT_ID_PATTERN, METRIC_NAME_PATTERN). */
const ID_RE = '[A-Za-z0-9._:-]{1,128}';
const METRIC_RE = '[A-Za-z0-9._:/-]{1,128}';
/** Raw text kept in a quarantine row. */
const MAX_RAW_CHARS = 64 * 1024;

export interface RawObject {
  key: string;
  size: number;
  /** `YYYY-MM-DD` of the object's hour path: the day its quarantine rows are filed under. */
  day: string;
  zone: 'raw' | 'errors';
}

const HOUR_MS = 3_600_000;

/**
 * Objects of `raw/<topic>/` and `errors/<topic>/` not yet read (or rewritten with another size
 * since), in key order; with `since`, only the hour prefixes from its hour on are listed. The
 * bronze manifest's `rawDone` tracks the objects of every topic bronze reads (keys name their topic).
 */
export async function newObjects(ctx: JobContext, m: LayerManifest, since: number | undefined, topic: string = ctx.topic): Promise<RawObject[]> {
  const found: RawObject[] = [];
  for (const zone of ['raw', 'errors'] as const) {
    // Ingest accepts event times up to a day ahead of the clock.
    const prefixes = since === undefined ? [`${zone}/${topic}/`] : hourPrefixes(zone, topic, Math.floor(since / HOUR_MS) * HOUR_MS, ctx.now() + 24 * HOUR_MS);
    for (const prefix of prefixes) {
      for await (const o of ctx.store.list(prefix)) {
        if (m.rawDone[o.key] === o.size) continue;
        const hour = objectHour(o.key);
        if (hour === undefined) continue; // not of the Firehose layout: not ours
        found.push({ key: o.key, size: o.size, day: new Date(hour).toISOString().slice(0, 10), zone });
      }
    }
  }
  return found;
}

export function batches(objects: RawObject[], maxBytes: number): RawObject[][] {
  const out: RawObject[][] = [];
  let cur: RawObject[] = [];
  let bytes = 0;
  for (const o of objects) {
    if (cur.length > 0 && bytes + o.size > maxBytes) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(o);
    bytes += o.size;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

const EVENT_COLUMNS = `{id: 'VARCHAR', device: 'VARCHAR', ts: 'VARCHAR', metrics: 'MAP(VARCHAR, DOUBLE)', tags: 'MAP(VARCHAR, VARCHAR)', received_at: 'VARCHAR', source: 'VARCHAR'}`;

function readEvents(paths: readonly string[]): string {
  return `read_json(${litList(paths)}, format = 'newline_delimited', filename = true, columns = ${EVENT_COLUMNS}, maximum_object_size = 16777216)`;
}

interface QuarantineLine {
  /** Its raw object's day. */
  day: string;
  raw_key: string;
  reason: string;
  raw: string;
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err)).slice(0, 300);

/**
 * The slow path for an object the typed reader refused: its lines, minus those that are not
 * UTF-8, not JSON or not an object (quarantined with that reason). The typed reader still
 * decides what the rest is, so an event is read the same whether or not its neighbours are bad.
 */
async function screenObject(o: RawObject, path: string, bad: QuarantineLine[]): Promise<Buffer[]> {
  let text: Buffer;
  try {
    text = await gunzipAsync(await readFile(path));
  } catch (err) {
    bad.push({ day: o.day, raw_key: o.key, reason: `object is not readable gzip: ${errorText(err)}`, raw: '' });
    return [];
  }
  const good: Buffer[] = [];
  for (let start = 0; start < text.length; ) {
    let end = text.indexOf(0x0a, start);
    if (end < 0) end = text.length;
    const line = text.subarray(start, end);
    start = end + 1;
    if (line.length === 0) continue;
    if (!isUtf8(line)) {
      bad.push({ day: o.day, raw_key: o.key, reason: 'line is not valid UTF-8', raw: line.toString('latin1').slice(0, MAX_RAW_CHARS) });
      continue;
    }
    const s = line.toString('utf8');
    let parsed: unknown;
    try {
      parsed = JSON.parse(s);
    } catch (err) {
      bad.push({ day: o.day, raw_key: o.key, reason: `invalid JSON: ${errorText(err)}`, raw: s.slice(0, MAX_RAW_CHARS) });
      continue;
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      bad.push({ day: o.day, raw_key: o.key, reason: 'not a JSON object', raw: s.slice(0, MAX_RAW_CHARS) });
      continue;
    }
    good.push(line);
  }
  return good;
}

/**
 * Loads the batch's events into temp table `ev` (one row per line, with its raw key, read order
 * and refusal reason). Returns the quarantine lines of objects the typed reader refused.
 */
async function loadEvents(ctx: JobContext, objs: RawObject[], extraReasons: string): Promise<QuarantineLine[]> {
  const { conn } = ctx;
  const sources = await Promise.all(objs.map(async (o, order) => ({ path: await ctx.localFile(o.key), key: o.key, day: o.day, order })));
  await conn.run(`CREATE OR REPLACE TEMP TABLE ev (raw_key VARCHAR, src_order INTEGER, obj_day DATE, id VARCHAR, device VARCHAR, ts_text VARCHAR, ts TIMESTAMPTZ,
    metrics MAP(VARCHAR, DOUBLE), tags MAP(VARCHAR, VARCHAR), received_at TIMESTAMPTZ, received_text VARCHAR, source VARCHAR, reason VARCHAR)`);
  // An INSERT is all or nothing: when the batch fails, each object is tried alone, and the ones
  // the typed reader refuses are screened line by line.
  const reason = eventReason(ctx, extraReasons);
  const insert = (group: typeof sources) => conn.run(`INSERT INTO ev SELECT *, ${reason} FROM (
    SELECT s.raw_key, s.src_order, s.obj_day, r.id, r.device, r.ts AS ts_text, try_cast(r.ts AS TIMESTAMPTZ) AS ts, r.metrics, r.tags,
      try_cast(r.received_at AS TIMESTAMPTZ) AS received_at, r.received_at AS received_text, r.source
    FROM ${readEvents(group.map((s) => s.path))} r
    JOIN (SELECT unnest(${litList(group.map((s) => s.path))}) AS path, unnest(${litList(group.map((s) => s.key))}) AS raw_key,
      unnest([${group.map((s) => s.order).join(', ')}]) AS src_order, unnest(${litList(group.map((s) => s.day))})::DATE AS obj_day) s
      ON r.filename = s.path)`);
  const quarantined: QuarantineLine[] = [];
  if (sources.length === 0) return quarantined;
  // Lines the typed reader refuses are found by halving: a few inserts per bad line.
  const insertLines = async (s: (typeof sources)[number], lines: Buffer[]): Promise<void> => {
    if (lines.length === 0) return;
    const path = ctx.scratchFile('screened.ndjson');
    await writeFile(path, Buffer.concat(lines.flatMap((l) => [l, NEWLINE])));
    try {
      await insert([{ ...s, path }]);
    } catch (err) {
      if (lines.length === 1) {
        quarantined.push({ day: s.day, raw_key: s.key, reason: `not readable as an event: ${errorText(err)}`, raw: lines[0]!.toString('utf8').slice(0, MAX_RAW_CHARS) });
        return;
      }
      const half = Math.ceil(lines.length / 2);
      await insertLines(s, lines.slice(0, half));
      await insertLines(s, lines.slice(half));
    }
  };
  try {
    await insert(sources);
  } catch {
    for (const s of sources) {
      try {
        await insert([s]);
      } catch {
        await insertLines(s, await screenObject(objs[s.order]!, s.path, quarantined));
      }
    }
  }
  return quarantined;
}

/**
 * Reason an event is refused whole, as SQL (NULL when valid); `cutoff` is a checked date string. A metric with a bad name or a
 * value out of DOUBLE's range refuses its event (ingest never lets those through; a value that
 * is not a number at all is split off alone by the slow path). `extra`: more `WHEN … THEN …`
 * clauses of a table with stricter events (predictions.ts), checked after these.
 */
function eventReason(ctx: JobContext, extra: string): string {
  // Late data for a day bronze no longer keeps would be written and dropped in the same run.
  const days = ctx.settings.retentionDays.bronze;
  const cutoff = days > 0 ? new Date(ctx.now() - days * 86_400_000).toISOString().slice(0, 10) : undefined;
  return `CASE
  WHEN id IS NULL OR NOT regexp_full_match(id, '${ID_RE}') THEN 'invalid or missing event id'
  WHEN device IS NULL OR NOT regexp_full_match(device, '${ID_RE}') THEN 'invalid or missing device id'
  WHEN ts IS NULL OR ts < TIMESTAMPTZ '2000-01-01' OR ts >= TIMESTAMPTZ '10000-01-01' THEN 'invalid or missing event time: ' || coalesce(ts_text, 'null')
  ${cutoff !== undefined ? `WHEN ts < TIMESTAMPTZ '${cutoff}' THEN 'older than bronze retention (${days} days)'` : ''}
  WHEN received_at IS NULL THEN 'invalid or missing received_at: ' || coalesce(received_text, 'null')
  WHEN metrics IS NULL OR cardinality(metrics) = 0 THEN 'no metrics'
  WHEN NOT list_bool_and(list_transform(map_keys(metrics), k -> regexp_full_match(k, '${METRIC_RE}'))) THEN 'invalid metric name'
  WHEN cardinality(metrics) <> len(list_distinct(map_keys(metrics))) THEN 'duplicate metric name'
  WHEN NOT list_bool_and(list_transform(map_values(metrics), v -> v IS NOT NULL AND isfinite(v))) THEN 'metric value is null or out of range'
  ${extra}
END`;
}

/**
 * Units normalised from the `unit.<metric>` tag (SenML's `u`, kept by ingest): temperatures to
 * Celsius (`Cel`), ratios to percent. Other units pass through unchanged.
 */
const NORMALISED = `CASE lower(unit)
    WHEN 'f' THEN (v - 32) * 5 / 9 WHEN '°f' THEN (v - 32) * 5 / 9 WHEN 'degf' THEN (v - 32) * 5 / 9
    WHEN 'k' THEN v - 273.15
    WHEN '/' THEN v * 100
    ELSE v END AS value,
  CASE WHEN lower(unit) IN ('f', '°f', 'degf', 'k', 'c', '°c', 'degc', 'cel') THEN 'Cel' WHEN unit = '/' THEN '%' ELSE unit END AS unit`;

/** What `stageBatch` leaves for the caller to write. */
export interface StagedBatch {
  /** SQL of the valid, new events (temp table `ev`'s columns), one per (device, id, event time). */
  kept: string;
  /** Days (YYYY-MM-DD) of the valid events. */
  days: string[];
  /** Lines read (events, refused lines, erased devices' events). */
  rowsRead: number;
  duplicates: number;
  erased: number;
}

/**
 * Reads a batch of raw/ and errors/ objects of one topic into temp tables: `ev` (one row per
 * line, `reason` NULL when valid), `q` (quarantine rows: `day, raw_key, reason, event_id,
 * device_id, metric, raw`), and marks duplicates — events already in `existing`'s files of the
 * batch's days (a re-delivery, a replay) or earlier in the batch. Events and quarantine lines of
 * devices in temp table `erased_dev` are dropped. `extraReasons`: eventReason's `extra`.
 * Shared by bronze and the predictions table (predictions.ts).
 */
export async function stageBatch(ctx: JobContext, batch: RawObject[], existing: Record<string, PartitionFiles>, hasErased: boolean, extraReasons = ''): Promise<StagedBatch> {
  const { conn } = ctx;
  const rawObjs = batch.filter((o) => o.zone === 'raw');
  const errObjs = batch.filter((o) => o.zone === 'errors');
  const screened = await loadEvents(ctx, rawObjs, extraReasons);
  const erasedEvents = !hasErased ? 0
    : (await rows<{ n: number }>(conn, `SELECT count(*) AS n FROM ev WHERE ${idIn('device', 'erased_dev')}`))[0]!.n;
  if (erasedEvents > 0) await conn.run(`DELETE FROM ev WHERE ${idIn('device', 'erased_dev')}`);

  // Quarantine: lines the slow path refused, delivery's errors/ lines, refused events.
  await conn.run(`CREATE OR REPLACE TEMP TABLE q (day DATE, raw_key VARCHAR, reason VARCHAR, event_id VARCHAR, device_id VARCHAR, metric VARCHAR, raw VARCHAR)`);
  if (screened.length > 0) {
    const path = ctx.scratchFile('quarantine.ndjson');
    await writeFile(path, screened.map((l) => JSON.stringify(l)).join('\n'));
    await conn.run(`INSERT INTO q SELECT day, raw_key, reason, NULL, NULL, NULL, raw FROM read_json(${lit(path)}, format = 'newline_delimited', columns = {day: 'DATE', raw_key: 'VARCHAR', reason: 'VARCHAR', raw: 'VARCHAR'})`);
  }
  for (const o of errObjs) {
    // Delivery's errors/ lines, `{"offset","partition","reason","raw"}`; an object that is not
    // even that is quarantined whole (its bytes stay in errors/).
    const path = await ctx.localFile(o.key);
    try {
      await conn.run(`INSERT INTO q SELECT ${lit(o.day)}::DATE, ${lit(o.key)}, 'delivery: ' || coalesce(reason, 'unknown'), NULL, NULL, NULL, raw
        FROM read_json(${lit(path)}, format = 'newline_delimited', columns = {reason: 'VARCHAR', raw: 'VARCHAR'})`);
    } catch (err) {
      await conn.run(`INSERT INTO q VALUES (${lit(o.day)}::DATE, ${lit(o.key)}, ${lit(`delivery errors object is not readable: ${errorText(err)}`)}, NULL, NULL, NULL, '')`);
    }
  }
  await conn.run(`INSERT INTO q SELECT obj_day, raw_key, reason, id, device, NULL,
      to_json({id: id, device: device, ts: ts_text, metrics: metrics, tags: tags, received_at: received_text, source: source})::VARCHAR
    FROM ev WHERE reason IS NOT NULL`);
  const erasedLines = !hasErased ? 0
    : (await rows<{ n: number }>(conn, `SELECT count(*) AS n FROM q WHERE ${quarantineRowIn('erased_dev')}`))[0]!.n;
  if (erasedLines > 0) await conn.run(`DELETE FROM q WHERE ${quarantineRowIn('erased_dev')}`);
  if (erasedEvents + erasedLines > 0) ctx.logger.info({ events: erasedEvents, quarantineLines: erasedLines }, 'lake bronze: rows of erased devices dropped');

  // One row per event — (device, id, event time): the stream's dedup key plus the time, so a
  // device reusing ids after a reset keeps both events — the first in (raw key, read order),
  // none the table already holds. Duplicates are rare: found first, only they are grouped.
  const days = (await rows<{ d: string }>(conn, `SELECT DISTINCT strftime(ts, '%Y-%m-%d') AS d FROM ev WHERE reason IS NULL`)).map((r) => r.d);
  const held = days.flatMap((d) => existing[d]?.files ?? []);
  await conn.run(`CREATE OR REPLACE TEMP TABLE seen AS ${held.length > 0
    ? `SELECT DISTINCT event_id AS id, device_id AS device, ts FROM read_parquet(${litList(await Promise.all(held.map((k) => ctx.localFile(k))))}) WHERE event_id IN (SELECT id FROM ev)`
    : 'SELECT NULL::VARCHAR AS id, NULL::VARCHAR AS device, NULL::TIMESTAMPTZ AS ts WHERE false'}`);
  await conn.run(`CREATE OR REPLACE TEMP TABLE dup AS SELECT id, device, ts, arg_min(rowid, (src_order, rowid)) AS first FROM ev
    WHERE reason IS NULL AND id IN (SELECT id FROM ev WHERE reason IS NULL GROUP BY id HAVING count(*) > 1) GROUP BY id, device, ts HAVING count(*) > 1`);
  // The rows to drop, as a small set of row ids: anti-joining it is cheap (correlated
  // subqueries on the key made the batch's write twice as slow, measured).
  await conn.run(`CREATE OR REPLACE TEMP TABLE drops AS
    SELECT e.rowid AS r FROM ev e JOIN seen s ON s.id = e.id AND s.device = e.device AND s.ts = e.ts WHERE e.reason IS NULL
    UNION SELECT e.rowid FROM ev e JOIN dup d ON d.id = e.id AND d.device = e.device AND d.ts = e.ts WHERE e.reason IS NULL AND e.rowid <> d.first`);
  const kept = `SELECT * FROM ev WHERE reason IS NULL AND rowid NOT IN (SELECT r FROM drops)`;

  const counts = (await rows<{ events: number; valid: number; kept: number }>(conn,
    `SELECT count(*) AS events, count(*) FILTER (WHERE reason IS NULL) AS valid, (SELECT count(*) FROM (${kept})) AS kept FROM ev`))[0]!;
  return { kept, days, rowsRead: counts.events + screened.length + erasedEvents, duplicates: counts.valid - counts.kept, erased: erasedEvents + erasedLines };
}

/** Drops the temp tables `stageBatch` made. */
export const DROP_STAGED = 'DROP TABLE IF EXISTS ev; DROP TABLE IF EXISTS q; DROP TABLE IF EXISTS seen; DROP TABLE IF EXISTS dup; DROP TABLE IF EXISTS drops; DROP TABLE IF EXISTS erased_dev';

/** Loads the erased devices (LakeOptions.erasedDevices) into temp table `erased_dev`; false when there are none. */
export async function loadErased(ctx: JobContext): Promise<boolean> {
  const ids = [...new Set(await ctx.erasedDevices())];
  await loadDeviceSet(ctx, 'erased_dev', ids);
  return ids.length > 0;
}

/**
 * Writes one staged batch of a bronze-layer run (telemetry and predictions): `sql`'s rows to
 * `t.spec`, the batch's refused lines (temp table `q`) to `t.quarantine`, appends the files to
 * their manifest partitions, marks the batch's raw objects done and saves the manifest (one
 * commit a batch). Counts into `summary`; the days written go to `touched`.
 */
export async function writeBatch(
  ctx: JobContext, m: LayerManifest,
  t: { spec: TableSpec; parts: Record<string, PartitionFiles>; quarantine: TableSpec; quarantineParts: Record<string, PartitionFiles> },
  batch: RawObject[], staged: StagedBatch, sql: string, summary: LayerSummary, touched: Set<string>,
): Promise<void> {
  const runId = uuidv7();
  summary.objectsRead += batch.length;
  summary.rowsRead += staged.rowsRead;
  summary.duplicates += staged.duplicates;
  summary.erased += staged.erased;
  const written = await writePartitioned(ctx, t.spec, sql, runId, staged.days.length === 1 ? staged.days[0] : undefined);
  const quarantined = await writePartitioned(ctx, t.quarantine, `SELECT ${t.quarantine.columns.map(([c]) => c).join(', ')}, day FROM q`, runId);
  for (const f of written) {
    appendPartitionFiles(t.parts, f, runId);
    touched.add(f.day);
    summary.rowsWritten += f.rows;
  }
  for (const f of quarantined) {
    appendPartitionFiles(t.quarantineParts, f, runId);
    summary.quarantined += f.rows;
  }
  for (const o of batch) m.rawDone[o.key] = o.size;
  await saveManifest(ctx.store, m, ctx.now());
  if (quarantined.length > 0) ctx.logger.warn({ table: t.spec.name, rows: quarantined.reduce((n, f) => n + f.rows, 0), objects: batch.length }, 'lake bronze: rows quarantined');
}

/**
 * The end of a bronze-layer run (telemetry and predictions): compacts every day of `spec` with
 * more than `maxFilesPerPartition` files (every day, not only this run's: a run that crashed
 * after its appends left days to compact), drops days past `retentionDays.bronze` (quarantine:
 * `retentionDays.quarantine`), saves the manifest if it changed and removes unlisted objects
 * under `prefixes`. Returns the days of `spec` dropped.
 */
export async function compactAndExpire(
  ctx: JobContext, m: LayerManifest, spec: TableSpec, parts: Record<string, PartitionFiles>, quarantineParts: Record<string, PartitionFiles>, prefixes: string[],
): Promise<string[]> {
  const { store, settings } = ctx;
  const runId = uuidv7();
  let changed = false;
  for (const day of Object.keys(parts)) {
    if (parts[day]!.files.length > settings.maxFilesPerPartition) {
      await compactPartition(ctx, spec, parts, day, runId, 'device_id, ts');
      changed = true;
    }
  }
  const dropped = dropExpired(parts, settings.retentionDays.bronze, ctx.now());
  const droppedQ = dropExpired(quarantineParts, settings.retentionDays.quarantine, ctx.now());
  if (changed || dropped.length > 0 || droppedQ.length > 0) await saveManifest(store, m, ctx.now());
  await removeUnlisted(store, m, prefixes);
  return dropped;
}

export async function runBronze(ctx: JobContext, since: number | undefined): Promise<LayerSummary> {
  const { conn, store, settings } = ctx;
  const summary: LayerSummary = { layer: 'bronze', objectsRead: 0, rowsRead: 0, rowsWritten: 0, quarantined: 0, duplicates: 0, erased: 0, partitions: [], dropped: [], seconds: 0 };
  const m = await loadManifest(store, 'bronze');
  await removeUnlisted(store, m, [BRONZE.prefix, QUARANTINE.prefix]);
  const touched = new Set<string>();
  const bronzeParts = (m.tables[BRONZE.name] ??= {});
  const quarantineParts = (m.tables[QUARANTINE.name] ??= {});
  // Devices erased (GDPR): whatever of theirs reaches bronze again (a re-delivery, a replay of
  // what the stream still held) is dropped before anything is written.
  const hasErased = await loadErased(ctx);

  for (const batch of batches(await newObjects(ctx, m, since), settings.batchBytes)) {
    const staged = await stageBatch(ctx, batch, bronzeParts, hasErased);
    const bronzeSql = `SELECT id AS event_id, device AS device_id, ts, metric, ${NORMALISED}, received_at, source, raw_key, ts::DATE AS day
      FROM (SELECT *, map_extract_value(tags, 'unit.' || metric) AS unit FROM (
        SELECT id, device, ts, received_at, source, raw_key, tags, unnest(map_keys(metrics)) AS metric, unnest(map_values(metrics)) AS v FROM (${staged.kept})))`;
    await writeBatch(ctx, m, { spec: BRONZE, parts: bronzeParts, quarantine: QUARANTINE, quarantineParts }, batch, staged, bronzeSql, summary, touched);
  }

  summary.dropped = await compactAndExpire(ctx, m, BRONZE, bronzeParts, quarantineParts, [BRONZE.prefix, QUARANTINE.prefix]);
  await conn.run(DROP_STAGED);
  summary.partitions = [...touched].sort();
  return summary;
}
