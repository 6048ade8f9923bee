import type { IngestLimits } from '@strata/core';
import type { AppendRecord } from '@strata/stream';
import { encodeEvents, parseIngestBody, type IngestIssue } from './parse/index.js';

export interface PrepareContext {
  nowMs: number;
  limits: IngestLimits;
  source: string;
  /** Set for device-bound keys: every event must be of this device. */
  device?: string;
}

/** A request body made ready for one append, or the reason it is refused. Pure: runs inline or in a worker. */
export type PreparedBatch =
  | { ok: true; records: AppendRecord[]; bytes: number }
  | { ok: false; status: 400 | 413 | 415; issues: IngestIssue[] }
  | { ok: false; status: 403; foreignDevice: string };

export function prepareBatch(body: Buffer | string, contentType: string | undefined, ctx: PrepareContext): PreparedBatch {
  const parsed = parseIngestBody(body, contentType, ctx);
  if (!parsed.ok) return parsed;
  if (ctx.device !== undefined) {
    const other = parsed.events.find((e) => e.device !== ctx.device);
    if (other) return { ok: false, status: 403, foreignDevice: other.device };
  }
  return { ok: true, ...encodeEvents(parsed.events, ctx) };
}
