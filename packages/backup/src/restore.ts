/**
 * `restoreBackup`: a backup into an empty deployment: the lake objects first (each checked
 * before it is written), then the database in one transaction, checked table by table against
 * the manifest before it commits. A damaged file stops the restore with the file named; the
 * database is then untouched, and the lake holds only objects identical to the backup's, so the
 * same restore can be run again (objects already in place are checked, not refused).
 */
import { silentLogger, StrataError, type Logger } from '@strata/core';
import type { Db } from '@strata/db';
import type { ObjectStore } from '@strata/storage';
import { sha256 } from './crypto.js';
import { checkRestorable, loadDatabase } from './database/load.js';
import type { Sql } from './database/catalog.js';
import { backupErrors } from './errors.js';
import { DamagedFile, readSealed, splitLines } from './files.js';
import { latestBackupId } from './list.js';
import { openManifest, type LakeObjectEntry, type Manifest, type OpenedKeys, type StreamPositions } from './manifest.js';
import { eachLimited } from './objects.js';
import type { BackupTarget } from './target.js';

/** Lake keys that are positions in the old stream (delivery's flush plans). */
export const DELIVERY_STATE_PREFIX = '_state/delivery/';

export interface RestoreOptions {
  /** Where the backup is. */
  from: BackupTarget;
  /** Which backup (default the newest). */
  id?: string;
  masterKey: Buffer;
  /** Freshly migrated, no rows. */
  db: Db;
  /**
   * No objects (or only the backup's own, from an interrupted restore). Omitted: the database
   * alone is restored (the lake is on S3 and survived).
   */
  lake?: ObjectStore;
  /**
   * Keep the recorded stream positions (consumer_offsets, rule_snapshots, delivery plans): only
   * when the deployment keeps its stream (a database lost, the stream not). Default false: a
   * restored deployment starts with a new, empty stream.
   */
  keepStreamPositions?: boolean;
  /** Dump every restored table again and compare with the manifest before committing. Default true. */
  check?: boolean;
  objectConcurrency?: number;
  logger?: Logger;
}

export interface RestoreReport {
  id: string;
  seconds: number;
  database: { tables: number; rows: number; seconds: number; checked: boolean };
  lake: { objects: number; bytes: number; written: number; seconds: number };
  streamPositions: 'kept' | 'cleared';
  /** The old stream's positions as the backup recorded them (for the operator: what the old stream held). */
  stream: StreamPositions | null;
}

/** The backup's id: given, or the newest in the target. */
export async function resolveId(from: BackupTarget, id: string | undefined): Promise<string> {
  if (id !== undefined) return id;
  const latest = await latestBackupId(from.store);
  if (latest === undefined) throw backupErrors.STRATA_ERR_BACKUP_NONE({ target: from.location });
  return latest;
}

export function damaged(id: string, problems: { file: string; problem: string }[]): StrataError {
  return backupErrors.STRATA_ERR_BACKUP_CORRUPT({ id, files: problems.map((p) => `${p.file} (${p.problem})`).join('; '), problems });
}

/** Reads one lake object out of the backup, checked. */
export async function readObject(store: ObjectStore, o: LakeObjectEntry, keys: OpenedKeys): Promise<Buffer> {
  const body = await readSealed(store, { path: o.blob, size: o.blobSize, sha256: o.blobSha256, plainSha256: o.sha256 }, keys.objectsKey, { gzip: false });
  if (body.length !== o.size) throw new DamagedFile(o.blob, `${body.length} bytes, the lake object ${o.key} had ${o.size}`);
  return body;
}

/** Runs `body`, turning a damaged file into STRATA_ERR_BACKUP_CORRUPT naming it. */
async function naming<T>(id: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof DamagedFile) throw damaged(id, [{ file: err.file, problem: err.problem }]);
    throw err;
  }
}

export async function restoreBackup(opts: RestoreOptions): Promise<RestoreReport> {
  const logger = opts.logger ?? silentLogger;
  const started = performance.now();
  const id = await resolveId(opts.from, opts.id);
  const { manifest, keys } = await openManifest(opts.from.store, id, opts.masterKey, opts.from.location);
  const keep = opts.keepStreamPositions ?? false;
  await checkRestorable(opts.db.kysely as unknown as Sql, manifest);
  const lake = opts.lake;
  const objects = lake ? manifest.lake.objects.filter((o) => keep || !o.key.startsWith(DELIVERY_STATE_PREFIX)) : [];
  if (lake) await checkLakeEmpty(lake, objects);

  const lakeStarted = performance.now();
  let written = 0;
  await naming(id, () =>
    eachLimited(objects, opts.objectConcurrency ?? 8, async (o) => {
      const there = await lake!.get(o.key);
      if (there && sha256(there) === o.sha256) return; // an earlier, interrupted restore put it
      await lake!.put(o.key, await readObject(opts.from.store, o, keys));
      written++;
    }),
  );
  const lakeSeconds = (performance.now() - lakeStarted) / 1000;
  logger.info({ id, objects: objects.length, written, seconds: lakeSeconds }, 'lake restored');

  const dbStarted = performance.now();
  const check = opts.check ?? true;
  const loaded = await restoreDatabasePart({ store: opts.from.store, manifest, keys, db: opts.db, keepStreamPositions: keep, check });
  const dbSeconds = (performance.now() - dbStarted) / 1000;
  logger.info({ id, tables: loaded.tables.length, rows: loaded.rows, seconds: dbSeconds }, 'database restored');
  return {
    id,
    seconds: (performance.now() - started) / 1000,
    database: { tables: loaded.tables.length, rows: loaded.rows, seconds: dbSeconds, checked: check },
    lake: { objects: objects.length, bytes: objects.reduce((n, o) => n + o.size, 0), written, seconds: lakeSeconds },
    streamPositions: keep ? 'kept' : 'cleared',
    stream: manifest.stream,
  };
}

/** The database part of a restore (one transaction; damaged files named). */
export function restoreDatabasePart(o: { store: ObjectStore; manifest: Manifest; keys: OpenedKeys; db: Db; keepStreamPositions: boolean; check: boolean }) {
  return naming(o.manifest.id, () =>
    loadDatabase({
      db: o.db.kysely as unknown as Sql,
      manifest: o.manifest,
      readPart: async (file) => splitLines(await readSealed(o.store, file, o.keys.dataKey, { gzip: true })),
      keepStreamPositions: o.keepStreamPositions,
      check: o.check,
    }),
  );
}

/** Refuses a lake holding anything the backup does not (same key and size): another deployment's data. */
async function checkLakeEmpty(lake: ObjectStore, objects: LakeObjectEntry[]): Promise<void> {
  const expected = new Map(objects.map((o) => [o.key, o.size]));
  const foreign: string[] = [];
  for await (const o of lake.list('')) {
    if (expected.get(o.key) !== o.size) foreign.push(o.key);
    if (foreign.length >= 5) break;
  }
  if (foreign.length > 0) throw backupErrors.STRATA_ERR_BACKUP_NOT_EMPTY({ what: 'lake', reason: `it holds ${foreign.join(', ')}${foreign.length >= 5 ? ', …' : ''}; restore into a new data directory or an empty bucket prefix` });
}

export type { Manifest };
