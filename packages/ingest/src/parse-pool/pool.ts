import { Worker } from 'node:worker_threads';
import { ingestErrors } from '../errors.js';
import { recordsFromColumns, type RecordColumns } from '../parse/columns.js';
import type { PrepareContext, PreparedBatch, Refusal } from '../prepare.js';
import type { PrepareJob } from './worker.js';

type Reply = { id: number; prepared: Refusal } | { id: number; columns: RecordColumns; bytes: number };

interface Pending {
  resolve: (p: PreparedBatch) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

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
 * nothing was appended) and is replaced.
 */
export class ParsePool {
  readonly #slots: Slot[] = [];
  readonly #opts: ParsePoolOptions;
  #nextId = 0;
  #closed = false;

  constructor(opts: ParsePoolOptions) {
    this.#opts = opts;
    for (let i = 0; i < opts.workers; i++) this.#slots.push(this.#spawn());
  }

  #spawn(): Slot {
    const slot: Slot = { worker: new Worker(this.#opts.workerUrl ?? DEFAULT_WORKER), pending: new Map() };
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
      this.#slots[index] = this.#spawn();
    };
    slot.worker.on('error', fail);
    slot.worker.on('exit', (code) => fail(new Error(`parse worker exited with code ${code}`)));
    return slot;
  }

  prepare(body: Buffer, contentType: string | undefined, ctx: PrepareContext): Promise<PreparedBatch> {
    if (this.#closed) return Promise.reject(ingestErrors.STRATA_ERR_INGEST_UNAVAILABLE({ reason: 'shutting down' }));
    let slot = this.#slots[0]!;
    for (const s of this.#slots) if (s.pending.size < slot.pending.size) slot = s;
    const id = this.#nextId++;
    // Copy into a buffer of its own so it can be transferred: the body may share a pooled ArrayBuffer.
    const copy = new Uint8Array(body.length);
    copy.set(body);
    const job: PrepareJob = { id, body: copy, contentType, ctx };
    return new Promise((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage(job, [copy.buffer]);
    });
  }

  /** Waits for in-flight jobs, then stops the workers. */
  async close(): Promise<void> {
    if (this.#closed) return;
    while (this.#slots.some((s) => s.pending.size > 0)) await new Promise((r) => setTimeout(r, 5));
    this.#closed = true;
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }
}
