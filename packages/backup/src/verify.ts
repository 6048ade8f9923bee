/**
 * `verifyBackup`: proves a backup restores. Every file is read back and checked (size, SHA-256
 * of the sealed bytes, GCM tag, SHA-256 of the plaintext, row counts), all of them, so a report
 * names every damaged file, not only the first. Then the database part is restored into a
 * scratch database (embedded, in memory, unless one is given) and every table dumped again and
 * compared, count and SHA-256, with the manifest. Lake objects are checked by decrypting and
 * hashing them (what a restore writes is exactly those bytes), not written anywhere.
 */
import { openDatabase, type Db } from '@strata/db';
import { silentLogger, StrataError, type Logger } from '@strata/core';
import { backupErrors } from './errors.js';
import { DamagedFile, readSealed, splitLines } from './files.js';
import { openManifest, type FileEntry } from './manifest.js';
import { eachLimited } from './objects.js';
import { readObject, resolveId, restoreDatabasePart } from './restore.js';
import type { BackupTarget } from './target.js';
import { manifestKey } from './layout.js';

export interface VerifyOptions {
  from: BackupTarget;
  id?: string;
  masterKey: Buffer;
  /** A migrated, empty database to restore into (closed afterwards). Default: embedded PGlite in memory. */
  scratchDb?: () => Promise<Db>;
  concurrency?: number;
  logger?: Logger;
}

export interface VerifyProblem {
  /** The file in the target (or `manifest.json`, or a table name for a content mismatch). */
  file: string;
  problem: string;
}

export interface VerifyReport {
  id: string;
  ok: boolean;
  problems: VerifyProblem[];
  files: { checked: number; bytes: number };
  database: { tables: number; rows: number; restored: boolean };
  lake: { objects: number; bytes: number };
  seconds: number;
}

export async function verifyBackup(opts: VerifyOptions): Promise<VerifyReport> {
  const logger = opts.logger ?? silentLogger;
  const started = performance.now();
  const id = await resolveId(opts.from, opts.id);
  const store = opts.from.store;
  const problems: VerifyProblem[] = [];
  const report = (restored: boolean, tables = 0, rows = 0, objects = 0, objectBytes = 0, checked = 0, bytes = 0): VerifyReport => ({
    id,
    ok: problems.length === 0 && restored,
    problems,
    files: { checked, bytes },
    database: { tables, rows, restored },
    lake: { objects, bytes: objectBytes },
    seconds: (performance.now() - started) / 1000,
  });
  let opened;
  try {
    opened = await openManifest(store, id, opts.masterKey, opts.from.location);
  } catch (err) {
    if (!backupErrors.STRATA_ERR_BACKUP_MANIFEST.is(err)) throw err; // not found, wrong master key: errors, not findings
    problems.push({ file: manifestKey(id), problem: String(err.details.reason) });
    return report(false);
  }
  const { manifest, keys } = opened;
  const concurrency = opts.concurrency ?? 8;
  let checked = 0;
  let bytes = 0;
  const record = (err: unknown): void => {
    if (err instanceof DamagedFile) problems.push({ file: err.file, problem: err.problem });
    else throw err;
  };

  // 1. Every file.
  const parts: { table: string; file: FileEntry }[] = manifest.database.tables.flatMap((t) => t.files.map((file) => ({ table: t.name, file })));
  await eachLimited(parts, concurrency, async ({ table, file }) => {
    try {
      const lines = splitLines(await readSealed(store, file, keys.dataKey, { gzip: true }));
      if (file.rows !== undefined && lines.length !== file.rows) throw new DamagedFile(file.path, `${lines.length} rows of ${table}, the manifest says ${file.rows}`);
      checked++;
      bytes += file.size;
    } catch (err) {
      record(err);
    }
  });
  const seenBlobs = new Set<string>();
  await eachLimited(manifest.lake.objects, concurrency, async (o) => {
    if (seenBlobs.has(o.blob)) return;
    seenBlobs.add(o.blob);
    try {
      await readObject(store, o, keys);
      checked++;
      bytes += o.blobSize;
    } catch (err) {
      record(err);
    }
  });
  const rows = manifest.database.tables.reduce((n, t) => n + t.rows, 0);
  const objectBytes = manifest.lake.objects.reduce((n, o) => n + o.size, 0);
  problems.sort((a, b) => (a.file < b.file ? -1 : 1));
  if (problems.length > 0) return report(false, manifest.database.tables.length, rows, manifest.lake.objects.length, objectBytes, checked, bytes);
  logger.info({ id, files: checked }, 'backup files check out; restoring into a scratch database');

  // 2. A restore of the database part into a scratch database.
  const db = await (opts.scratchDb ?? (() => openDatabase({})))();
  let restored = false;
  try {
    await restoreDatabasePart({ store, manifest, keys, db, keepStreamPositions: true, check: true });
    restored = true;
  } catch (err) {
    if (err instanceof StrataError && (backupErrors.STRATA_ERR_BACKUP_MISMATCH.is(err) || backupErrors.STRATA_ERR_BACKUP_SCHEMA.is(err) || backupErrors.STRATA_ERR_BACKUP_CORRUPT.is(err))) {
      problems.push({ file: 'database', problem: err.message });
    } else throw err;
  } finally {
    await db.close();
  }
  logger.info({ id, ok: problems.length === 0 && restored }, 'backup verified');
  return report(restored, manifest.database.tables.length, rows, manifest.lake.objects.length, objectBytes, checked, bytes);
}
