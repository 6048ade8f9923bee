/**
 * Envelope encryption, as KMS does it: data is sealed with a data key (AES-256-GCM, a random
 * 96-bit IV per value), and data keys are stored wrapped (sealed) by a master key that never
 * enters the database. Rotating the master re-wraps the data keys; the data is not touched.
 *
 * Sealed format: `iv (12 bytes) | tag (16 bytes) | ciphertext`. `aad` binds a value to where it
 * belongs (e.g. a patient id), so a sealed value copied to another row does not open.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const IV_BYTES = 12;
const TAG_BYTES = 16;
export const KEY_BYTES = 32;

export function newKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

// IVs are cut from a pool filled 4,096 at a time: one randomBytes call per value cost more than
// the encryption itself (17 µs against 5 µs) when sealing a whole file of names.
const IV_POOL = 4096;
let ivs = Buffer.alloc(0);
let nextIv = 0;
function newIv(): Buffer {
  if (nextIv >= ivs.length) {
    ivs = randomBytes(IV_BYTES * IV_POOL);
    nextIv = 0;
  }
  nextIv += IV_BYTES;
  return ivs.subarray(nextIv - IV_BYTES, nextIv);
}

export function seal(key: Buffer, plaintext: Buffer | string, aad?: string): Buffer {
  const iv = newIv();
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  if (aad !== undefined) cipher.setAAD(Buffer.from(aad));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]);
}

/** Opens a sealed value; throws when the key, the AAD or any byte is wrong. */
export function open(key: Buffer, sealed: Buffer, aad?: string): Buffer {
  if (sealed.length < IV_BYTES + TAG_BYTES) throw new Error('sealed value too short');
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV_BYTES));
  decipher.setAuthTag(sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  if (aad !== undefined) decipher.setAAD(Buffer.from(aad));
  return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
}

/** A master key's public name: recorded beside what it wrapped, never the key itself. */
export function keyId(key: Buffer): string {
  return createHash('sha256').update('strata-key-id').update(key).digest('hex').slice(0, 16);
}

/** Parses a master key given as base64 or hex (32 bytes); undefined when it is neither. */
export function parseKey(text: string): Buffer | undefined {
  const t = text.trim();
  const buf = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, 'hex') : /^[A-Za-z0-9+/_-]{43}=?$/.test(t) ? Buffer.from(t, 'base64') : undefined;
  return buf?.length === KEY_BYTES ? buf : undefined;
}
