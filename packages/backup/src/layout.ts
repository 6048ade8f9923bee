/**
 * Keys inside a backup target (a directory or an S3 prefix, through the ObjectStore interface):
 *
 *   backups/<id>/manifest.json                      what the backup holds, checksums, sealed keys, MAC
 *   backups/<id>/db/<table>/<part>.ndjson.gz.enc    one table's rows (gzip NDJSON, sealed), 50,000 rows a part
 *   objects/<objectsKeyId>/<sha256[0:2]>/<sha256>   a lake object by the SHA-256 of its bytes, sealed; shared by backups
 *   keys/<masterKeyId>.objects-key                  the objects key, sealed by that master key
 *
 * Ids sort by time (`20251204T030000000Z-1a2b`), so the newest backup is the last listed.
 */
import { randomBytes } from 'node:crypto';

export const BACKUPS_PREFIX = 'backups/';
export const MANIFEST_NAME = 'manifest.json';
/** `20261122T031500123Z-9f2c`: UTC to the millisecond, so ids sort in the order backups were taken. */
export const ID_PATTERN = /^\d{8}T\d{9}Z-[0-9a-f]{4}$/;

export function newBackupId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:.]/g, '');
  return `${stamp}-${randomBytes(2).toString('hex')}`;
}

export const manifestKey = (id: string): string => `${BACKUPS_PREFIX}${id}/${MANIFEST_NAME}`;
export const tablePartKey = (id: string, table: string, part: number): string => `${BACKUPS_PREFIX}${id}/db/${table}/${String(part).padStart(5, '0')}.ndjson.gz.enc`;
export const objectsPrefix = (objectsKeyId: string): string => `objects/${objectsKeyId}/`;
export const blobKey = (objectsKeyId: string, sha: string): string => `objects/${objectsKeyId}/${sha.slice(0, 2)}/${sha}`;
export const objectsKeyKey = (masterKeyId: string): string => `keys/${masterKeyId}.objects-key`;
