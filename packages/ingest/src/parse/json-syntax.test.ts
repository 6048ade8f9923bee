import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { findJsonError, jsonErrorReason, lineColumn } from './json-syntax.js';

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

// JSON text with random damage: JSON tokens and stray characters, in any order.
const jsonish = fc
  .array(fc.oneof(fc.constantFrom('{', '}', '[', ']', ',', ':', '"', '\\', ' ', '\n', '-', '0', '1', '.', 'e', 'E', '+', 'true', 'fals', 'null', '"a"', '"\\u12g4"', '\u0001', '\t'), fc.json()), { maxLength: 12 })
  .map((parts) => parts.join(''));

describe('findJsonError', () => {
  it('finds an error exactly when JSON.parse fails', () => {
    fc.assert(
      fc.property(fc.oneof(jsonish, fc.json(), fc.string({ maxLength: 30 })), (text) => {
        const err = findJsonError(text);
        expect(err === undefined).toBe(parses(text));
        if (err !== undefined) {
          expect(err.offset).toBeGreaterThanOrEqual(0);
          expect(err.offset).toBeLessThanOrEqual(text.length);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('survives deep nesting', () => {
    expect(findJsonError('['.repeat(200_000))).toEqual({ offset: 200_000, message: 'unexpected end of input (expected a value)' });
  });

  it('points at the problem', () => {
    const text = '[\n  {"a": 1},\n  {"b": 2,}\n]';
    expect(jsonErrorReason(text, 'body is not valid JSON', undefined)).toBe(
      "body is not valid JSON: unexpected '}' (expected a property name in double quotes) at line 3, column 11 (position 24)",
    );
    expect(findJsonError('{"a":01}')).toEqual({ offset: 6, message: 'leading zero in number' });
    expect(findJsonError('"a\u0001"')?.message).toBe('control character in string (escape it)');
    expect(findJsonError('[1 2]')?.message).toBe("unexpected '2' (expected ',' or ']')");
    expect(findJsonError('{} x')?.message).toBe("unexpected 'x' after the end of the JSON value");
    expect(lineColumn('ab\ncd', 4)).toEqual({ line: 2, column: 2 });
  });
});
