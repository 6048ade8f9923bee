/**
 * Local filesystem object store: one regular file per object, at `<root>/<key>` (key segments
 * become directories), so the lake stays readable by any tool pointed at the directory.
 *
 * Invariants
 * - A key's file only ever holds a complete body: `put` writes `<dir>/.tmp-<random>`, fsyncs
 *   it, renames it over `<dir>/<name>` (atomic on POSIX), then fsyncs the directory so the new
 *   name survives a power cut. Readers see the old body or the new one, never a mix.
 * - Directories a `put` creates are fsynced into their parents before the put resolves.
 * - Names starting with `.tmp-` are in-flight writes: never listed, never valid key segments.
 * - `delete` unlinks the file, fsyncs its directory, then removes directories left empty
 *   (best effort), so a key whose path was a directory can become an object again.
 *
 * Recovery
 * - A crash leaves at most `.tmp-*` files. `openLocalStore` removes those older than a minute
 *   (younger ones may belong to another process writing to the same root right now).
 *
 * Limitation (local engine only): a key cannot be both an object and a directory prefix of
 * another key (`a` and `a/b`); the second put fails with STRATA_ERR_STORAGE_KEY_CONFLICT.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { StrataError } from '@strata/core';
import { storageErrors } from '../../errors.js';
import { TEMP_PREFIX, validateKey, validatePrefix } from '../../key.js';
import type { ObjectInfo, ObjectStore, PutOptions } from '../../types.js';

export interface LocalStoreOptions {
  /** Directory holding the objects; created when missing. */
  root: string;
}

/** Temporary files older than this are left by a crash and removed on open. */
export const STALE_TEMP_MS = 60_000;
/** Retries of a put whose directory a concurrent delete just pruned. */
const PUT_ATTEMPTS = 5;

function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** The path of a validated key under `root`. Keys never escape it (see key.test.ts). */
export function keyPath(root: string, key: string): string {
  return join(root, ...key.split('/'));
}

/** Byte order of names, with directories compared as `name/` so the walk yields keys in key order. */
function entryOrder(a: Dirent, b: Dirent): number {
  const ka = Buffer.from(a.isDirectory() ? `${a.name}/` : a.name, 'utf8');
  const kb = Buffer.from(b.isDirectory() ? `${b.name}/` : b.name, 'utf8');
  return Buffer.compare(ka, kb);
}

async function readDirOrNothing(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (err) {
    const code = errCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw err;
  }
}

/** Removes `.tmp-*` files older than `maxAgeMs` anywhere under `dir`; returns how many. */
async function removeStaleTemps(dir: string, olderThan: number): Promise<number> {
  let removed = 0;
  for (const entry of await readDirOrNothing(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) removed += await removeStaleTemps(path, olderThan);
    else if (entry.name.startsWith(TEMP_PREFIX)) {
      const info = await stat(path).catch(() => undefined);
      if (info && info.mtimeMs < olderThan) {
        await rm(path, { force: true });
        removed++;
      }
    }
  }
  return removed;
}

class LocalStore implements ObjectStore {
  readonly engine = 'local';
  private closed = false;
  private readonly inflight = new Set<Promise<unknown>>();

  constructor(private readonly root: string) {}

  put(key: string, body: Uint8Array, _opts?: PutOptions): Promise<void> {
    return this.track(async () => {
      validateKey(key);
      const target = keyPath(this.root, key);
      const dir = dirname(target);
      for (let attempt = 1; ; attempt++) {
        try {
          await this.ensureDir(dir);
          await this.writeAndRename(dir, target, body);
          await fsyncDir(dir);
          return;
        } catch (err) {
          const code = errCode(err);
          if (attempt < PUT_ATTEMPTS && code === 'ENOENT') continue; // a delete pruned the directory
          if (attempt < PUT_ATTEMPTS && code === 'EISDIR' && (await rmdir(target).then(() => true, () => false))) continue;
          throw this.failure('put', key, err);
        }
      }
    });
  }

  localPath(key: string): string {
    validateKey(key);
    return keyPath(this.root, key);
  }

  get(key: string): Promise<Buffer | undefined> {
    return this.track(async () => {
      validateKey(key);
      try {
        return await readFile(keyPath(this.root, key));
      } catch (err) {
        if (['ENOENT', 'ENOTDIR', 'EISDIR'].includes(errCode(err) ?? '')) return undefined;
        throw this.failure('get', key, err);
      }
    });
  }

  head(key: string): Promise<ObjectInfo | undefined> {
    return this.track(async () => {
      validateKey(key);
      try {
        const info = await stat(keyPath(this.root, key));
        return info.isFile() ? { key, size: info.size, modified: info.mtime } : undefined;
      } catch (err) {
        if (['ENOENT', 'ENOTDIR'].includes(errCode(err) ?? '')) return undefined;
        throw this.failure('head', key, err);
      }
    });
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    this.ensureOpen();
    validatePrefix(prefix);
    const slash = prefix.lastIndexOf('/');
    const dirKey = prefix.slice(0, slash + 1);
    const dir = dirKey === '' ? this.root : keyPath(this.root, dirKey.slice(0, -1));
    try {
      yield* this.walk(dir, dirKey, prefix.slice(slash + 1));
    } catch (err) {
      throw this.failure('list', prefix, err);
    }
  }

