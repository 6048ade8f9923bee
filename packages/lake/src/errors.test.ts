import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { documentedErrorCodes } from '@strata/core';
import { lakeErrors } from './errors.js';

describe('lake error catalogue', () => {
  it('is documented in the README, code for code and in the same order', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## Errors'));
    expect(documentedErrorCodes(section)).toEqual(Object.keys(lakeErrors));
  });
});
