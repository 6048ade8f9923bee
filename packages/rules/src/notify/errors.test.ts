import { expect, it } from 'vitest';
import { errorCodesInDocsAndCode } from '@strata/testkit';
import { notifyErrors } from './errors.js';

it('documents every error code it defines, and no other', () => {
  const { documented, defined } = errorCodesInDocsAndCode(new URL('../../README.md', import.meta.url), notifyErrors);
  expect(documented).toEqual(defined);
});
