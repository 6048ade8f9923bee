import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DEVICE_ID_PATTERN, EVENT_ID_PATTERN, METRIC_NAME_PATTERN, TAG_KEY_PATTERN } from '@strata/core';
import { ID_CHARS, NAME_CHARS, isName, nameProblem } from './names.js';

// Mostly pattern characters, plus some that are not, so both outcomes are common.
const nearName = fc.string({
  unit: fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...'azAZ09._:-/') },
    { weight: 1, arbitrary: fc.constantFrom(' ', '"', '\\', '\n', 'é', '\u0000', '\ud83d', '+', '_') },
  ),
  maxLength: 140,
});

describe('name checks', () => {
  it('accept exactly what the core patterns accept', () => {
    fc.assert(
      fc.property(fc.oneof(nearName, fc.string({ maxLength: 200 })), (s) => {
        expect(isName(s, ID_CHARS)).toBe(DEVICE_ID_PATTERN.test(s));
        expect(isName(s, ID_CHARS)).toBe(EVENT_ID_PATTERN.test(s));
        expect(isName(s, NAME_CHARS)).toBe(METRIC_NAME_PATTERN.test(s));
        expect(isName(s, NAME_CHARS)).toBe(TAG_KEY_PATTERN.test(s));
      }),
      { numRuns: 2000 },
    );
  });

  it('say what is wrong', () => {
    expect(nameProblem('', ID_CHARS)).toBe('is empty');
    expect(nameProblem('x'.repeat(129), ID_CHARS)).toBe('is 129 characters long; at most 128');
    expect(nameProblem('room/1', ID_CHARS)).toBe("has '/' at position 4; allowed: A-Z a-z 0-9 . _ : -");
    expect(nameProblem('a\nb', NAME_CHARS)).toBe("has '\\n' at position 1; allowed: A-Z a-z 0-9 . _ : / -");
  });
});
