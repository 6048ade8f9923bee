/**
 * A real PostgreSQL 15 server per test file, on 127.0.0.1 and a fresh data dir.
 *
 * Layout: `dataDir` is a new directory under the OS temp dir (`strata-pg-XXXXXX`), owned by the
 * `postgres` OS user; it is the cluster's PGDATA and also holds the server log (`postgres.log`)
 * and the Unix socket. Nothing is shared between servers, so test files never see each other's data.
 *
 * Lifecycle: the postmaster is a daemon (pg_ctl detaches it), so it outlives the test process
 * unless someone stops it. Tests call `close()` in `afterAll`; as a last resort, servers still
 * running when the process exits normally get a fast-shutdown signal (synchronously, from the
 * `exit` event); their data dirs stay behind. A SIGKILLed test process leaves its servers running.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { isProcessAlive } from '@strata/core';
import { freePort } from './free-port.js';

const BIN = '/usr/lib/postgresql/15/bin';

export interface PostgresServer {
  /** `postgres://postgres@127.0.0.1:PORT/postgres` (trust authentication, no password). */
  url: string;
  port: number;
  /** The cluster's PGDATA (also holds `postgres.log`). */
  dataDir: string;
  /** Fast shutdown (clients are disconnected); the data stays. No-op when not running. */
  stop(): Promise<void>;
  /** Starts again on the same port and data. No-op when running; throws after `close()`. */
  start(): Promise<void>;
  /** CREATE DATABASE `name` (default: a new unique name) and return its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Stops the server and removes the data dir. Idempotent; call it in `afterAll`. */
  close(): Promise<void>;
}

/** Postmaster PIDs of servers started by this process and not stopped yet. */
const running = new Map<PostgresServer, number>();
let exitHookInstalled = false;

/**
 * initdb + start a PostgreSQL 15 server on 127.0.0.1 (`opts.port`, or a free port).
 * Needs the Debian packages (`bash scripts/engines.sh install`). As root, the server runs as the
 * `postgres` OS user (initdb and pg_ctl refuse root); otherwise as the current user.
 */
export async function startPostgres(opts: { port?: number } = {}): Promise<PostgresServer> {
  for (const bin of ['postgres', 'initdb', 'pg_ctl']) {
    if (!existsSync(join(BIN, bin))) {
      throw new Error(`PostgreSQL 15 is not installed (${join(BIN, bin)} is missing): run \`bash scripts/engines.sh install\``);
    }
  }
  const port = opts.port ?? (await freePort());
  const dataDir = mkdtempSync(join(tmpdir(), 'strata-pg-'));
  const logFile = join(dataDir, 'postgres.log');
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let closing: Promise<void> | undefined;
  let closed = false;
  let dbCount = 0;

  const postmasterPid = (): number | undefined => {
    try {
      const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n', 1)[0]);
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  };
  const isRunning = (): boolean => {
    const pid = postmasterPid();
    return pid !== undefined && isProcessAlive(pid);
  };

  const server: PostgresServer = {
    url,
    port,
    dataDir,
    async start() {
      if (closed) throw new Error(`PostgreSQL on port ${port} is closed`);
      if (isRunning()) return;
      // fsync and full-page writes off: test data need not survive an OS crash, and this makes
      // every write cheap. A clean stop() still checkpoints, so data survives restarts.
      const serverOpts = `-c listen_addresses=127.0.0.1 -p ${port} -k '${dataDir}' -c fsync=off -c full_page_writes=off`;
      try {
        await asPostgres(join(BIN, 'pg_ctl'), ['-D', dataDir, '-l', logFile, '-w', '-o', serverOpts, 'start']);
      } catch (err) {
        throw new Error(`PostgreSQL did not start on 127.0.0.1:${port}: ${message(err)}\n${tail(logFile)}`, { cause: err });
      }
      const pid = postmasterPid();
      if (pid !== undefined) running.set(server, pid);
    },
    async stop() {
      if (isRunning()) {
        try {
          await asPostgres(join(BIN, 'pg_ctl'), ['-D', dataDir, '-m', 'fast', '-w', 'stop']);
        } catch (err) {
          // pg_ctl also fails when the server died on its own meanwhile: only a live server is an error.
          if (isRunning()) throw new Error(`PostgreSQL on port ${port} did not stop: ${message(err)}`, { cause: err });
        }
      }
      running.delete(server);
    },
    async createDatabase(name = `strata_test_${++dbCount}`) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
      } finally {
        await client.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${encodeURIComponent(name)}`;
    },
    close() {
      closing ??= (async () => {
        closed = true;
        await server.stop();
        rmSync(dataDir, { recursive: true, force: true });
      })().catch((err: unknown) => {
        closing = undefined; // a later close() tries again
        throw err;
      });
      return closing;
    },
  };

  try {
    if (isRoot()) await run('chown', ['postgres:postgres', dataDir]);
    // C locale: the same cluster whatever the host's LANG; --no-sync: nothing to make durable.
    await asPostgres(join(BIN, 'initdb'), ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C']).catch((err: unknown) => {
      throw new Error(`initdb failed (the server's OS user must be able to enter ${tmpdir()}): ${message(err)}`, { cause: err });
    });
    installExitHook();
    await server.start();
  } catch (err) {
    await server.close().catch(() => undefined);
    throw err;
  }
  return server;
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: send SIGINT (= fast shutdown) and let the servers finish alone.
  process.on('exit', () => {
    for (const pid of running.values()) {
      try {
        process.kill(pid, 'SIGINT');
      } catch {
        // already gone
      }
    }
  });
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Runs a PostgreSQL binary as the `postgres` OS user when we are root. */
function asPostgres(cmd: string, args: string[]): Promise<string> {
  return isRoot() ? run('runuser', ['-u', 'postgres', '--', cmd, ...args]) : run(cmd, args);
}

/** Runs a command (cwd: the temp dir, which the postgres user can enter) and resolves with its stdout. */
function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd: tmpdir(), encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${stderr.trim() || err.message}`, { cause: err }));
      else resolve(stdout);
    });
  });
}



function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The end of the server log, for error messages. */
function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '';
  }
}
