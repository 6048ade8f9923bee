/**
 * The database thread: owns the engine (embedded PGlite, whose WASM runs on the thread that
 * calls it, or a pool to a server), runs state batches next to it, and serves other threads'
 * queries on connections it lends out. So the thread that serves HTTP and ingest never runs the
 * database or decodes telemetry for it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { CompiledQuery, type DatabaseConnection, type Driver } from 'kysely';
import { StrataError } from '@strata/core';
import { openEngine } from '../open.js';
import { localApplier } from '../state/apply.js';
import { OffsetsMoved } from '../state/write.js';
import type { Ready, Reply, Request, WireError, WorkerConfig } from './protocol.js';

const port = parentPort!;
const config = workerData as WorkerConfig;

function wire(err: unknown): WireError {
  const e = err as Error & { code?: unknown };
  return {
    message: e?.message ?? String(err),
    ...(typeof e?.code === 'string' && { code: e.code }),
    ...(err instanceof StrataError && { statusCode: err.statusCode, details: { ...err.details } }),
    ...(err instanceof OffsetsMoved && { moved: err.partitions }),
  };
}

try {
  const { db, driver } = await openEngine({ ...(config.url ? { url: config.url } : { dir: config.dir }), ...(config.poolSize !== undefined && { poolSize: config.poolSize }) });
  const applier = localApplier(db.kysely);
  // Connections lent to other threads (embedded engine only: a server is reached directly).
  const lent = new Map<number, DatabaseConnection>();
  let nextConn = 1;
  const lender: Driver | undefined = driver;

  const handle = async (msg: Request): Promise<Omit<Extract<Reply, { ok: true }>, 'id' | 'ok'>> => {
    switch (msg.op) {
      case 'acquire': {
        if (!lender) throw new Error('this database thread lends no connections (the engine is a server)');
        const conn = nextConn++;
        lent.set(conn, await lender.acquireConnection());
        return { conn };
      }
      case 'query': {
        const connection = lent.get(msg.conn);
        if (!connection) throw new Error(`no connection ${msg.conn}`);
        const result = await connection.executeQuery(CompiledQuery.raw(msg.sql, [...msg.params]));
        return { rows: result.rows, ...(result.numAffectedRows !== undefined && { affected: String(result.numAffectedRows) }) };
      }
      case 'release': {
        const connection = lent.get(msg.conn);
        lent.delete(msg.conn);
        if (connection) await lender!.releaseConnection(connection);
        return {};
      }
      case 'apply':
        return { result: await applier.apply(msg.req) };
      case 'dropRollupsBefore':
        return { dropped: await applier.dropRollupsBefore(msg.firstDay) };
      case 'close':
        await db.close();
        return {};
    }
  };

  port.on('message', (msg: Request) => {
    handle(msg).then(
      (reply) => port.postMessage({ id: msg.id, ok: true, ...reply } satisfies Reply),
      (err: unknown) => port.postMessage({ id: msg.id, ok: false, error: wire(err) } satisfies Reply),
    );
  });
  port.postMessage({ ready: true, engine: db.engine } satisfies Ready);
} catch (err) {
  port.postMessage({ ready: false, error: wire(err) } satisfies Ready);
}
