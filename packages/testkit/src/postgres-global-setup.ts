/**
 * Vitest global setup of the `engines-store` project: one PostgreSQL 15 server for the run. The
 * store's own suites (written against the embedded engine) then run on it unchanged: each test
 * database is a fresh `CREATE DATABASE` on this server (see `openTestDatabase` in @strata/db).
 */
import { startPostgres, type PostgresServer } from './postgres.js';

let server: PostgresServer | undefined;

export async function setup(): Promise<void> {
  server = await startPostgres();
  // Read by the test helpers only (never by Strata itself); workers start after this and inherit it.
  process.env.STRATA_TEST_PG_URL = server.url;
}

export async function teardown(): Promise<void> {
  await server?.close();
}
