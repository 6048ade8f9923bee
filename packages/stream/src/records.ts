import type { AppendRecord } from './types.js';

const MiB = 1024 * 1024;

/** Topic settings every engine applies when `ensureTopic` leaves them out. */
export const TOPIC_DEFAULTS = Object.freeze({
  retentionMs: 24 * 60 * 60 * 1000,
  retentionBytes: 10 * 1024 * MiB,
  dedupWindowMs: 120_000,
});

/** Why `append` refuses a record (null when it is fine); key and id may take at most `maxBytes` bytes of UTF-8. */
export function badRecord(r: AppendRecord, maxBytes: number): string | null {
  // length * 3 bounds the UTF-8 size of a JS string: only long strings need encoding to measure.
  const tooLong = (s: string): boolean => s.length * 3 > maxBytes && Buffer.byteLength(s) > maxBytes;
  if (typeof r.key !== 'string') return 'key must be a string';
  if (tooLong(r.key)) return `key longer than ${maxBytes} bytes`;
  if (!(r.value instanceof Uint8Array)) return 'value must be bytes';
  if (r.id !== undefined) {
    if (typeof r.id !== 'string' || r.id === '') return 'id must be a non-empty string';
    if (tooLong(r.id)) return `id longer than ${maxBytes} bytes`;
  }
  if (r.ts !== undefined && !Number.isFinite(r.ts)) return 'ts must be a finite number';
  return null;
}
