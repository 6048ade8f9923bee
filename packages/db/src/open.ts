/**
 * Opens the operational store: a PostgreSQL server by URL, or the embedded PGlite under a
 * directory, behind one Kysely instance; runs the migrations before anyone uses it.
 *
 * Embedded layout: `DIR/LOCK` (pid of the owner: PGlite is one process's, a second opener is
 * refused) and `DIR/pgdata/` (PGlite's PostgreSQL data directory). PGlite writes straight to
 * those files, so a `kill -9` loses nothing it has committed; on the next open PostgreSQL's
 * own crash recovery replays its WAL.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, type Driver } from 'kysely';
import pg from 'pg';
import { acquireDirLock, silentLogger, type Logger } from '@strata/core';
import { PGliteDriver } from './pglite-dialect.js';
import { SessionDialect } from './session-dialect.js';
import { migrateToLatest } from './migrate.js';
import { dbErrors } from './errors.js';
import type { Database } from './schema.js';

export interface DatabaseOptions {
  /** `postgres://user:pass@host:port/db`: a PostgreSQL server. Without it, PGlite under `dir`. */
  url?: string;
  /** Directory of the embedded database; without it (and without `url`) PGlite lives in memory. */
  dir?: string;
  /** Connections to a server. Default 10. */
  poolSize?: number;
  logger?: Logger;
}

export interface Db {
  readonly engine: 'pglite' | 'postgres';
  readonly kysely: Kysely<Database>;
  close(): Promise<void>;
}

const INT8_OID = 20;
// Counts and offsets: numbers, not strings (pg) or bigints; they stay far below 2^53.
const parseInt8 = (value: string): number => Number(value);

export async function openDatabase(opts: DatabaseOptions = {}): Promise<Db> {
  return (await openEngine(opts)).db;
}

/**
 * `openDatabase`, plus the embedded engine's driver: the database thread serves other threads'
 * queries through it, queued on the same session as its own (../thread).
 */
export async function openEngine(opts: DatabaseOptions): Promise<{ db: Db; driver?: Driver }> {
  const logger = opts.logger ?? silentLogger;
  const engine = opts.url ? { db: openServer(opts.url, opts.poolSize ?? 10, logger) } : await openEmbedded(opts.dir, logger);
  try {
    const { applied } = await migrateToLatest(engine.db.kysely as Kysely<unknown>);
    if (applied.length > 0) logger.info({ applied, engine: engine.db.engine }, 'database migrated');
    return engine;
  } catch (err) {
    await engine.db.close().catch(() => undefined);
    throw err;
  }
}

function openServer(url: string, poolSize: number, logger: Logger): Db {
  if (!/^postgres(ql)?:\/\//.test(url)) throw dbErrors.STRATA_ERR_DB_BAD_URL({ reason: 'unknown scheme' });
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    connectionTimeoutMillis: 5000,
    // A server that stops answering (network partition, no reset) fails queries instead of
    // hanging them: the state consumer retries and requests get their 5xx.
    keepAlive: true,
    query_timeout: 60_000,
    statement_timeout: 60_000,
    idle_in_transaction_session_timeout: 60_000,
    types: { getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === INT8_OID ? parseInt8 : pg.types.getTypeParser(oid, format))) as typeof pg.types.getTypeParser },
  });
  // An idle connection the server drops (restart, failover) must not crash the process: the
  // pool replaces it and the next query reports the outage to its caller.
  pool.on('error', (err) => logger.warn({ err: { message: err.message } }, 'database connection lost'));
  // So must a connection the server drops while it is checked out between two statements (a
  // transaction waiting on the application): pg emits 'error' on that client, which has no
  // listener then, and an unhandled 'error' event ends the process. Its next query fails instead.
  pool.on('connect', (client) => client.on('error', (err) => logger.warn({ err: { message: err.message } }, 'database connection lost while in use')));
  const kysely = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { engine: 'postgres', kysely, close: () => kysely.destroy() };
}

async function openEmbedded(dir: string | undefined, logger: Logger): Promise<{ db: Db; driver: Driver }> {
  let release: (() => Promise<void>) | undefined;
  let dataDir: string | undefined;
  if (dir) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    release = await acquireDirLock(dir, { logger, locked: dbErrors.STRATA_ERR_DB_LOCKED });
    dataDir = join(dir, 'pgdata');
  }
  try {
    const pglite = await PGlite.create({ ...(dataDir && { dataDir }), parsers: { [INT8_OID]: parseInt8 } });
    // One driver: the database thread lends connections of this same session mutex.
    const driver = new PGliteDriver(pglite);
    const kysely = new Kysely<Database>({ dialect: new SessionDialect(driver) });
    const db: Db = {
      engine: 'pglite',
      kysely,
      async close() {
        await kysely.destroy();
        if (!pglite.closed) await pglite.close();
        await release?.();
      },
    };
    return { db, driver };
  } catch (err) {
    await release?.();
    throw err;
  }
}
