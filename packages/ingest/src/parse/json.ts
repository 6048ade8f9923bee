import type { ParseContext } from './context.js';
import { isPlainObject, typeName } from './issues.js';
import { eventFromItem } from './item.js';
import { NOT_JSON, parseBodyJson } from './json-syntax.js';
import { invalid, tooMany } from './result.js';
import type { ParseResult, ParsedEvent } from './types.js';

/** `application/json`: one event object or an array of them. */
export function parseJsonBody(text: string, cx: ParseContext): ParseResult {
  const doc = parseBodyJson(text, cx);
  if (doc === NOT_JSON) return invalid(cx);
  if (Array.isArray(doc)) {
    const n = doc.length;
    if (n === 0) {
      cx.issues.add(0, '', 'body is an empty array; send at least one event');
      return invalid(cx);
    }
    if (n > cx.limits.maxEventsPerRequest) return tooMany(n, cx.limits.maxEventsPerRequest, cx.limits.maxEventsPerRequest);
    const events: ParsedEvent[] = [];
    for (let i = 0; i < n; i++) {
      const ev = eventFromItem(doc[i], i, cx);
      if (ev !== undefined) events.push(ev);
    }
    return cx.issues.count > 0 ? invalid(cx) : { ok: true, events };
  }
  if (!isPlainObject(doc)) {
    cx.issues.add(0, '', `body must be a JSON object or an array of objects, got ${typeName(doc)}`);
    return invalid(cx);
  }
  const ev = eventFromItem(doc, 0, cx);
  return ev === undefined ? invalid(cx) : { ok: true, events: [ev] };
}
