import { readFileSync } from 'node:fs';
import { documentedErrorCodes } from '@strata/core';
import { describe, expect, it } from 'vitest';
import { streamErrors } from './errors.js';

describe('stream error catalogue', () => {
  it('is documented in the README, code for code, and nothing more', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const errorsSection = readme.slice(readme.indexOf('## Errors'));
    expect(documentedErrorCodes(errorsSection).sort()).toEqual(Object.keys(streamErrors).sort());
  });

  it('keeps 4xx for caller mistakes and 5xx for conditions to retry or act on', () => {
    for (const [code, factory] of Object.entries(streamErrors)) {
      const expected4xx = /BAD_|UNKNOWN_TOPIC|NOT_ASSIGNED/.test(code);
      expect(factory().isUserError, code).toBe(expected4xx);
    }
  });
});
