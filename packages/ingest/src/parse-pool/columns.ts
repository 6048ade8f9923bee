import type { AppendRecord } from '@strata/stream';

/**
 * Encoded records as a few flat arrays, so a worker can hand a batch to the main thread with
 * one transfer of the value bytes instead of structured-cloning hundreds of small objects.
 */
export interface RecordColumns {
  values: Uint8Array;
  /** End offset of each record's value in `values`. */
  ends: Uint32Array;
  ts: Float64Array;
  keys: string[];
  /** Client ids, or undefined where the server assigned one (absent when none is a client id). */
  ids?: (string | undefined)[];
}

export function toColumns(records: AppendRecord[]): { columns: RecordColumns; transfer: ArrayBuffer[] } {
  const n = records.length;
  let total = 0;
  for (const r of records) total += r.value.length;
  const values = new Uint8Array(total);
  const ends = new Uint32Array(n);
  const ts = new Float64Array(n);
  const keys = new Array<string>(n);
  let ids: (string | undefined)[] | undefined;
  let off = 0;
  for (let i = 0; i < n; i++) {
    const r = records[i]!;
    values.set(r.value, off);
    off += r.value.length;
    ends[i] = off;
    ts[i] = r.ts ?? 0;
    keys[i] = r.key;
    if (r.id !== undefined) (ids ??= new Array<string | undefined>(n))[i] = r.id;
  }
  return { columns: { values, ends, ts, keys, ...(ids && { ids }) }, transfer: [values.buffer, ends.buffer, ts.buffer] };
}

export function fromColumns(c: RecordColumns): AppendRecord[] {
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
