import { expect, it } from 'vitest';
import { errorCodesInDocsAndCode } from '@strata/testkit';
import { rulesErrors } from './errors.js';

it('documents every rules and alerts error code it defines, and no other', () => {
  const { documented, defined } = errorCodesInDocsAndCode(new URL('../README.md', import.meta.url), rulesErrors);
  expect(documented).toEqual(defined);
});
