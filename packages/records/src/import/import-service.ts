/**
 * Imports asked through the API (`POST /v1/imports`): recorded in `imports`, run one at a time in
 * this process, in the background; `get` follows one (status, phase, rows so far, the report at
 * the end). An import is all-or-nothing, so one whose process died was not loaded at all: on the
 * next start the service marks what this host's dead processes left running as FAILED.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { isProcessAlive, silentLogger, type Logger } from '@strata/core';
import { recordsErrors } from '../errors.js';
import type { RecordKeys } from '../keys.js';
import type { ImportsTable, RecordsDb } from '../schema.js';
import { importPatients, type ImportPhase } from './import.js';
import type { Selectable } from 'kysely';

export type ImportRow = Selectable<ImportsTable>;

export interface ImportServiceOptions {
  db: RecordsDb;
  keys: RecordKeys;
  batchSize?: number;
  logger?: Logger;
}

/** Progress is written at most this often (ms): the import itself is not slowed by its bookkeeping. */
const PROGRESS_EVERY_MS = 500;

export class ImportService {
  private readonly owner = `${hostname()}/${process.pid}`;
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(private readonly opts: ImportServiceOptions) {}

  static async open(opts: ImportServiceOptions): Promise<ImportService> {
    const host = hostname();
    const stale = await opts.db.selectFrom('imports').select(['id', 'owner']).where('status', 'in', ['QUEUED', 'RUNNING']).where('owner', 'like', `${host}/%`).execute();
    for (const s of stale) {
      const pid = Number(s.owner.slice(host.length + 1));
      if (pid !== process.pid && !isProcessAlive(pid)) {
        await opts.db.updateTable('imports').set({ status: 'FAILED', finished_at: new Date(), error: 'the process running it stopped; nothing of it was loaded (an import is all-or-nothing): run it again' }).where('id', '=', s.id).execute();
      }
    }
    return new ImportService(opts);
  }

  /** Records the import and queues it; answers at once with its id. */
  async submit(file: { id?: string; name: string; body: Buffer }, requestedBy: string): Promise<{ import_id: string; status: 'QUEUED' }> {
    const id = file.id ?? randomUUID();
    await this.opts.db.insertInto('imports').values({ id, status: 'QUEUED', file_name: file.name, requested_by: requestedBy, owner: this.owner }).execute();
    this.queue = this.queue.then(() => this.run(id, file.body));
    return { import_id: id, status: 'QUEUED' };
  }

  async get(id: string): Promise<ImportRow> {
    const row = await this.opts.db.selectFrom('imports').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw recordsErrors.STRATA_ERR_RECORDS_IMPORT_NOT_FOUND({ id });
    return row;
  }

  /** Waits for queued imports to finish. */
  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
  }

  private async run(id: string, body: Buffer): Promise<void> {
    const { db, logger = silentLogger } = this.opts;
    if (this.closed) return;
    await db.updateTable('imports').set({ status: 'RUNNING', started_at: new Date(), phase: 'read' }).where('id', '=', id).execute();
    let lastWrite = 0;
    let pending: Promise<unknown> = Promise.resolve();
    const progress = (p: { phase: ImportPhase; rows: number }) => {
      const now = Date.now();
      if (now - lastWrite < PROGRESS_EVERY_MS) return;
      lastWrite = now;
      pending = pending.then(() => db.updateTable('imports').set({ phase: p.phase, rows_read: p.rows }).where('id', '=', id).execute()).catch(() => undefined);
    };
    try {
      const report = await importPatients({ db, keys: this.opts.keys, source: [body], importId: id, ...(this.opts.batchSize !== undefined && { batchSize: this.opts.batchSize }), onProgress: progress });
      await pending;
      await db
        .updateTable('imports')
        .set({ status: report.ok ? 'SUCCEEDED' : 'FAILED', finished_at: new Date(), phase: null, rows_read: report.rowsRead, report: JSON.stringify(report), error: report.ok ? null : 'integrity checks differ (see report.checks)' })
        .where('id', '=', id)
        .execute();
      logger.info({ importId: id, rows: report.rowsRead, loaded: report.admissions.inserted, ok: report.ok, seconds: report.seconds.total }, 'patient import finished');
    } catch (err) {
      await pending;
      const message = err instanceof Error ? err.message : String(err);
      logger.warn({ importId: id, err: { message } }, 'patient import failed');
      await db.updateTable('imports').set({ status: 'FAILED', finished_at: new Date(), error: message.slice(0, 2000) }).where('id', '=', id).execute().catch(() => undefined);
    }
  }
}
