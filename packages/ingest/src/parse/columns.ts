import type { AppendRecord } from '@strata/stream';

/**
 * An encoded batch as a few flat arrays: what the encoder builds, and what a parse worker hands
 * to the main thread with one transfer instead of structured-cloning hundreds of small objects.
 */
export interface RecordColumns {
  /** Every record's value, back to back; `values.buffer` holds nothing else, so it can be transferred. */
  values: Uint8Array<ArrayBuffer>;
  /** End offset of each record's value in `values`. */
  ends: Uint32Array<ArrayBuffer>;
  ts: Float64Array<ArrayBuffer>;
  keys: string[];
  /** Client ids, or undefined where the server assigned one (absent when none is a client id). */
  ids?: (string | undefined)[];
}

/** The records of a batch; each value is a view of `values`. */
export function recordsFromColumns(c: RecordColumns): AppendRecord[] {
  const values = Buffer.from(c.values.buffer, c.values.byteOffset, c.values.byteLength);
  const n = c.keys.length;
  const records = new Array<AppendRecord>(n);
  let start = 0;
  for (let i = 0; i < n; i++) {
    const end = c.ends[i]!;
    const id = c.ids?.[i];
    const value = values.subarray(start, end);
    records[i] = id === undefined ? { key: c.keys[i]!, ts: c.ts[i]!, value } : { key: c.keys[i]!, id, ts: c.ts[i]!, value };
    start = end;
  }
  return records;
}
