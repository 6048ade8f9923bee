/**
 * Layer manifests: the commit point of every lake job. A layer's tables are exactly the files its
 * manifest (`_state/lake/<layer>.json`) lists; a job writes new files under fresh names, then
 * puts the manifest (an atomic put), then deletes files no manifest lists any more. A crash
 * before the put leaves only unlisted files, which the next run deletes and rebuilds the same
 * way: readers never see them, and the tables after the rerun are the ones a clean run gives.
 */
import type { ObjectStore } from '@strata/storage';
import { lakeErrors } from '../errors.js';
import type { LakeLayer } from './types.js';

export interface PartitionFiles {
  /** Changes whenever the partition's files change (the id of the run that wrote them). */
  version: string;
  files: string[];
  rows: number;
  bytes: number;
}

export interface LayerManifest {
  format: 1;
  layer: LakeLayer;
  updatedAt: string;
  /** table name → day (YYYY-MM-DD) → files. */
  tables: Record<string, Record<string, PartitionFiles>>;
  /** Bronze: raw objects already read, key → size (a rewritten object of another size is read again). */
  rawDone: Record<string, number>;
  /** Silver and gold: day → version of the upstream partition it was built from. */
  builtFrom: Record<string, string>;
}

export function manifestKey(layer: LakeLayer): string {
  return `_state/lake/${layer}.json`;
}

export function emptyManifest(layer: LakeLayer): LayerManifest {
  return { format: 1, layer, updatedAt: new Date(0).toISOString(), tables: {}, rawDone: {}, builtFrom: {} };
}

export async function loadManifest(store: ObjectStore, layer: LakeLayer): Promise<LayerManifest> {
  const key = manifestKey(layer);
  const body = await store.get(key);
  if (body === undefined) return emptyManifest(layer);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw lakeErrors.STRATA_ERR_LAKE_STATE_CORRUPT({ key, reason: err instanceof Error ? err.message : String(err) });
  }
  const m = parsed as Partial<LayerManifest> | null;
  if (!m || m.format !== 1 || m.layer !== layer || typeof m.tables !== 'object' || typeof m.rawDone !== 'object' || typeof m.builtFrom !== 'object') {
    throw lakeErrors.STRATA_ERR_LAKE_STATE_CORRUPT({ key, reason: 'not a lake manifest of this format' });
  }
  return m as LayerManifest;
}

export async function saveManifest(store: ObjectStore, m: LayerManifest, now: number): Promise<void> {
  m.updatedAt = new Date(now).toISOString();
  await store.put(manifestKey(m.layer), Buffer.from(JSON.stringify(m)), { contentType: 'application/json' });
}

/** Every file the manifest lists. */
export function listedFiles(m: LayerManifest): Set<string> {
  const keys = new Set<string>();
  for (const parts of Object.values(m.tables)) for (const p of Object.values(parts)) for (const f of p.files) keys.add(f);
  return keys;
}

/**
 * Deletes the objects under `prefixes` that the manifest does not list: what a crashed run
 * wrote before its commit, and what a committed run replaced. Returns how many.
 */
export async function removeUnlisted(store: ObjectStore, m: LayerManifest, prefixes: readonly string[]): Promise<number> {
  const keep = listedFiles(m);
  let removed = 0;
  for (const prefix of prefixes) {
    const doomed: string[] = [];
    for await (const o of store.list(`${prefix}/`)) if (!keep.has(o.key)) doomed.push(o.key);
    for (const key of doomed) await store.delete(key);
    removed += doomed.length;
  }
  return removed;
}
