/**
 * Where backups go: a directory (the local object store engine) or `s3://bucket/prefix` (the S3
 * engine), both behind the ObjectStore interface.
 */
import { resolve } from 'node:path';
import type { ObjectStore } from '@strata/storage';
import { openLocalStore } from '@strata/storage';
import { backupErrors } from './errors.js';

export interface BackupTarget {
  /** How to name it to a user: the directory or the s3:// URL. */
  readonly location: string;
  readonly store: ObjectStore;
}

/** S3 settings other than bucket and prefix (endpoint, region, credentials, path style). */
export interface S3TargetOptions {
  region?: string;
  endpoint?: string;
  forcePathStyle?: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  createBucket?: boolean;
}

export type ParsedLocation = { kind: 'dir'; dir: string } | { kind: 's3'; bucket: string; prefix: string };

export function parseLocation(location: string): ParsedLocation {
  if (location.startsWith('s3://')) {
    const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(location);
    if (!m) throw backupErrors.STRATA_ERR_BACKUP_BAD_TARGET({ target: location, reason: 'expected s3://bucket/prefix with a valid bucket name' });
    return { kind: 's3', bucket: m[1]!, prefix: (m[2] ?? '').replace(/\/+$/, '') };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) throw backupErrors.STRATA_ERR_BACKUP_BAD_TARGET({ target: location, reason: 'a directory or s3://bucket/prefix' });
  if (location.trim() === '') throw backupErrors.STRATA_ERR_BACKUP_BAD_TARGET({ target: location, reason: 'empty' });
  return { kind: 'dir', dir: resolve(location) };
}

/** Opens the store of a location; the S3 engine is loaded only when used. */
export async function openTarget(location: string, s3: S3TargetOptions = {}): Promise<BackupTarget> {
  const parsed = parseLocation(location);
  if (parsed.kind === 'dir') return { location: parsed.dir, store: await openLocalStore({ root: parsed.dir }) };
  const { openS3Store } = await import('@strata/storage/s3');
  const store = await openS3Store({ ...s3, bucket: parsed.bucket, ...(parsed.prefix !== '' && { prefix: parsed.prefix }) });
  return { location, store };
}

/** The S3 settings of an s3:// target from the lake store's (same endpoint, region and account). */
export function s3TargetOptions(s3?: { region: string; forcePathStyle: boolean; endpoint?: string | undefined; accessKeyId?: string | undefined; secretAccessKey?: string | undefined }): S3TargetOptions {
  if (!s3) return {};
  return {
    region: s3.region,
    forcePathStyle: s3.forcePathStyle,
    ...(s3.endpoint !== undefined && { endpoint: s3.endpoint }),
    ...(s3.accessKeyId !== undefined && s3.secretAccessKey !== undefined && { credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } }),
  };
}
