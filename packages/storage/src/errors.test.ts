import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { documentedErrorCodes } from '@strata/core';
import { storageErrors } from './errors.js';

describe('storage error catalogue', () => {
  it('is documented in the README, code for code and in the same order', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## Errors'));
    expect(documentedErrorCodes(section)).toEqual(Object.keys(storageErrors));
  });

  it('tells the caller’s faults (4xx) from the store’s (5xx)', () => {
    expect(storageErrors.STRATA_ERR_STORAGE_BAD_KEY({ key: 'x', reason: 'y' }).isUserError).toBe(true);
    expect(storageErrors.STRATA_ERR_STORAGE_IO({ op: 'put', key: 'x', reason: 'disk full' }).isUserError).toBe(false);
  });
});
