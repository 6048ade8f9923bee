/** Helpers for the state consumer's tests (not part of the package API). */
import type { TelemetryEvent } from '@strata/core';
import type { AppendRecord, Consumer, Stream } from '@strata/stream';

export const TOPIC = 'telemetry';
/** A fixed "now" for the consumer's clock: 2025-12-04T12:00Z. */
export const NOW = Date.UTC(2025, 11, 4, 12);
export const MINUTE = 60_000;
export const DAY = 86_400_000;

let seq = 0;

/** A TelemetryEvent as ingest writes it. */
export function event(device: string, tsMs: number, metrics: Record<string, number>, tags?: Record<string, string>, id = `e-${++seq}`): TelemetryEvent {
  return {
    id,
    device,
    ts: new Date(tsMs).toISOString(),
    metrics,
    ...(tags && { tags }),
    received_at: new Date(tsMs).toISOString(),
    source: 'test',
  };
}

export function record(ev: TelemetryEvent): AppendRecord {
  return { key: ev.device, value: Buffer.from(JSON.stringify(ev)), ts: Date.parse(ev.ts) };
}

export async function append(stream: Stream, events: TelemetryEvent[]): Promise<void> {
  await stream.append(TOPIC, events.map(record));
}

/** Appends raw values (bad records) under `key`. */
export async function appendRaw(stream: Stream, key: string, values: string[]): Promise<void> {
  await stream.append(TOPIC, values.map((v) => ({ key, value: Buffer.from(v) })));
}

/** Polls `check` until it returns true (every 10 ms, up to `timeoutMs`). */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export { memoryLogger } from '@strata/testkit';

/**
 * The stream, except that its consumers' commits are lost: as if the process died after each
 * database commit and before the stream commit.
 */
export function withLostStreamCommits(stream: Stream): Stream {
  return new Proxy(stream, {
    get(target, prop, receiver) {
      if (prop !== 'consumer') {
        const value: unknown = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      }
      return async (opts: Parameters<Stream['consumer']>[0]): Promise<Consumer> => {
        const inner = await target.consumer(opts);
        return new Proxy(inner, {
          get(c, p) {
            if (p === 'commit') return async () => undefined;
            const v: unknown = Reflect.get(c, p, c);
            return typeof v === 'function' ? v.bind(c) : v;
          },
        });
      };
    },
  });
}
