/**
 * The manifest: the one object that says what a backup holds. Plain JSON (so `list` needs no
 * key), authenticated by an HMAC under a key derived from the backup's data key: a changed byte,
 * a table or file removed from it, or a manifest from another backup is refused by `openManifest`.
 * It never holds data: table and column names, counts, checksums, lake object keys, sealed keys.
 */
import type { ObjectStore } from '@strata/storage';
import { envelope, manifestMac, dataKeyAad } from './crypto.js';
import { backupErrors } from './errors.js';
import { manifestKey } from './layout.js';

export const MANIFEST_FORMAT = 1;

/** One sealed file of the backup. */
export interface FileEntry {
  /** Key in the target. */
  path: string;
  /** Bytes of the sealed file, and their SHA-256. */
  size: number;
  sha256: string;
  /** SHA-256 of the plaintext (NDJSON for a table part, the object's bytes for a lake object). */
  plainSha256: string;
  rows?: number;
}

export interface ColumnEntry {
  name: string;
  /** `format_type` of the column (e.g. `timestamp with time zone`, `text[]`). */
  type: string;
}

export interface TableEntry {
  name: string;
  columns: ColumnEntry[];
  /** Row order of the dump (the primary key, else every column). */
  orderBy: string[];
  /** Set for a partition: created on restore as `partition of <parent> <bound>`. */
  partition?: { parent: string; bound: string };
  rows: number;
  /** SHA-256 of the whole NDJSON dump (every part, in order): the content checksum. */
  sha256: string;
  files: FileEntry[];
}

export interface SequenceEntry {
  name: string;
  lastValue: string;
  isCalled: boolean;
}

export interface LakeObjectEntry {
  /** Key in the lake. */
  key: string;
  size: number;
  /** The object's modification time when copied: with the size, lets the next backup skip re-reading it. */
  modified: string;
  /** SHA-256 of the object's bytes, which is also its address under objects/. */
  sha256: string;
  /** The sealed blob in the target. */
  blob: string;
  blobSize: number;
  blobSha256: string;
}

export interface StreamPositions {
  takenAt: string;
  topics: {
    topic: string;
    partitions: { partition: number; startOffset: number; endOffset: number }[];
    groups: { group: string; partitions: { partition: number; committed: number }[] }[];
  }[];
}

export interface ManifestBody {
  format: typeof MANIFEST_FORMAT;
  id: string;
  startedAt: string;
  finishedAt: string;
  keys: {
    /** `envelope.keyId` of the master key that sealed the keys below. */
    master: string;
    /** Data key, sealed (base64). */
    data: string;
    /** Objects key (id and sealed, base64). */
    objects: { id: string; sealed: string };
  };
  database: {
    engine: string;
    /** Migrations applied when the backup was taken: a restore needs the same. */
    migrations: string[];
    tables: TableEntry[];
    sequences: SequenceEntry[];
  };
  stream: StreamPositions | null;
  lake: {
    objects: LakeObjectEntry[];
    /** Blobs this backup wrote (the others were already in the target from earlier backups). */
    copied: number;
    /** Lake objects that vanished between the listing and the copy (a lake job replaced them). */
    vanished: string[];
  };
}

export interface Manifest extends ManifestBody {
  mac: string;
}

/** The keys a manifest opens with. */
export interface OpenedKeys {
  dataKey: Buffer;
  objectsKey: Buffer;
}

export function sealManifest(body: ManifestBody, dataKey: Buffer): Buffer {
  const text = JSON.stringify(body);
  return Buffer.from(JSON.stringify({ ...body, mac: manifestMac(dataKey, text) } satisfies Manifest, null, 1));
}

/** Reads a manifest without checking it (listing): undefined when missing or not JSON. */
export async function peekManifest(store: ObjectStore, id: string): Promise<Manifest | undefined> {
  const body = await store.get(manifestKey(id));
  if (!body) return undefined;
  try {
    return JSON.parse(body.toString('utf8')) as Manifest;
  } catch {
    return undefined;
  }
}

/**
 * Reads, unseals and authenticates a backup's manifest: wrong master key, a manifest that does
 * not parse or whose MAC fails are told apart, each with the file named.
 */
export async function openManifest(store: ObjectStore, id: string, masterKey: Buffer, target: string): Promise<{ manifest: Manifest; keys: OpenedKeys }> {
  const file = manifestKey(id);
  const body = await store.get(file);
  if (!body) throw backupErrors.STRATA_ERR_BACKUP_NOT_FOUND({ id, target });
  let manifest: Manifest;
  try {
    manifest = JSON.parse(body.toString('utf8')) as Manifest;
    if (manifest.format !== MANIFEST_FORMAT) throw new Error(`format ${String(manifest.format)} is not ${MANIFEST_FORMAT}`);
    if (typeof manifest.mac !== 'string' || typeof manifest.keys?.data !== 'string') throw new Error('no MAC or keys');
  } catch (err) {
    throw backupErrors.STRATA_ERR_BACKUP_MANIFEST({ id, file, reason: (err as Error).message }, err);
  }
  const masterId = envelope.keyId(masterKey);
  if (manifest.keys.master !== masterId) {
    throw backupErrors.STRATA_ERR_BACKUP_MASTER_KEY({ id, reason: `it was sealed by master key ${manifest.keys.master}, this one is ${masterId}` });
  }
  let dataKey: Buffer;
  let objectsKey: Buffer;
  try {
    dataKey = envelope.open(masterKey, Buffer.from(manifest.keys.data, 'base64'), dataKeyAad(manifest.id));
    objectsKey = envelope.open(masterKey, Buffer.from(manifest.keys.objects.sealed, 'base64'), `backup-objects-key:${masterId}`);
  } catch (err) {
    // The key ids match, so the sealed keys (or the id they are bound to) were changed.
    throw backupErrors.STRATA_ERR_BACKUP_MANIFEST({ id, file, reason: 'its sealed keys do not open (altered)' }, err);
  }
  const { mac, ...rest } = manifest;
  if (manifest.id !== id || manifestMac(dataKey, JSON.stringify(rest)) !== mac) {
    throw backupErrors.STRATA_ERR_BACKUP_MANIFEST({ id, file, reason: 'its MAC does not match (altered or truncated)' });
  }
  return { manifest, keys: { dataKey, objectsKey } };
}
