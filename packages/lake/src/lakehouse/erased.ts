/**
 * Which raw lines and lake rows belong to given devices: the one rule erasure (erase.ts) and
 * bronze's `erasedDevices` filter share, in JavaScript (raw lines) and in SQL (Parquet rows).
 *
 * A line's devices: when it parses as a JSON object, its top-level `device` (a number as its
 * text, as DuckDB's typed reader casts it); otherwise (cut, not JSON, not UTF-8, an array) every
 * `"device":"…"` field found in its text. Delivery's errors/ lines are judged by their `raw`.
 * Alert events carry `device` like telemetry events, so the rule holds for both topics.
 */
import { writeFile } from 'node:fs/promises';
import type { JobContext } from './lakehouse.js';
import { lit } from './duck.js';

/** A `"device": "<id>"` field in JSON text (ids never need escapes: ingest's id grammar). */
const DEVICE_FIELD = String.raw`"device"\s*:\s*"([^"\\]*)"`;
const DEVICE_FIELD_RE = new RegExp(DEVICE_FIELD, 'g');

/** Devices of one raw line (an event or an alert event, or text that failed to be one). */
export function lineDevices(text: string): string[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    v = undefined;
  }
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const d = (v as { device?: unknown }).device;
    return typeof d === 'string' ? [d] : typeof d === 'number' ? [String(d)] : [];
  }
  return [...text.matchAll(DEVICE_FIELD_RE)].map((m) => m[1]!);
}

/** Devices of one errors/ line `{"offset","partition","reason","raw"}`: those of its `raw`. */
export function errorLineDevices(text: string): string[] {
  try {
    const v = JSON.parse(text) as { raw?: unknown } | null;
    if (v !== null && typeof v === 'object' && typeof v.raw === 'string') return lineDevices(v.raw);
  } catch {
    // not delivery's format: judged as text
  }
  return lineDevices(text);
}

/**
 * Loads `ids` into temp table `name(device_id VARCHAR, device_key VARCHAR)` (the id and its
 * pseudonym, `keyOf`), through a scratch file: the set may be large.
 */
export async function loadDeviceSet(ctx: JobContext, name: string, ids: readonly string[], keyOf: (id: string) => string | null = () => null): Promise<void> {
  await ctx.conn.run(`CREATE OR REPLACE TEMP TABLE ${name} (device_id VARCHAR, device_key VARCHAR)`);
  if (ids.length === 0) return;
  const path = ctx.scratchFile(`${name}.ndjson`);
  await writeFile(path, ids.map((id) => JSON.stringify({ device_id: id, device_key: keyOf(id) })).join('\n'));
  await ctx.conn.run(`INSERT INTO ${name} SELECT * FROM read_json(${lit(path)}, format = 'newline_delimited', columns = {device_id: 'VARCHAR', device_key: 'VARCHAR'})`);
}

/** SQL: the id column `col` is one of set table `set`'s devices (false for NULL). */
export function idIn(col: string, set: string): string {
  return `coalesce(${col} IN (SELECT device_id FROM ${set}), false)`;
}

/** SQL: the pseudonym column `col` is one of set table `set`'s devices. */
export function keyIn(col: string, set: string): string {
  return `coalesce(${col} IN (SELECT device_key FROM ${set}), false)`;
}

/** SQL: a quarantine row (`device_id`, `raw`) of one of set table `set`'s devices, by `lineDevices`' rule. */
export function quarantineRowIn(set: string): string {
  // Nested: json_type fails on text that is not JSON, and only the valid rows reach it.
  const devices = `CASE WHEN json_valid(raw) THEN (CASE WHEN json_type(raw) = 'OBJECT' THEN [json_extract_string(raw, '$.device')] ELSE regexp_extract_all(raw, ${lit(DEVICE_FIELD)}, 1) END)
    ELSE regexp_extract_all(raw, ${lit(DEVICE_FIELD)}, 1) END`;
  return `(${idIn('device_id', set)} OR coalesce(list_has_any(${devices}, (SELECT list(device_id) FROM ${set})), false))`;
}
