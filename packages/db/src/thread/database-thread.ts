/**
 * The database on its own thread (worker.ts), seen from the thread that serves HTTP and ingest:
 * - state batches go to `applier` and are decoded, coalesced and written there;
 * - queries use `db.kysely` as usual: for the embedded engine they cross to the thread (a
 *   "connection" is one the thread lends, holding PGlite's session until released), for a
 *   server this thread keeps its own pool and only the state work crosses.
 * If the thread dies, every call in flight and after fails; the platform reports it.
 */
import { Worker } from 'node:worker_threads';
import { Kysely, type CompiledQuery, type DatabaseConnection, type QueryResult } from 'kysely';
import { SessionConnection, SessionDialect, SessionDriver } from '../session-dialect.js';
import { silentLogger, StrataError, type Logger } from '@strata/core';
import { openDatabase, type DatabaseOptions, type Db } from '../open.js';
import type { StateApplier } from '../state/apply.js';
import { OffsetsMoved } from '../state/write.js';
import type { Database } from '../schema.js';
import type { Ready, Reply, Request, WireError, WorkerConfig } from './protocol.js';

type Call = { [K in Request['op']]: Omit<Extract<Request, { op: K }>, 'id'> }[Request['op']];
type Answer = Omit<Extract<Reply, { ok: true }>, 'id' | 'ok'>;

function rebuild(e: WireError): Error {
  if (e.moved) return new OffsetsMoved(e.moved);
  if (e.code?.startsWith('STRATA_ERR_')) return new StrataError(e.code, e.statusCode ?? 500, e.message, e.details ?? {});
  return Object.assign(new Error(e.message), e.code !== undefined && { code: e.code });
}

class Channel {
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve(a: Answer): void; reject(err: Error): void }>();
  #next = 1;
  #dead: Error | undefined;

  constructor(worker: Worker, logger: Logger) {
    this.#worker = worker;
    worker.on('message', (msg: Reply | Ready) => {
      if ('ready' in msg) return;
      const call = this.#pending.get(msg.id);
      this.#pending.delete(msg.id);
      if (msg.ok) call?.resolve(msg);
      else call?.reject(rebuild(msg.error));
    });
    const die = (err: Error): void => {
      this.#dead ??= err;
      for (const call of this.#pending.values()) call.reject(err);
      this.#pending.clear();
    };
    worker.on('error', (err) => {
      logger.error({ err }, 'database thread failed');
      die(err);
    });
    worker.on('exit', (code) => die(new Error(`database thread exited (code ${code})`)));
  }

  call(msg: Call): Promise<Answer> {
    if (this.#dead) return Promise.reject(this.#dead);
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ ...msg, id });
    });
  }
}

class RemoteConnection extends SessionConnection {
  constructor(
    private readonly channel: Channel,
    readonly id: number,
  ) {
    super();
  }

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const { rows, affected } = await this.channel.call({ op: 'query', conn: this.id, sql: query.sql, params: query.parameters });
    return { rows: (rows ?? []) as R[], ...(affected !== undefined && { numAffectedRows: BigInt(affected) }) };
  }
}

/** Connections the database thread lends: each holds its engine's session until released. */
class RemoteDriver extends SessionDriver {
  constructor(private readonly channel: Channel) {
    super();
  }
  async acquireConnection(): Promise<DatabaseConnection> {
    const { conn } = await this.channel.call({ op: 'acquire' });
    return new RemoteConnection(this.channel, conn!);
  }
  async releaseConnection(c: DatabaseConnection): Promise<void> {
    await this.channel.call({ op: 'release', conn: (c as RemoteConnection).id });
  }
}

/** Opens (and migrates) the database on a thread of its own; see the header. */
export async function openDatabaseThread(opts: DatabaseOptions): Promise<{ db: Db; applier: StateApplier }> {
  const logger = opts.logger ?? silentLogger;
  const config: WorkerConfig = { ...(opts.url ? { url: opts.url } : { dir: opts.dir }), ...(opts.poolSize !== undefined && { poolSize: opts.poolSize }) };
  const worker = new Worker(new URL('./worker-entry.js', import.meta.url), { workerData: config });
  const ready = await new Promise<Ready>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`database thread exited (code ${code}) before it was ready`)));
  });
  if (!ready.ready) {
    await worker.terminate();
    throw rebuild(ready.error);
  }
  const channel = new Channel(worker, logger);
  // A server is reached from here directly (its own pool); the embedded engine only through the thread.
  const local = opts.url ? await openDatabase({ ...opts, url: opts.url }) : undefined;
  const kysely = local?.kysely ?? new Kysely<Database>({ dialect: new SessionDialect(new RemoteDriver(channel)) });
  const db: Db = {
    engine: ready.engine,
    kysely,
    async close() {
      if (local) await local.close();
      else await kysely.destroy();
      await channel.call({ op: 'close' }).catch(() => undefined);
      await worker.terminate();
    },
  };
  // Copied, not transferred: a batch the database refused is sent again as it was.
  const applier: StateApplier = {
    apply: async (req) => (await channel.call({ op: 'apply', req })).result!,
    dropRollupsBefore: async (firstDay) => (await channel.call({ op: 'dropRollupsBefore', firstDay })).dropped!,
  };
  return { db, applier };
}
