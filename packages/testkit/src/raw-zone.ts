import { gunzipSync } from 'node:zlib';
import type { ObjectStore } from '@strata/storage';

export interface RawLine {
  /** Object the line came from. */
  key: string;
  event: Record<string, unknown>;
}

/** Every event line in the raw zone of `topic`, read back through the object store (gunzip + NDJSON). */
export async function readRawZone(store: ObjectStore, topic: string): Promise<RawLine[]> {
  const lines: RawLine[] = [];
  for await (const obj of store.list(`raw/${topic}/`)) {
    const body = await store.get(obj.key);
    if (!body) continue;
    for (const line of gunzipSync(body).toString('utf8').split('\n')) {
      if (line) lines.push({ key: obj.key, event: JSON.parse(line) as Record<string, unknown> });
    }
  }
  return lines;
}

/** How many times each value occurs: `counts.get(id) === 1` for everything means exactly once. */
export function countBy<T>(items: T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) {
    const k = key(item);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return counts;
}
