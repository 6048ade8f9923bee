import { describe, expect, it } from 'vitest';
import { errorCodesInDocsAndCode } from '@strata/testkit';
import { lakeErrors } from './errors.js';

describe('lake error catalogue', () => {
  it('is documented in the README, code for code', () => {
    const { documented, defined } = errorCodesInDocsAndCode(new URL('../README.md', import.meta.url), lakeErrors);
    expect(documented).toEqual(defined);
  });
});
