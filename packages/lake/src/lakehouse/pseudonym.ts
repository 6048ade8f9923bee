import { createHmac } from 'node:crypto';

/**
 * The pseudonym of a device id in silver and gold: HMAC-SHA-256 keyed with the platform's lake
 * key, hex, cut to 128 bits. Stable across runs (joins over days work), not reversible without
 * the key (device ids are guessable, so a plain hash would be).
 */
export function devicePseudonym(key: Uint8Array, deviceId: string): string {
  return createHmac('sha256', key).update(deviceId, 'utf8').digest('hex').slice(0, 32);
}
