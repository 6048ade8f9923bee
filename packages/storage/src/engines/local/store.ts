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
 * - `putIf` compares and writes under a per-key lock: a promise chain inside the process and a
 *   lock file `<dir>/.tmp-lock-<md5 of name>` (created exclusively, holding the pid) across
 *   processes sharing the root. A lock whose pid is gone (a crash) is taken over. Processes of
 *   one machine only: the lock means nothing on a network filesystem shared between hosts.
 *
 * Recovery
 * - A crash leaves at most `.tmp-*` files. `openLocalStore` removes those older than a minute
 *   (younger ones may belong to another process writing to the same root right now).
 *
 * Limitation (local engine only): a key cannot be both an object and a directory prefix of
 * another key (`a` and `a/b`); the second put fails with STRATA_ERR_STORAGE_KEY_CONFLICT.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { StrataError } from '@strata/core';
import { storageErrors } from '../../errors.js';
import { Inflight } from '../../inflight.js';
import { TEMP_PREFIX, validateKey, validatePrefix } from '../../key.js';
import type { ObjectInfo, ObjectStore, PutOptions, VersionedObject } from '../../types.js';

export interface LocalStoreOptions {
  /** Directory holding the objects; created when missing. */
  root: string;
}

/** Temporary files older than this are left by a crash and removed on open. */
export const STALE_TEMP_MS = 60_000;
/** Retries of a put whose directory a concurrent delete just pruned. */
const PUT_ATTEMPTS = 5;
/** How long `putIf` waits for another process's lock on the same key before giving up. */
const LOCK_WAIT_MS = 10_000;

/** The version `getVersioned` and `putIf` report: MD5 of the bytes, like a single-part S3 ETag. */
const versionOf = (body: Uint8Array): string => createHash('md5').update(body).digest('hex');

/** What a lock file holds: the pid and this process's own token (a restarted process may get the same pid). */
const LOCK_OWNER = `${process.pid} ${randomBytes(8).toString('hex')}`;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errCode(err) === 'EPERM'; // exists, owned by another user
  }
}

/** True for a lock whose holder is gone. An empty file is a lock being written right now. */
function lockLeftByCrash(holder: string): boolean {
  const [pid, token] = holder.split(' ');
  const n = Number(pid);
  if (!Number.isSafeInteger(n) || n <= 0 || token === undefined) return false;
  return n === process.pid ? holder !== LOCK_OWNER : !processAlive(n);
}

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

/** The lock file of `putIf` on the object at `target` (a temp name: never listed, removed on open when stale). */
export function lockPath(target: string): string {
  return join(dirname(target), `${TEMP_PREFIX}lock-${versionOf(Buffer.from(target))}`);
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
  private readonly inflight = new Inflight();
  /** The tail of each key's `putIf` chain in this process. */
  private readonly keyLocks = new Map<string, Promise<void>>();

  constructor(private readonly root: string) {}

  put(key: string, body: Uint8Array, _opts?: PutOptions): Promise<void> {
    return this.inflight.run(async () => {
      validateKey(key);
      await this.write(key, keyPath(this.root, key), body);
    });
  }

  putIf(key: string, body: Uint8Array, expected: string | null, _opts?: PutOptions): Promise<string> {
    return this.inflight.run(async () => {
      validateKey(key);
      const target = keyPath(this.root, key);
      return this.withKeyLock(key, target, async () => {
        const current = await this.get(key);
        if ((current === undefined ? null : versionOf(current)) !== expected) throw storageErrors.STRATA_ERR_STORAGE_CHANGED({ key });
        await this.write(key, target, body);
        return versionOf(body);
      });
    });
  }

  async getVersioned(key: string): Promise<VersionedObject | undefined> {
    const body = await this.get(key);
    return body === undefined ? undefined : { body, version: versionOf(body) };
  }

  localPath(key: string): string {
    validateKey(key);
    return keyPath(this.root, key);
  }

  get(key: string): Promise<Buffer | undefined> {
    return this.inflight.run(async () => {
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
    return this.inflight.run(async () => {
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
    this.inflight.ensureOpen();
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
    return this.inflight.run(async () => {
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
    await this.inflight.close();
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

  /** Writes `body` as the object at `target`, retrying when a concurrent delete pruned its directory. */
  private async write(key: string, target: string, body: Uint8Array): Promise<void> {
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
  }

  /** Runs `fn` holding the key's lock: first in this process (a promise chain), then the lock file. */
  private withKeyLock<T>(key: string, target: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.keyLocks.get(target) ?? Promise.resolve()).then(async () => {
      const lock = lockPath(target);
      await this.lockFile(key, lock);
      try {
        return await fn();
      } finally {
        await rm(lock, { force: true });
      }
    });
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.keyLocks.set(target, tail);
    void tail.then(() => {
      if (this.keyLocks.get(target) === tail) this.keyLocks.delete(target);
    });
    return run;
  }

  /** Creates `lock` exclusively, waiting while a live process holds it, taking it over from a dead one. */
  private async lockFile(key: string, lock: string): Promise<void> {
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.ensureDir(dirname(lock));
        const fh = await open(lock, 'wx', 0o644);
        try {
          await fh.writeFile(LOCK_OWNER);
        } finally {
          await fh.close();
        }
        return;
      } catch (err) {
        if (errCode(err) === 'ENOENT') continue; // a delete pruned the directory
        if (errCode(err) !== 'EEXIST') throw this.failure('put', key, err);
      }
      const holder = await readFile(lock, 'utf8').catch(() => '');
      if (lockLeftByCrash(holder)) {
        await rm(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw storageErrors.STRATA_ERR_STORAGE_IO({ op: 'put', key, reason: `lock ${lock} held by ${holder || '?'} for over ${LOCK_WAIT_MS} ms` });
      await new Promise((r) => setTimeout(r, Math.min(50, attempt)));
    }
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
