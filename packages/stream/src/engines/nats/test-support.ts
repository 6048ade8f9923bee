import type { Consumer, Stream, StreamRecord } from '../../types.js';

/** Test helpers for the NATS engine's own tests (not part of the package API). */

/**
 * Polls `fn` until it returns something other than undefined, null or false. Bounded, so a broken
 * engine fails the test instead of hanging it; the bound is not an assertion on time.
 */
export async function until<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 60_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== null && v !== false) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Reads from a consumer until `n` records came or a read waited `waitMs` for nothing. */
export async function consume(c: Consumer, n: number, waitMs = 500): Promise<StreamRecord[]> {
  const out: StreamRecord[] = [];
  while (out.length < n) {
    const batch = await c.read({ maxRecords: 200, maxWaitMs: waitMs });
    if (batch.length === 0) break;
    out.push(...batch);
  }
  return out;
}

/** Every record of a topic, partition by partition, in offset order. */
export async function readAll(stream: Stream, topic: string): Promise<StreamRecord[]> {
  const info = await stream.describe(topic);
  const out: StreamRecord[] = [];
  for (const p of info.partitions) {
    for (let offset = p.startOffset; ; ) {
      const batch = await stream.read(topic, p.partition, offset, { maxRecords: 1000 });
      if (batch.length === 0) break;
      out.push(...batch);
      offset = batch[batch.length - 1]!.offset + 1;
    }
  }
  return out;
}
