import { resolve, sep } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StrataError } from '@strata/core';
import { keyPath } from './engines/local/store.js';
import { validateKey, validatePrefix } from './key.js';

/**
 * The key grammar exactly as the README states it, written independently of key.ts:
 * 1..1024 UTF-8 bytes, well-formed, `/`-separated segments of 1..255 bytes, no `.`/`..`
 * segment, no segment starting with `.tmp-`, no NUL, no backslash.
 */
function grammarAccepts(key: unknown): boolean {
  if (typeof key !== 'string') return false;
  try {
    encodeURIComponent(key); // throws URIError on a lone surrogate
  } catch {
    return false;
  }
  const size = new TextEncoder().encode(key).length;
  if (size < 1 || size > 1024) return false;
  if (/[\u0000\\]/.test(key)) return false;
  return key.split('/').every((segment) => {
    const n = new TextEncoder().encode(segment).length;
    return n >= 1 && n <= 255 && segment !== '.' && segment !== '..' && !segment.startsWith('.tmp-');
  });
}

function accepts(validate: (k: unknown) => void, key: unknown): boolean {
  try {
    validate(key);
    return true;
  } catch (err) {
    expect(err).toBeInstanceOf(StrataError);
    expect((err as StrataError).code).toBe('STRATA_ERR_STORAGE_BAD_KEY');
    expect((err as StrataError).message.length).toBeLessThan(400);
    return false;
  }
}

/** UTF-16 code units, lone surrogates included. */
const anyCodeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const tricky = fc.constantFrom('', '.', '..', '...', '.tmp-', '.tmp-x', 'x.tmp-', '\\', '\0', '\uD800', '\uDC00', '😀', 'é', '/', 'x'.repeat(255), 'y'.repeat(256), 'é'.repeat(128));
const segment = fc.oneof(tricky, fc.string({ maxLength: 8 }), fc.string({ unit: 'binary', maxLength: 6 }), fc.string({ unit: anyCodeUnit, maxLength: 4 }));
/** Keys built from segments near the grammar's edges, so valid and invalid ones both come up often. */
const keyLike = fc.oneof(
  fc.array(segment, { minLength: 1, maxLength: 6 }).map((parts) => parts.join('/')),
  fc.array(fc.constantFrom('abcdefgh', 'x'.repeat(250), 'é'.repeat(100)), { minLength: 1, maxLength: 8 }).map((parts) => parts.join('/')),
  fc.string({ unit: anyCodeUnit, maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
);

const ROOT = resolve('/srv/strata/lake');

describe('validateKey', () => {
  it('accepts exactly the documented grammar and throws nothing but STRATA_ERR_STORAGE_BAD_KEY', () => {
    fc.assert(
      fc.property(fc.oneof(keyLike, fc.anything()), (key) => {
        expect(accepts(validateKey, key)).toBe(grammarAccepts(key));
      }),
      { numRuns: 5000 },
    );
  });

  it('never lets an accepted key escape the store root', () => {
    fc.assert(
      fc.property(keyLike, (key) => {
        if (!accepts(validateKey, key)) return;
        const path = resolve(keyPath(ROOT, key));
        expect(path.startsWith(ROOT + sep)).toBe(true);
        // And the path names the key: one directory level per segment, nothing collapsed.
        expect(path.slice(ROOT.length + 1).split(sep)).toEqual(key.split('/'));
      }),
      { numRuns: 5000 },
    );
  });

  it('decides the documented edge cases', () => {
    const ok = ['a', 'a/b', '...', '.hidden', 'x.tmp-', 'year=2025/month=01', 'é/😀', 'x'.repeat(255), `${'a/'.repeat(511)}b`];
    const bad = ['', '/', '/a', 'a/', 'a//b', '.', '..', 'a/./b', 'a/..', '.tmp-1', 'a/.tmp-', 'a\\b', 'a\0', '\uD83D', 'x'.repeat(256), `${'a/'.repeat(512)}b`];
    for (const key of ok) expect(accepts(validateKey, key), key).toBe(true);
    for (const key of bad) expect(accepts(validateKey, key), JSON.stringify(key)).toBe(false);
  });
});

describe('validatePrefix', () => {
  it('accepts every code-point prefix of a valid key, and the empty prefix', () => {
    fc.assert(
      fc.property(keyLike, (key) => {
        if (!grammarAccepts(key)) return;
        const points = Array.from(key);
        for (let i = 0; i <= points.length; i++) expect(accepts(validatePrefix, points.slice(0, i).join(''))).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('throws nothing but STRATA_ERR_STORAGE_BAD_KEY', () => {
    fc.assert(
      fc.property(fc.oneof(keyLike, fc.anything()), (prefix) => {
        accepts(validatePrefix, prefix);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses prefixes no valid key can start with', () => {
    for (const prefix of ['/', '/a', 'a//', '../', 'a/./', '.tmp-x/', 'a\\', '\0']) {
      expect(accepts(validatePrefix, prefix), JSON.stringify(prefix)).toBe(false);
    }
  });
});