  delete(key: string): Promise<void> {
    return this.track(async () => {
      validateKey(key);
      const target = keyPath(this.root, key);
      try {
        await unlink(target);
      } catch (err) {
        // No file there (or a directory: a prefix, not an object): nothing to delete.
        if (['ENOENT', 'ENOTDIR', 'EISDIR', 'EPERM'].includes(errCode(err) ?? '')) return;
        throw this.failure('delete', key, err);
      }
      try {
        await fsyncDir(dirname(target));
      } catch (err) {
        // A concurrent delete of the last sibling removed the (then empty) directory: gone is gone.
        if (errCode(err) === 'ENOENT') return;
        throw this.failure('delete', key, err);
      }
      await this.pruneEmptyDirs(dirname(target));
    });
  }

  async probe(): Promise<void> {
    const key = `_probe/${process.pid}-${randomBytes(6).toString('hex')}`;
    await this.put(key, Buffer.from('probe'));
    await this.delete(key);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.inflight]);
  }

  private ensureOpen(): void {
    if (this.closed) throw storageErrors.STRATA_ERR_STORAGE_CLOSED();
  }

  /** Runs an operation, refusing it after close and letting close wait for it. */
  private track<T>(op: () => Promise<T>): Promise<T> {
    let promise: Promise<T>;
    try {
      this.ensureOpen();
      promise = op();
    } catch (err) {
      return Promise.reject(err);
    }
    this.inflight.add(promise);
    const done = (): void => {
      this.inflight.delete(promise);
    };
    promise.then(done, done);
    return promise;
  }

  private failure(op: string, key: string, err: unknown): StrataError {
    if (err instanceof StrataError) return err;
    const code = errCode(err);
    if (op === 'put' && ['ENOTDIR', 'EEXIST', 'EISDIR', 'ENOTEMPTY'].includes(code ?? '')) {
      return storageErrors.STRATA_ERR_STORAGE_KEY_CONFLICT(
        { key, reason: 'in the local store a key cannot be both an object and the directory of other objects' },
        err,
      );
    }
    const reason = err instanceof Error ? err.message : String(err);
    return storageErrors.STRATA_ERR_STORAGE_IO({ op, key, reason }, err);
  }

  /** mkdir -p, then fsync the parent of every directory it created. */
  private async ensureDir(dir: string): Promise<void> {
    const first = await mkdir(dir, { recursive: true });
    if (first === undefined) return;
    const created = [first, ...relative(first, dir).split(sep).filter(Boolean).map((_, i, parts) => join(first, ...parts.slice(0, i + 1)))];
    for (const d of created) await fsyncDir(dirname(d));
  }

  private async writeAndRename(dir: string, target: string, body: Uint8Array): Promise<void> {
    const tmp = join(dir, `${TEMP_PREFIX}${process.pid}-${randomBytes(8).toString('hex')}`);
    try {
      const fh = await open(tmp, 'wx', 0o644);
      try {
        await fh.writeFile(body);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, target);
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw err;
    }
  }

  private async pruneEmptyDirs(from: string): Promise<void> {
    for (let dir = from; dir !== this.root && dir.startsWith(this.root + sep); dir = dirname(dir)) {
      try {
        await rmdir(dir);
      } catch {
        return; // not empty (or already gone, or a put is filling it): stop here
      }
    }
  }

  private async *walk(dir: string, keyPrefix: string, namePrefix: string): AsyncGenerator<ObjectInfo> {
    const entries = (await readDirOrNothing(dir))
      .filter((e) => !e.name.startsWith(TEMP_PREFIX) && e.name.startsWith(namePrefix))
      .sort(entryOrder);
    for (const entry of entries) {
      const path = join(dir, entry.name);
      const key = keyPrefix + entry.name;
      if (entry.isDirectory()) {
        yield* this.walk(path, `${key}/`, '');
      } else if (entry.isFile()) {
        const info = await stat(path).catch((err: unknown) => {
          if (errCode(err) === 'ENOENT') return undefined; // deleted while we walked
          throw err;
        });
        if (info?.isFile()) yield { key, size: info.size, modified: info.mtime };
      }
    }
  }
}

/** Opens (creating when missing) a local object store under `opts.root`, removing stale temp files. */
export async function openLocalStore(opts: LocalStoreOptions): Promise<ObjectStore> {
  if (typeof opts?.root !== 'string' || opts.root === '') {
    throw storageErrors.STRATA_ERR_STORAGE_BAD_OPTIONS({ reason: '`root` must be a non-empty path' });
  }
  const root = resolve(opts.root);
  try {
    await mkdir(root, { recursive: true });
    const info = await stat(root);
    if (!info.isDirectory()) throw new Error(`${root} is not a directory`);
    await removeStaleTemps(root, Date.now() - STALE_TEMP_MS);
  } catch (err) {
    throw storageErrors.STRATA_ERR_STORAGE_IO({ op: 'open', key: root, reason: err instanceof Error ? err.message : String(err) }, err);
  }
  return new LocalStore(root);
}
