/**
 * The backup's encryption, on `@strata/core`'s envelope (AES-256-GCM, `iv | tag | ciphertext`).
 *
 * - Each backup has its own random data key, stored in its manifest sealed by the master key
 *   (AAD `backup-data-key:<id>`). It seals the database files (AAD = the file's path in the
 *   target) and keys the manifest's MAC (HMAC-SHA256 under a key derived from it).
 * - Lake objects are shared by every backup in a target taken with the same master key, so they
 *   are sealed with one objects key per (target, master key): `keys/<masterKeyId>.objects-key`,
 *   itself sealed by the master; each manifest carries a copy, so a backup opens on its own.
 */
import { createHash, createHmac, hkdfSync } from 'node:crypto';
import { envelope } from '@strata/core';

export const sha256 = (body: Uint8Array | string): string => createHash('sha256').update(body).digest('hex');

/** The MAC key of a manifest, derived from its data key (never the data key itself). */
function macKey(dataKey: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', dataKey, Buffer.alloc(0), 'strata-backup-manifest-mac', 32));
}

export function manifestMac(dataKey: Buffer, body: string): string {
  return createHmac('sha256', macKey(dataKey)).update(body).digest('hex');
}

export const dataKeyAad = (id: string): string => `backup-data-key:${id}`;
export const objectsKeyAad = (masterKeyId: string): string => `backup-objects-key:${masterKeyId}`;

export { envelope };
