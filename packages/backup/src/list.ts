/** Listing and pruning the backups of a target. */
import type { ObjectStore } from '@strata/storage';
import { BACKUPS_PREFIX, ID_PATTERN, MANIFEST_NAME } from './layout.js';
import { openManifest, peekManifest, type Manifest } from './manifest.js';

export interface BackupSummary {
  id: string;
  startedAt: string;
  finishedAt: string;
  /** `envelope.keyId` of the master key it opens with. */
  masterKeyId: string;
  tables: number;
  rows: number;
  objects: number;
  /** Bytes of its table parts and of the lake objects it refers to (blobs are shared: do not add these up). */
  bytes: number;
}

/** The whole listing first, then deletes: no deleting under a running listing. */
async function listAll(store: ObjectStore, prefix: string): Promise<{ key: string; size: number }[]> {
  const out: { key: string; size: number }[] = [];
  for await (const o of store.list(prefix)) out.push({ key: o.key, size: o.size });
  return out;
}

/** Ids of the complete backups (those with a manifest), oldest first. */
async function completeIds(store: ObjectStore): Promise<{ complete: string[]; all: string[] }> {
  const complete: string[] = [];
  const all = new Set<string>();
  for await (const o of store.list(BACKUPS_PREFIX)) {
    const [id, ...rest] = o.key.slice(BACKUPS_PREFIX.length).split('/');
    if (!id || !ID_PATTERN.test(id)) continue;
    all.add(id);
    if (rest.join('/') === MANIFEST_NAME) complete.push(id);
  }
  return { complete: complete.sort(), all: [...all].sort() };
}

/** Complete backups, oldest first. Reads the manifests without keys: nothing here is secret. */
export async function listBackups(store: ObjectStore): Promise<BackupSummary[]> {
  const out: BackupSummary[] = [];
  for (const id of (await completeIds(store)).complete) {
    const m = await peekManifest(store, id);
    if (!m?.database || !m.lake) continue;
    out.push({
      id,
      startedAt: m.startedAt,
      finishedAt: m.finishedAt,
      masterKeyId: m.keys?.master,
      tables: m.database.tables.length,
      rows: m.database.tables.reduce((n, t) => n + t.rows, 0),
      objects: m.lake.objects.length,
      bytes: m.database.tables.reduce((n, t) => n + t.files.reduce((b, f) => b + f.size, 0), 0) + m.lake.objects.reduce((n, o) => n + o.blobSize, 0),
    });
  }
  return out;
}

/** The newest backup that opens with `masterKey` (authenticated), for the next backup's quick check. */
export async function latestManifest(store: ObjectStore, masterKey: Buffer): Promise<Manifest | undefined> {
  const { complete } = await completeIds(store);
  for (const id of complete.reverse()) {
    try {
      return (await openManifest(store, id, masterKey, '')).manifest;
    } catch {
      // another master key, or damaged: the next older one
    }
  }
  return undefined;
}

/** The id of the newest complete backup, or undefined. */
export async function latestBackupId(store: ObjectStore): Promise<string | undefined> {
  return (await completeIds(store)).complete.at(-1);
}

export interface PruneReport {
  kept: string[];
  deleted: string[];
  /** Incomplete backups (no manifest, older than the newest complete one: a crash) removed. */
  incomplete: string[];
  blobsDeleted: number;
  bytesFreed: number;
}

/**
 * Keeps the newest `retain` backups and deletes the others: manifests first (so a half-done
 * prune never leaves a listed backup with missing files), then their table parts, then the lake
 * blobs no remaining manifest refers to. Must not run while a backup to the same target is in
 * progress (that backup may refer to a blob no manifest lists yet): the scheduler runs prune
 * after its backup, one at a time.
 */
export async function pruneBackups(store: ObjectStore, retain: number): Promise<PruneReport> {
  if (!Number.isSafeInteger(retain) || retain < 1) throw new RangeError('retain must be an integer >= 1');
  const { complete, all } = await completeIds(store);
  const kept = complete.slice(-retain);
  const deleted = complete.slice(0, Math.max(0, complete.length - retain));
  const newest = complete.at(-1);
  const incomplete = all.filter((id) => !complete.includes(id) && newest !== undefined && id < newest);
  let bytesFreed = 0;
  for (const id of deleted) await store.delete(`${BACKUPS_PREFIX}${id}/${MANIFEST_NAME}`);
  for (const id of [...deleted, ...incomplete]) {
    for (const o of await listAll(store, `${BACKUPS_PREFIX}${id}/`)) {
      await store.delete(o.key);
      bytesFreed += o.size;
    }
  }
  // Reference counting by listing: a blob stays while any remaining manifest names it.
  const referenced = new Set<string>();
  let unreadable = false;
  for (const id of kept) {
    const m = await peekManifest(store, id);
    if (!m?.lake) unreadable = true;
    else for (const o of m.lake.objects) referenced.add(o.blob);
  }
  let blobsDeleted = 0;
  if (!unreadable) {
    for (const o of await listAll(store, 'objects/')) {
      if (referenced.has(o.key)) continue;
      await store.delete(o.key);
      blobsDeleted++;
      bytesFreed += o.size;
    }
  }
  return { kept, deleted, incomplete, blobsDeleted, bytesFreed };
}
