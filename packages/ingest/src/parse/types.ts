/** One event as the parsers hand it over: validated, times resolved, booleans already 1/0. */
export interface ParsedEvent {
  /** Client-supplied idempotency key; absent when the server assigns one at encoding. */
  id?: string;
  device: string;
  /** Event time, Unix ms. */
  tsMs: number;
  metrics: Record<string, number>;
  tags?: Record<string, string>;
}

/** One problem with a request. Bounded: quoted input is cut to about 40 characters. */
export interface IngestIssue {
  /**
   * Where in the request: JSON array index (0 for a single object), NDJSON physical line
   * (0-based, blank lines counted), SenML record index. The "and N more" summary carries the
   * index of the first issue it leaves out.
   */
  index: number;
  /** Path of the offending input field, e.g. `timestamp`, `metrics.temperature`, `bn`; `` for the whole item or body. */
  field: string;
  reason: string;
}

export type ParseResult =
  | { ok: true; events: ParsedEvent[] }
  | { ok: false; status: 400 | 413 | 415; issues: IngestIssue[] };
