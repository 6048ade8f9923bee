/**
 * Finds where and why a text is not JSON (RFC 8259). Only called after `JSON.parse` has failed,
 * because V8's messages do not always carry a position and differ between Node versions.
 * Iterative (an explicit stack), so deeply nested input cannot overflow the call stack.
 */

import { charAt } from './issues.js';
import type { ParseContext } from './context.js';

export interface JsonSyntaxError {
  /** UTF-16 offset of the offending character (the text length for "unexpected end"). */
  offset: number;
  message: string;
}

const OBJECT = 1;
const ARRAY = 2;

class Fail {
  constructor(readonly offset: number, readonly message: string) {}
}

function isWs(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

function describeAt(text: string, i: number): string {
  if (i >= text.length) return 'unexpected end of input';
  return `unexpected ${charAt(text, i)}`;
}

function skipWs(text: string, i: number): number {
  while (i < text.length && isWs(text.charCodeAt(i))) i++;
  return i;
}

function scanString(text: string, i: number): number {
  // text[i] is the opening quote
  i++;
  for (;;) {
    if (i >= text.length) throw new Fail(i, 'unterminated string');
    const c = text.charCodeAt(i);
    if (c === 34) return i + 1;
    if (c < 0x20) throw new Fail(i, 'control character in string (escape it)');
    if (c === 92) {
      const e = text.charCodeAt(i + 1);
      if (e === 117) {
        for (let k = 2; k < 6; k++) {
          const h = text.charCodeAt(i + k);
          const hex = (h >= 48 && h <= 57) || (h >= 65 && h <= 70) || (h >= 97 && h <= 102);
          if (!hex) throw new Fail(i, 'bad \\u escape in string');
        }
        i += 6;
        continue;
      }
      if (e === 34 || e === 92 || e === 47 || e === 98 || e === 102 || e === 110 || e === 114 || e === 116) {
        i += 2;
        continue;
      }
      throw new Fail(i, 'bad escape in string');
    }
    i++;
  }
}

function digits(text: string, i: number): number {
  const start = i;
  while (i < text.length && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) i++;
  if (i === start) throw new Fail(i, `${describeAt(text, i)} in number (expected a digit)`);
  return i;
}

function scanNumber(text: string, i: number): number {
  if (text.charCodeAt(i) === 45) i++;
  if (text.charCodeAt(i) === 48) {
    i++;
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) throw new Fail(i, 'leading zero in number');
  } else {
    i = digits(text, i);
  }
  if (text.charCodeAt(i) === 46) i = digits(text, i + 1);
  const e = text.charCodeAt(i);
  if (e === 101 || e === 69) {
    i++;
    const sign = text.charCodeAt(i);
    if (sign === 43 || sign === 45) i++;
    i = digits(text, i);
  }
  return i;
}

function scanLiteral(text: string, i: number): number {
  for (const word of ['true', 'false', 'null']) {
    if (text.startsWith(word, i)) return i + word.length;
  }
  throw new Fail(i, `${describeAt(text, i)} (expected a value)`);
}

function scanKey(text: string, i: number): number {
  if (text.charCodeAt(i) !== 34) throw new Fail(i, `${describeAt(text, i)} (expected a property name in double quotes)`);
  i = skipWs(text, scanString(text, i));
  if (text.charCodeAt(i) !== 58) throw new Fail(i, `${describeAt(text, i)} (expected ':')`);
  return skipWs(text, i + 1);
}

function scan(text: string): void {
  const stack: number[] = [];
  let i = skipWs(text, 0);
  for (;;) {
    // A value starts at i.
    const c = text.charCodeAt(i);
    if (c === 123) {
      i = skipWs(text, i + 1);
      if (text.charCodeAt(i) === 125) {
        i++;
      } else {
        stack.push(OBJECT);
        i = scanKey(text, i);
        continue;
      }
    } else if (c === 91) {
      i = skipWs(text, i + 1);
      if (text.charCodeAt(i) === 93) {
        i++;
      } else {
        stack.push(ARRAY);
        continue;
      }
    } else if (c === 34) {
      i = scanString(text, i);
    } else if (c === 45 || (c >= 48 && c <= 57)) {
      i = scanNumber(text, i);
    } else {
      i = scanLiteral(text, i);
    }
    // After a value: close containers or move to the next element.
    for (;;) {
      i = skipWs(text, i);
      const top = stack[stack.length - 1];
      if (top === undefined) {
        if (i < text.length) throw new Fail(i, `${describeAt(text, i)} after the end of the JSON value`);
        return;
      }
      const d = text.charCodeAt(i);
      if (d === 44) {
        i = skipWs(text, i + 1);
        if (top === OBJECT) i = scanKey(text, i);
        break;
      }
      if ((top === OBJECT && d === 125) || (top === ARRAY && d === 93)) {
        stack.pop();
        i++;
        continue;
      }
      throw new Fail(i, `${describeAt(text, i)} (expected ',' or '${top === OBJECT ? '}' : ']'}')`);
    }
  }
}

/** Where `text` stops being JSON, or undefined if it is valid JSON. */
export function findJsonError(text: string): JsonSyntaxError | undefined {
  try {
    scan(text);
    return undefined;
  } catch (err) {
    if (err instanceof Fail) return { offset: err.offset, message: err.message };
    throw err;
  }
}

/** 1-based line and column of a UTF-16 offset. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: offset - lineStart + 1 };
}

/** Reason for a body (multi-line) that JSON.parse rejected. */
export function jsonErrorReason(text: string, prefix: string, fallback: unknown): string {
  const err = findJsonError(text);
  if (err === undefined) return `${prefix}: ${fallback instanceof Error ? fallback.message.slice(0, 120) : 'JSON.parse failed'}`;
  const { line, column } = lineColumn(text, err.offset);
  return `${prefix}: ${err.message} at line ${line}, column ${column} (position ${err.offset})`;
}

/** Marks a body JSON.parse refused; the issue is already recorded. */
export const NOT_JSON: unique symbol = Symbol('not JSON');

/** JSON.parse of a whole body; on failure records one issue (with line and column) and returns NOT_JSON. */
export function parseBodyJson(text: string, cx: ParseContext): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    cx.issues.add(0, '', jsonErrorReason(text, 'body is not valid JSON', err));
    return NOT_JSON;
  }
}
