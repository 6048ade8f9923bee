import { storageErrors } from './errors.js';

/**
 * Object key grammar, the same for every engine (so data moves between engines unchanged):
 *
 * - a string of 1 to 1024 bytes once encoded as UTF-8, well-formed (no lone surrogate);
 * - `/`-separated segments of 1 to 255 bytes each (so no leading, trailing or double `/`);
 * - no segment is `.` or `..`, and no segment starts with `.tmp-` (reserved for engines'
 *   in-flight temporary files);
 * - no NUL (U+0000) and no backslash anywhere.
 */
export const MAX_KEY_BYTES = 1024;
export const MAX_SEGMENT_BYTES = 255;
/** Segments starting with this are reserved for engines' temporary files and never listed. */
export const TEMP_PREFIX = '.tmp-';

const LONE_SURROGATE = /\p{Surrogate}/u;

/** Shown in error messages: bounded, quoted, control characters escaped. */
function show(value: unknown): string {
  if (typeof value !== 'string') return `(${value === null ? 'null' : typeof value})`;
  const quoted = JSON.stringify(value.length > 120 ? `${value.slice(0, 120)}…` : value);
  return quoted;
}

function segmentProblem(segment: string, partial: boolean): string | undefined {
  if (Buffer.byteLength(segment, 'utf8') > MAX_SEGMENT_BYTES) return `a segment is longer than ${MAX_SEGMENT_BYTES} bytes`;
  if (partial) return undefined;
  if (segment === '') return 'empty segment (leading, trailing or double "/")';
  if (segment === '.' || segment === '..') return `"${segment}" segment`;
  if (segment.startsWith(TEMP_PREFIX)) return `segments starting with "${TEMP_PREFIX}" are reserved`;
  return undefined;
}

function textProblem(value: string): string | undefined {
  if (value.includes('\0')) return 'contains NUL';
  if (value.includes('\\')) return 'contains a backslash';
  if (LONE_SURROGATE.test(value)) return 'not well-formed Unicode (lone surrogate)';
  if (Buffer.byteLength(value, 'utf8') > MAX_KEY_BYTES) return `longer than ${MAX_KEY_BYTES} bytes`;
  return undefined;
}

/** Why `key` is not a valid object key, or undefined when it is. */
export function keyProblem(key: unknown): string | undefined {
  if (typeof key !== 'string') return 'not a string';
  if (key === '') return 'empty';
  const problem = textProblem(key);
  if (problem) return problem;
  for (const segment of key.split('/')) {
    const p = segmentProblem(segment, false);
    if (p) return p;
  }
  return undefined;
}

/** Throws STRATA_ERR_STORAGE_BAD_KEY unless `key` follows the key grammar. Every engine calls it. */
export function validateKey(key: unknown): asserts key is string {
  const reason = keyProblem(key);
  if (reason !== undefined) throw storageErrors.STRATA_ERR_STORAGE_BAD_KEY({ key: show(key), reason });
}

/**
 * Throws STRATA_ERR_STORAGE_BAD_KEY unless `prefix` can start a valid key: `''`, or any string
 * whose complete segments (those before the last `/`) are valid segments and whose text has no
 * NUL, backslash or lone surrogate. The last, partial segment is only a filter on names.
 */
export function validatePrefix(prefix: unknown): asserts prefix is string {
  let reason: string | undefined;
  if (typeof prefix !== 'string') reason = 'not a string';
  else if (prefix !== '') {
    reason = textProblem(prefix);
    const segments = prefix.split('/');
    for (let i = 0; reason === undefined && i < segments.length; i++) {
      reason = segmentProblem(segments[i]!, i === segments.length - 1);
    }
  }
  if (reason !== undefined) throw storageErrors.STRATA_ERR_STORAGE_BAD_KEY({ key: show(prefix), reason: `as a prefix: ${reason}` });
}

/** Byte order of the UTF-8 encodings (the order `list` yields keys in). */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
