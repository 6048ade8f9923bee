import type { ParseContext } from './context.js';
import type { ParseResult } from './types.js';

export function invalid(cx: ParseContext): ParseResult {
  return { ok: false, status: 400, issues: cx.issues.toArray() };
}

/** 413 with one issue; `index` is the first item over the limit. */
export function tooMany(count: number, max: number, index: number): ParseResult {
  return {
    ok: false,
    status: 413,
    issues: [{ index, field: '', reason: `${count} events in one request; at most ${max} (split the batch)` }],
  };
}
