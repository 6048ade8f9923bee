import { Worker } from 'node:worker_threads';
import { ingestErrors } from '../errors.js';
import { recordsFromColumns, type RecordColumns } from '../parse/columns.js';
import { prepareBatch, type PrepareContext, type PreparedBatch, type Refusal } from '../prepare.js';
import type { PrepareJob } from './worker.js';

type Reply = { id: number; prepared: Refusal } | { id: number; columns: RecordColumns; bytes: number };

interface Pending {
  resolve: (p: PreparedBatch) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
  startedAt: number;
  /** Deaths in a row of workers that died soon after starting (for the respawn backoff). */
  quickDeaths: number;
}

/** A worker that dies within this long of starting counts as a quick death: respawns back off. */
const QUICK_DEATH_MS = 5_000;
const MAX_RESPAWN_DELAY_MS = 30_000;

export interface ParsePoolOptions {
  workers: number;
  /** Worker script; tests point it at a fixture. */
  workerUrl?: URL;
  onWorkerError?: (err: Error) => void;
}

const DEFAULT_WORKER = new URL('./worker-entry.js', import.meta.url);

/**
 * Parses and encodes large request bodies on worker threads, so the main thread (HTTP, stream,
 * delivery) keeps a core to itself. Jobs go to the worker with the fewest in flight. A worker
 * that dies fails its in-flight jobs with STRATA_ERR_INGEST_UNAVAILABLE (the client retries;
 * nothing was appended) and is replaced; workers that keep dying right after they start are
 * respawned with a growing delay (up to 30 s), and meanwhile bodies are parsed inline.
 */
export class ParsePool {
  /** undefined while a dead worker's replacement waits out its backoff. */
  readonly #slots: (Slot | undefined)[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #opts: ParsePoolOptions;
  #nextId = 0;
  #closed = false;

  constructor(opts: ParsePoolOptions) {
    this.#opts = opts;
    for (let i = 0; i < opts.workers; i++) this.#slots.push(this.#spawn(0));
  }

  #spawn(quickDeaths: number): Slot {
    const slot: Slot = { worker: new Worker(this.#opts.workerUrl ?? DEFAULT_WORKER), pending: new Map(), startedAt: Date.now(), quickDeaths };
    slot.worker.on('message', (reply: Reply) => {
      const job = slot.pending.get(reply.id);
      if (!job) return;
      slot.pending.delete(reply.id);
      job.resolve('prepared' in reply ? reply.prepared : { ok: true, records: recordsFromColumns(reply.columns), bytes: reply.bytes });
    });
    const fail = (err: Error): void => {
      const index = this.#slots.indexOf(slot);
      if (index < 0) return;
      for (const job of slot.pending.values()) job.reject(ingestErrors.STRATA_ERR_INGEST_UNAVAILABLE({ reason: 'a parse worker failed' }, err));
      slot.pending.clear();
      if (this.#closed) return;
      this.#opts.onWorkerError?.(err);
      const deaths = Date.now() - slot.startedAt < QUICK_DEATH_MS ? slot.quickDeaths + 1 : 0;
      if (deaths <= 1) {
        this.#slots[index] = this.#spawn(deaths);
        return;
      }
      this.#slots[index] = undefined;
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        if (!this.#closed) this.#slots[index] = this.#spawn(deaths);
      }, Math.min(MAX_RESPAWN_DELAY_MS, 100 * 2 ** deaths));
      this.#timers.add(timer);
    };
    slot.worker.on('error', fail);
    slot.worker.on('exit', (code) => fail(new Error(`parse worker exited with code ${code}`)));
    return slot;
  }

  prepare(body: Buffer, contentType: string | undefined, ctx: PrepareContext): Promise<PreparedBatch> {
    if (this.#closed) return Promise.reject(ingestErrors.STRATA_ERR_INGEST_UNAVAILABLE({ reason: 'shutting down' }));
    let slot: Slot | undefined;
    for (const s of this.#slots) if (s && (!slot || s.pending.size < slot.pending.size)) slot = s;
    if (!slot) return Promise.resolve(prepareBatch(body, contentType, ctx)); // every worker is backing off
    const target = slot;
    const id = this.#nextId++;
    // Copy into a buffer of its own so it can be transferred: the body may share a pooled ArrayBuffer.
    const copy = new Uint8Array(body.length);
    copy.set(body);
    const job: PrepareJob = { id, body: copy, contentType, ctx };
    return new Promise((resolve, reject) => {
      target.pending.set(id, { resolve, reject });
      target.worker.postMessage(job, [copy.buffer]);
    });
  }

  /** Waits for in-flight jobs, then stops the workers. */
  async close(): Promise<void> {
    if (this.#closed) return;
    while (this.#slots.some((s) => s && s.pending.size > 0)) await new Promise((r) => setTimeout(r, 5));
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    await Promise.all(this.#slots.map((s) => s?.worker.terminate()));
  }
}
