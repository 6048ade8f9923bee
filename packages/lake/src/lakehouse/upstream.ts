/** What silver and gold share: which day partitions of the layer below changed since they were built. */
import { writeFile } from 'node:fs/promises';
import type { JobContext } from './lakehouse.js';
import { lit, litList, rows } from './duck.js';
import { devicePseudonym } from './pseudonym.js';
import type { LayerManifest, PartitionFiles } from './manifest.js';

/**
 * Days of `upstream` to (re)build: those whose version differs from the one `m` was built from,
 * and, with `since`, every day from that one on. `builtKey` names a day in `m.builtFrom` (a
 * layer built from two upstream tables keys the second one's days apart, e.g. `predictions/<day>`).
 */
export function staleDays(upstream: Record<string, PartitionFiles>, m: LayerManifest, since: number | undefined, builtKey: (day: string) => string = (d) => d): string[] {
  const sinceDay = since === undefined ? undefined : new Date(since).toISOString().slice(0, 10);
  return Object.keys(upstream)
    .filter((d) => m.builtFrom[builtKey(d)] !== upstream[d]!.version || (sinceDay !== undefined && d >= sinceDay))
    .sort();
}

/**
 * Loads device metadata into temp table `devmeta(device_id, device_key, kind, site, model,
 * interval_s)`, and pseudonyms for the device ids in `bronzeFiles` that the store does not know into the
 * same table (with null metadata), so every bronze device has a key.
 */
export async function loadDeviceTable(ctx: JobContext, bronzeFiles: string[]): Promise<void> {
  const { conn } = ctx;
  const devices = await ctx.devices();
  const path = ctx.scratchFile('devices.ndjson');
  await writeFile(path, devices.map((d) => JSON.stringify({ device_id: d.id, device_key: devicePseudonym(ctx.pseudonymKey, d.id), kind: d.kind, site: d.site, model: d.model, interval_s: d.sampleIntervalSeconds })).join('\n'));
  await conn.run(`CREATE OR REPLACE TEMP TABLE devmeta (device_id VARCHAR PRIMARY KEY, device_key VARCHAR, kind VARCHAR, site VARCHAR, model VARCHAR, interval_s DOUBLE)`);
  if (devices.length > 0) {
    await conn.run(`INSERT INTO devmeta SELECT * FROM read_json(${lit(path)}, format = 'newline_delimited', columns = {device_id: 'VARCHAR', device_key: 'VARCHAR', kind: 'VARCHAR', site: 'VARCHAR', model: 'VARCHAR', interval_s: 'DOUBLE'})`);
  }
  if (bronzeFiles.length === 0) return;
  const unknown = await rows<{ device_id: string }>(conn, `SELECT DISTINCT device_id FROM read_parquet(${litList(bronzeFiles)}) WHERE device_id NOT IN (SELECT device_id FROM devmeta)`);
  if (unknown.length === 0) return;
  const upath = ctx.scratchFile('unknown-devices.ndjson');
  await writeFile(upath, unknown.map((u) => JSON.stringify({ device_id: u.device_id, device_key: devicePseudonym(ctx.pseudonymKey, u.device_id) })).join('\n'));
  await conn.run(`INSERT INTO devmeta SELECT device_id, device_key, NULL, NULL, NULL, NULL FROM read_json(${lit(upath)}, format = 'newline_delimited', columns = {device_id: 'VARCHAR', device_key: 'VARCHAR'})`);
}
