import { describe, expect, it } from 'vitest';
import { errorCodesInDocsAndCode } from '@strata/testkit';
import { backupErrors } from './errors.js';

describe('backup error catalogue', () => {
  it('is documented in the README, code for code', () => {
    const { documented, defined } = errorCodesInDocsAndCode(new URL('../README.md', import.meta.url), backupErrors);
    expect(documented).toEqual(defined);
  });
});
