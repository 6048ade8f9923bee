/**
 * The object store interface (DESIGN.md, "Object store"): put/get/list/delete by key with
 * atomic visibility of a put. Engines: local filesystem (default) and S3. Every engine
 * passes the shared contract suite in `./contract`.
 *
 * Keys are `/`-separated relative paths: no leading `/`, no empty, `.` or `..` segments, no
 * backslash or NUL, at most 1024 bytes, segments of at most 255 bytes, no segment starting with
 * `.tmp-` (reserved for temporary files). The full grammar and `validateKey` are in `key.ts`;
 * every engine rejects other keys with STRATA_ERR_STORAGE_BAD_KEY.
 */

export interface ObjectInfo {
  key: string;
  size: number;
  modified: Date;
}

export interface PutOptions {
  contentType?: string;
}

/** An object's bytes and a tag of its content (the S3 ETag; MD5 hex on the local engine), for `putIf`. */
export interface VersionedObject {
  body: Buffer;
  version: string;
}

export interface ObjectStore {
  readonly engine: string;
  /** Stores `body` under `key`. Readers see the old object or the whole new one, never a part. Durable on resolve. */
  put(key: string, body: Uint8Array, opts?: PutOptions): Promise<void>;
  /** The object's bytes, or undefined when there is no such key. */
  get(key: string): Promise<Buffer | undefined>;
  head(key: string): Promise<ObjectInfo | undefined>;
  /** The object's bytes with its version, or undefined when there is no such key. */
  getVersioned(key: string): Promise<VersionedObject | undefined>;
  /**
   * Compare-and-set, for small coordination objects: stores `body` only if the object's version
   * is still `expected` (from `getVersioned` or an earlier `putIf`), or with `expected` null only
   * if there is no object. Resolves to the new version; throws STRATA_ERR_STORAGE_CHANGED when
   * the object is not as expected. A write whose answer was lost and that the client retried may
   * report CHANGED although it was stored: callers re-read and find their own write.
   */
  putIf(key: string, body: Uint8Array, expected: string | null, opts?: PutOptions): Promise<string>;
  /** Objects whose key starts with `prefix`, in key order (byte order of UTF-8). */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Removes the object; removing a missing key is not an error. */
  delete(key: string): Promise<void>;
  /**
   * The file holding `key`, for engines that keep objects as local files (the local engine):
   * lets DuckDB read lake objects in place instead of staging a copy. Read-only use.
   */
  localPath?(key: string): string;
  /** Throws unless the store accepts writes now (used by `/ready`). */
  probe(): Promise<void>;
  close(): Promise<void>;
}
