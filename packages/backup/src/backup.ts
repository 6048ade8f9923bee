/**
 * `createBackup`: a consistent copy of the operational store, the stream's committed positions
 * and the lake, encrypted, into a target (directory or S3 prefix).
 *
 * Order, and what each step guarantees
 * 1. Stream positions (every consumer group's committed offset per topic and partition, and the
 *    partitions' end offsets) are read first: everything before them was durable when the
 *    database snapshot began.
 * 2. The database is read in ONE `repeatable read, read only` transaction: every table of the
 *    public schema as of one instant (foreign keys hold between them), streamed through cursors
 *    in primary-key order, 50,000 rows a part: gzip, then sealed with the backup's data key.
 * 3. The lake: every object, by SHA-256 (content addressed, shared between backups, sealed with
 *    the target's objects key). Objects whose key, size and modification time match the previous
 *    backup's entry are not read again. Each object is copied whole (puts are atomic), but a lake
 *    job running meanwhile can replace files: the layer manifests (`_state/lake/`) are listed
 *    again at the end and the pass repeated (at most 3 times) until they did not change.
 * 4. The manifest is written last: a backup without one is incomplete and never listed.
 */
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { envelope, silentLogger, StrataError, type Logger } from '@strata/core';
import type { Db } from '@strata/db';
import type { ObjectInfo, ObjectStore } from '@strata/storage';
import type { Stream } from '@strata/stream';
import { dataKeyAad, sha256 } from './crypto.js';
import { appliedMigrations, listSequences, listTables, readSequence, setOutputSettings, type Sql } from './database/catalog.js';
import { orderBy, tableLines } from './database/dump.js';
import { backupErrors } from './errors.js';
import { blobKey, manifestKey, newBackupId, objectsPrefix, tablePartKey } from './layout.js';
import { MANIFEST_FORMAT, sealManifest, type FileEntry, type LakeObjectEntry, type ManifestBody, type StreamPositions, type TableEntry } from './manifest.js';
import { eachLimited, objectsKey } from './objects.js';
import { latestManifest } from './list.js';
import type { BackupTarget } from './target.js';

const gzipAsync = promisify(gzip);

export const BACKUP_DEFAULTS = Object.freeze({
  /** Rows per sealed table part. */
  partRows: 50_000,
  /** Lake objects copied at once. */
  objectConcurrency: 8,
  /** Lake passes at most, when lake jobs change the layer manifests during the backup. */
  lakePasses: 3,
  gzipLevel: 6,
});

export interface BackupOptions {
  db: Db;
  /** The lake's object store. */
  lake: ObjectStore;
  /** The stream and the topics whose consumer groups' positions are recorded. */
  stream?: { stream: Stream; topics: readonly string[] };
  masterKey: Buffer;
  target: BackupTarget;
  logger?: Logger;
  /** Rows per table part (default 50,000). */
  partRows?: number;
  objectConcurrency?: number;
}

export interface BackupReport {
  id: string;
  location: string;
  startedAt: string;
  finishedAt: string;
  seconds: number;
  database: { tables: number; rows: number; files: number; bytes: number; seconds: number };
  lake: { objects: number; bytes: number; copied: number; copiedBytes: number; reused: number; vanished: number; passes: number; seconds: number };
  stream: { topics: number; groups: number } | null;
  /** Bytes this backup added to the target (table parts, new blobs, manifest). */
  bytesWritten: number;
}

const since = (started: number): number => Math.round((performance.now() - started) / 10) / 100;

async function streamPositions(stream: Stream, topics: readonly string[]): Promise<StreamPositions> {
  const takenAt = new Date().toISOString();
  const out: StreamPositions['topics'] = [];
  for (const topic of topics) {
    // A topic this deployment never made (a role that never ran) has no positions.
    const info = await stream.describe(topic).catch(() => undefined);
    if (!info) continue;
    const lag = await stream.lag(topic);
    out.push({
      topic,
      partitions: info.partitions.map((p) => ({ partition: p.partition, startOffset: p.startOffset, endOffset: p.endOffset })),
      groups: lag.map((g) => ({ group: g.group, partitions: g.partitions.map((p) => ({ partition: p.partition, committed: p.committed })) })),
    });
  }
  return { takenAt, topics: out };
}

