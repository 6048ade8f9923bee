/**
 * The Kysely driver for PGlite (PostgreSQL compiled to WASM, in-process). PGlite has one session,
 * so acquiring a connection is taking a mutex around it: a transaction holds the session until
 * it ends, and everything else waits its turn.
 */
import type { PGlite } from '@electric-sql/pglite';
import type { CompiledQuery, DatabaseConnection, QueryResult } from 'kysely';
import { SessionConnection, SessionDriver } from './session-dialect.js';

class PGliteConnection extends SessionConnection {
  constructor(private readonly pg: PGlite) {
    super();
  }

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    // Like node-postgres: without parameters, the simple protocol (several statements allowed,
    // as migrations need); with them, the extended one.
    const result = query.parameters.length === 0
      ? (await this.pg.exec(query.sql)).at(-1) ?? { rows: [] as R[], affectedRows: 0 }
      : await this.pg.query<R>(query.sql, query.parameters as unknown[]);
    return {
      rows: result.rows as R[],
      ...(result.affectedRows !== undefined && { numAffectedRows: BigInt(result.affectedRows) }),
    };
  }
}

export class PGliteDriver extends SessionDriver {
  readonly #connection: PGliteConnection;
  #queue: Promise<void> = Promise.resolve();
  #release: (() => void) | undefined;

  constructor(pg: PGlite) {
    super();
    this.#connection = new PGliteConnection(pg);
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const previous = this.#queue;
    this.#queue = previous.then(() => mine);
    await previous;
    this.#release = release;
    return this.#connection;
  }

  async releaseConnection(): Promise<void> {
    const release = this.#release;
    this.#release = undefined;
    release?.();
  }
}
