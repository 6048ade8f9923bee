import type { IngestLimits } from '@strata/core';
import type { AppendRecord } from '@strata/stream';
import { parseIngestBody, type IngestIssue } from './parse/index.js';
import { recordsFromColumns, type RecordColumns } from './parse/columns.js';
import { encodeColumns } from './parse/encode.js';

export interface PrepareContext {
  nowMs: number;
  limits: IngestLimits;
  source: string;
  /** Set for device-bound keys: every event must be of this device. */
  device?: string;
}

/** Why a request body is refused. */
export type Refusal = { ok: false; status: 400 | 413 | 415; issues: IngestIssue[] } | { ok: false; status: 403; foreignDevice: string };

/** A request body made ready for one append, or the reason it is refused. Pure: runs inline or in a worker. */
export type PreparedBatch = { ok: true; records: AppendRecord[]; bytes: number } | Refusal;

/** `prepareBatch` with the records as columns, the form a worker sends back. */
export function prepareColumns(body: Buffer | string, contentType: string | undefined, ctx: PrepareContext): { ok: true; columns: RecordColumns; bytes: number } | Refusal {
  const parsed = parseIngestBody(body, contentType, ctx);
  if (!parsed.ok) return parsed;
  if (ctx.device !== undefined) {
    const other = parsed.events.find((e) => e.device !== ctx.device);
    if (other) return { ok: false, status: 403, foreignDevice: other.device };
  }
  return { ok: true, ...encodeColumns(parsed.events, ctx) };
}

export function prepareBatch(body: Buffer | string, contentType: string | undefined, ctx: PrepareContext): PreparedBatch {
  const prepared = prepareColumns(body, contentType, ctx);
  return prepared.ok ? { ok: true, records: recordsFromColumns(prepared.columns), bytes: prepared.bytes } : prepared;
}