export async function createBackup(opts: BackupOptions): Promise<BackupReport> {
  const logger = opts.logger ?? silentLogger;
  const started = performance.now();
  const startedAt = new Date();
  const id = newBackupId(startedAt);
  const store = opts.target.store;
  const partRows = opts.partRows ?? BACKUP_DEFAULTS.partRows;
  let bytesWritten = 0;
  try {
    const dataKey = envelope.newKey();
    const objects = await objectsKey(store, opts.masterKey);
    const stream = opts.stream ? await streamPositions(opts.stream.stream, opts.stream.topics) : null;

    // 2. The database, one snapshot.
    const dbStarted = performance.now();
    let files = 0;
    let dbBytes = 0;
    const database = await opts.db.kysely.transaction().execute(async (trx) => {
      const tx = trx as unknown as Sql;
      await sql.raw('set transaction isolation level repeatable read, read only').execute(tx);
      await setOutputSettings(tx);
      const migrations = await appliedMigrations(tx);
      const tables: TableEntry[] = [];
      for (const table of await listTables(tx)) {
        const hash = createHash('sha256');
        const entry: TableEntry = { name: table.name, columns: table.columns.map((c) => ({ name: c.name, type: c.type })), orderBy: orderBy(table), ...(table.partition && { partition: table.partition }), rows: 0, sha256: '', files: [] };
        let part: string[] = [];
        const uploads = new Set<Promise<void>>();
        const flush = async (lines: string[]): Promise<void> => {
          const path = tablePartKey(id, table.name, entry.files.length);
          const plain = Buffer.from(lines.join(''));
          const file: FileEntry = { path, size: 0, sha256: '', plainSha256: sha256(plain), rows: lines.length };
          entry.files.push(file);
          files++;
          while (uploads.size >= 2) await Promise.race(uploads);
          const upload = (async () => {
            const sealed = envelope.seal(dataKey, await gzipAsync(plain, { level: BACKUP_DEFAULTS.gzipLevel }), path);
            file.size = sealed.length;
            file.sha256 = sha256(sealed);
            await store.put(path, sealed);
            bytesWritten += sealed.length;
            dbBytes += sealed.length;
          })();
          uploads.add(upload);
          void upload.finally(() => uploads.delete(upload)).catch(() => undefined);
        };
        for await (const lines of tableLines(tx, table)) {
          for (const line of lines) {
            hash.update(line);
            part.push(line);
            if (part.length >= partRows) {
              await flush(part);
              part = [];
            }
          }
          entry.rows += lines.length;
        }
        if (part.length > 0 || entry.files.length === 0) await flush(part);
        await Promise.all(uploads);
        entry.sha256 = hash.digest('hex');
        tables.push(entry);
      }
      const sequences = [];
      for (const name of await listSequences(tx)) sequences.push({ name, ...(await readSequence(tx, name)) });
      return { engine: opts.db.engine, migrations, tables, sequences };
    });
    const dbSeconds = since(dbStarted);
    logger.info({ id, tables: database.tables.length, rows: database.tables.reduce((n, t) => n + t.rows, 0), seconds: dbSeconds }, 'database copied');

    // 3. The lake.
    const lakeStarted = performance.now();
    const previous = await latestManifest(store, opts.masterKey);
    const known = new Map<string, LakeObjectEntry>();
    if (previous?.keys.objects.id === objects.id) for (const o of previous.lake.objects) known.set(o.key, o);
    const blobs = new Map<string, { size: number }>();
    for await (const b of store.list(objectsPrefix(objects.id))) blobs.set(b.key, { size: b.size });
    /** Sealed size and SHA-256 of the blobs known to be in the target. */
    const blobInfo = new Map<string, Promise<{ size: number; sha256: string }>>();
    for (const o of known.values()) if (blobs.get(o.blob)?.size === o.blobSize) blobInfo.set(o.blob, Promise.resolve({ size: o.blobSize, sha256: o.blobSha256 }));
    const entries = new Map<string, LakeObjectEntry>();
    const vanished = new Set<string>();
    let copied = 0;
    let copiedBytes = 0;
    let passes = 0;
    const copyObject = async (info: ObjectInfo): Promise<void> => {
      const modified = info.modified.toISOString();
      const done = entries.get(info.key);
      if (done && done.size === info.size && done.modified === modified) return;
      const before = known.get(info.key);
      if (before && before.size === info.size && before.modified === modified && blobs.get(before.blob)?.size === before.blobSize) {
        entries.set(info.key, before);
        return;
      }
      const body = await opts.lake.get(info.key);
      if (!body) {
        vanished.add(info.key);
        return;
      }
      const sha = sha256(body);
      const blob = blobKey(objects.id, sha);
      // One writer per blob: two lake objects with the same bytes share it (and its checksum).
      let pending = blobInfo.get(blob);
      if (!pending) {
        pending = (async () => {
          if (blobs.has(blob)) {
            // In the target from an earlier backup this one has no entry of: never rewritten
            // (other manifests hold its checksum), only measured.
            const there = await store.get(blob);
            if (there) return { size: there.length, sha256: sha256(there) };
          }
          const sealed = envelope.seal(objects.key, body, blob);
          await store.put(blob, sealed);
          blobs.set(blob, { size: sealed.length });
          copied++;
          copiedBytes += body.length;
          bytesWritten += sealed.length;
          return { size: sealed.length, sha256: sha256(sealed) };
        })();
        blobInfo.set(blob, pending);
        pending.catch(() => blobInfo.delete(blob));
      }
      const sealedInfo = await pending;
      const blobSize = sealedInfo.size;
      const blobSha = sealedInfo.sha256;
      vanished.delete(info.key);
      entries.set(info.key, { key: info.key, size: body.length, modified, sha256: sha, blob, blobSize, blobSha256: blobSha });
    };
    const layerState = async (): Promise<string> => {
      const parts: string[] = [];
      for await (const o of opts.lake.list('_state/lake/')) parts.push(`${o.key}:${o.size}:${o.modified.getTime()}`);
      return parts.join('\n');
    };
    for (;;) {
      passes++;
      const stateBefore = await layerState();
      const listed: ObjectInfo[] = [];
      for await (const o of opts.lake.list('')) listed.push(o);
      // A pass after the first drops what no longer exists.
      const present = new Set(listed.map((o) => o.key));
      for (const key of [...entries.keys()]) if (!present.has(key)) entries.delete(key);
      await eachLimited(listed, opts.objectConcurrency ?? BACKUP_DEFAULTS.objectConcurrency, copyObject);
      if ((await layerState()) === stateBefore || passes >= BACKUP_DEFAULTS.lakePasses) {
        if (passes >= BACKUP_DEFAULTS.lakePasses && (await layerState()) !== stateBefore) logger.warn({ id, passes }, 'lake jobs kept changing the lake during the backup: derived layers may be mid-run (rebuild with strata lake run --since)');
        break;
      }
    }
    const lakeObjects = [...entries.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const lakeSeconds = since(lakeStarted);
    if (vanished.size > 0) logger.warn({ id, vanished: vanished.size }, 'lake objects deleted during the backup were left out');

    // 4. The manifest: the commit point.
    const body: ManifestBody = {
      format: MANIFEST_FORMAT,
      id,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      keys: { master: envelope.keyId(opts.masterKey), data: envelope.seal(opts.masterKey, dataKey, dataKeyAad(id)).toString('base64'), objects: { id: objects.id, sealed: objects.sealed.toString('base64') } },
      database,
      stream,
      lake: { objects: lakeObjects, copied, vanished: [...vanished].sort() },
    };
    const manifest = sealManifest(body, dataKey);
    await store.put(manifestKey(id), manifest, { contentType: 'application/json' });
    bytesWritten += manifest.length;
    const report: BackupReport = {
      id,
      location: opts.target.location,
      startedAt: body.startedAt,
      finishedAt: body.finishedAt,
      seconds: since(started),
      database: { tables: database.tables.length, rows: database.tables.reduce((n, t) => n + t.rows, 0), files, bytes: dbBytes, seconds: dbSeconds },
      lake: { objects: lakeObjects.length, bytes: lakeObjects.reduce((n, o) => n + o.size, 0), copied, copiedBytes, reused: lakeObjects.length - copied, vanished: vanished.size, passes, seconds: lakeSeconds },
      stream: stream && { topics: stream.topics.length, groups: stream.topics.reduce((n, t) => n + t.groups.length, 0) },
      bytesWritten,
    };
    logger.info({ ...report, database: undefined, lake: undefined, rows: report.database.rows, objects: report.lake.objects, copied }, 'backup done');
    return report;
  } catch (err) {
    if (err instanceof StrataError) throw err;
    throw backupErrors.STRATA_ERR_BACKUP_FAILED({ reason: err instanceof Error ? err.message : String(err) }, err);
  }
}
