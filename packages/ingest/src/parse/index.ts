import { isUtf8 } from 'node:buffer';
import type { IngestLimits } from '@strata/core';
import { formatFor } from './content-type.js';
import type { ParseContext } from './context.js';
import { IssueList } from './issues.js';
import { parseJsonBody } from './json.js';
import { isBlank, parseNdjsonBody } from './ndjson.js';
import { parseSenmlBody } from './senml.js';
import type { ParseResult } from './types.js';

export type { ParsedEvent, IngestIssue, ParseResult } from './types.js';
export { ACCEPTED_TYPES } from './content-type.js';
export { MAX_ISSUES } from './issues.js';
export { encodeEvents } from './encode.js';

/**
 * Parses and validates one ingest request body (JSON, NDJSON or SenML, chosen by Content-Type;
 * see the package README, "Payload formats"). All-or-nothing: either every item is a valid
 * event, or the result lists an issue per invalid item (at most MAX_ISSUES, plus a summary).
 * 415 for an unsupported content type or charset, 413 for too many events (decided before the
 * items are checked), 400 for anything else. Never throws on bad input.
 */
export function parseIngestBody(body: Buffer | string, contentType: string | undefined, ctx: { nowMs: number; limits: IngestLimits; device?: string }): ParseResult {
  const format = formatFor(contentType);
  if (typeof format !== 'string') return { ok: false, status: 415, issues: [{ index: 0, field: '', reason: format.reason }] };
  let text: string;
  if (typeof body === 'string') {
    text = body;
  } else {
    if (!isUtf8(body)) return { ok: false, status: 400, issues: [{ index: 0, field: '', reason: 'body is not valid UTF-8' }] };
    text = body.toString('utf8');
  }
  // RFC 8259 §8.1 lets a parser ignore a byte order mark; JSON.parse would not.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (isBlank(text)) return { ok: false, status: 400, issues: [{ index: 0, field: '', reason: 'body is empty' }] };
  const cx: ParseContext = { nowMs: ctx.nowMs, limits: ctx.limits, issues: new IssueList(), ...(ctx.device !== undefined && { device: ctx.device }) };
  switch (format) {
    case 'json':
      return parseJsonBody(text, cx);
    case 'ndjson':
      return parseNdjsonBody(text, cx);
    case 'senml':
      return parseSenmlBody(text, cx);
  }
}
