/**
 * Load and diagnostics shared by the engines tests that run `strata start` processes under
 * load and then check the raw zone: every event carries a unique `seq` in its metrics, and
 * `acked` holds the seqs the platform acknowledged.
 */
import type { ObjectStore } from '@strata/storage';
import { countBy, readRawZone, waitUntil, type ServerProcess } from '@strata/testkit';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface LoadContext {
  readonly acked: Set<number>;
  /** The next unused seq. */
  next(): number;
  stopped(): boolean;
}

export interface Load {
  acked: Set<number>;
  /** Waits (up to a minute) until `by` more events are acknowledged, then reports it as a step. */
  progress(what: string, by: number, step: (what: string) => void): Promise<void>;
  /** Stops every worker and waits for their last sends. */
  stop(): Promise<void>;
}

/** Runs the workers until `stop()`. */
export function runLoad(workers: ((ctx: LoadContext) => Promise<void>)[]): Load {
  const acked = new Set<number>();
  let seq = 0;
  let stopped = false;
  const ctx: LoadContext = { acked, next: () => seq++, stopped: () => stopped };
  const running = Promise.all(workers.map((w) => w(ctx)));
  return {
    acked,
    async progress(what, by, step) {
      const before = acked.size;
      await waitUntil(`acknowledged events after ${what}`, () => acked.size >= before + by, 60_000);
      step(`${what}: ${acked.size} events acknowledged`);
    },
    async stop() {
      stopped = true;
      await running;
    },
  };
}

/**
 * A worker posting batches of `batch` events to `/v1/ingest`, pausing `pauseMs` between them. A
 * failed batch is sent again with the same event ids, as a client should: the stream's dedup
 * keeps it once even when the failed attempt was stored.
 */
export function httpBatches(url: string, key: string, opts: { prefix: string; devices: number; batch?: number; pauseMs: number }) {
  return async (ctx: LoadContext): Promise<void> => {
    while (!ctx.stopped()) {
      const seqs = Array.from({ length: opts.batch ?? 25 }, () => ctx.next());
      const body = JSON.stringify(seqs.map((seq) => ({ id: `${opts.prefix}-${seq}`, device: `${opts.prefix}-${seq % opts.devices}`, metrics: { seq } })));
      for (let attempt = 0; attempt < 20 && !ctx.stopped(); attempt++) {
        const res = await fetch(`${url}/v1/ingest`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(10_000),
        }).catch(() => undefined); // the process serving this connection died, or did not answer in time
        if (res?.status === 200) {
          for (const s of seqs) ctx.acked.add(s);
          break;
        }
        await sleep(100);
      }
      await sleep(opts.pauseMs);
    }
  };
}

/** A progress line on the test's output: a failure is read from the steps it got through. */
export function stepper(label: string): (what: string) => void {
  const began = Date.now();
  return (what) => process.stdout.write(`[${label} +${Math.round((Date.now() - began) / 1000)}s] ${what}\n`);
}

/** Prints what each process logged that tells the story (warnings, errors, `telling`) and its stderr. */
export function printProcessLogs(processes: ServerProcess[], telling?: RegExp): void {
  const wanted = (line: string): boolean => /"level":[56]0|"level":40/.test(line) || (telling?.test(line) ?? false);
  for (const p of processes) {
    const lines = p.stdout().split('\n').filter(wanted).slice(-80);
    process.stdout.write(`--- ${p.child.spawnargs.slice(2).join(' ')}\n${lines.join('\n')}\n${p.stderr().slice(-2000)}\n`);
  }
}

/**
 * Waits until every acknowledged seq is in the raw zone of `topic`; returns how often each seq
 * is there. On time-out, the error says how many are missing and which (the first few).
 */
export async function rawZoneHolding(store: ObjectStore, topic: string, acked: Set<number>, step: (what: string) => void, timeoutMs: number): Promise<Map<string, number>> {
  let raw = new Map<string, number>();
  let missing: number[] = [];
  try {
    await waitUntil(
      'every acknowledged event in the raw zone',
      async () => {
        raw = countBy(await readRawZone(store, topic), (l) => String((l.event.metrics as { seq: number }).seq));
        missing = [...acked].filter((s) => !raw.has(String(s)));
        step(`raw zone: ${raw.size} events, ${missing.length} acknowledged ones missing`);
        return missing.length === 0;
      },
      timeoutMs,
      1000,
    );
  } catch (err) {
    missing.sort((a, b) => a - b);
    throw new Error(`${(err as Error).message}: ${missing.length} missing, e.g. seq ${missing.slice(0, 20).join(', ')}`);
  }
  return raw;
}
