import { expect, it } from 'vitest';
import { errorCodesInDocsAndCode } from '@strata/testkit';
import { mlErrors } from './errors.js';

it('documents every ml error code it defines, and no other', () => {
  const { documented, defined } = errorCodesInDocsAndCode(new URL('../README.md', import.meta.url), mlErrors);
  expect(documented).toEqual(defined);
});
