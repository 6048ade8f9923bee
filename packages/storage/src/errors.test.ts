import { describe, expect, it } from 'vitest';
import { errorCodesInDocsAndCode } from '@strata/testkit';
import { storageErrors } from './errors.js';

describe('storage error catalogue', () => {
  it('is documented in the README, code for code', () => {
    const { documented, defined } = errorCodesInDocsAndCode(new URL('../README.md', import.meta.url), storageErrors);
    expect(documented).toEqual(defined);
  });

  it('tells the caller’s faults (4xx) from the store’s (5xx)', () => {
    expect(storageErrors.STRATA_ERR_STORAGE_BAD_KEY({ key: 'x', reason: 'y' }).isUserError).toBe(true);
    expect(storageErrors.STRATA_ERR_STORAGE_IO({ op: 'put', key: 'x', reason: 'disk full' }).isUserError).toBe(false);
  });
});
