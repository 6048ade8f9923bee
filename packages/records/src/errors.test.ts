import { describe, expect, it } from 'vitest';
import { errorCodesInDocsAndCode } from '@strata/testkit';
import { recordsErrors } from './errors.js';

describe('records error catalogue', () => {
  it('is documented in the README, code for code', () => {
    const { documented, defined } = errorCodesInDocsAndCode(new URL('../README.md', import.meta.url), recordsErrors);
    expect(documented).toEqual(defined);
  });
});
