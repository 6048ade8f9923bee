import { errorCodesInDocsAndCode } from '@strata/testkit';
import { describe, expect, it } from 'vitest';
import { streamErrors } from './errors.js';

describe('stream error catalogue', () => {
  it('is documented in the README, code for code, and nothing more', () => {
    const { documented, defined } = errorCodesInDocsAndCode(new URL('../README.md', import.meta.url), streamErrors);
    expect(documented).toEqual(defined);
  });

  it('keeps 4xx for caller mistakes and 5xx for conditions to retry or act on', () => {
    for (const [code, factory] of Object.entries(streamErrors)) {
      const expected4xx = /BAD_|UNKNOWN_TOPIC|NOT_ASSIGNED/.test(code);
      expect(factory().isUserError, code).toBe(expected4xx);
    }
  });
});
