import type { ParseContext } from './context.js';
import { eventFromItem } from './item.js';
import { findJsonError } from './json-syntax.js';
import { invalid, tooMany } from './result.js';
import type { ParseResult, ParsedEvent } from './types.js';

/** Only spaces, tabs and carriage returns between `start` and `end`. */
/** True when `text[start, end)` holds only JSON whitespace (space, tab, CR, LF). */
export function isBlank(text: string, start = 0, end = text.length): boolean {
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13 && c !== 10) return false;
  }
  return true;
}

/**
 * `application/x-ndjson` / `application/ndjson`: one JSON object per line, lines end in `\n`
 * or `\r\n`. Blank lines are skipped and are not events (they do not count against the limit),
 * but they do count in line numbers: an issue's `index` is the 0-based physical line, so it
 * points at the line in the file the client sent. One `JSON.parse` per line, so a broken line
 * is reported on its own and the other lines are still checked.
 */
export function parseNdjsonBody(text: string, cx: ParseContext): ParseResult {
  const starts: number[] = [];
  const ends: number[] = [];
  const lines: number[] = [];
  const n = text.length;
  let line = 0;
  for (let pos = 0; pos <= n; line++) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = n;
    const end = nl > pos && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
    if (!isBlank(text, pos, end)) {
      starts.push(pos);
      ends.push(end);
      lines.push(line);
    }
    pos = nl + 1;
  }
  const count = lines.length;
  const max = cx.limits.maxEventsPerRequest;
  if (count === 0) {
    cx.issues.add(0, '', 'body has only blank lines; send one JSON object per line');
    return invalid(cx);
  }
  if (count > max) return tooMany(count, max, lines[max]!);
  const events: ParsedEvent[] = [];
  for (let i = 0; i < count; i++) {
    const lineText = text.slice(starts[i], ends[i]);
    const index = lines[i]!;
    let item: unknown;
    try {
      item = JSON.parse(lineText);
    } catch {
      const err = findJsonError(lineText);
      cx.issues.add(index, '', err === undefined ? 'line is not valid JSON' : `line is not valid JSON: ${err.message} at column ${err.offset + 1}`);
      continue;
    }
    if (Array.isArray(item)) {
      cx.issues.add(index, '', 'each line must be one JSON object, got an array (send arrays as application/json)');
      continue;
    }
    const ev = eventFromItem(item, index, cx);
    if (ev !== undefined) events.push(ev);
  }
  return cx.issues.count > 0 ? invalid(cx) : { ok: true, events };
}
