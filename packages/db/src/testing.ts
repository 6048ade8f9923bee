/**
 * Test support: an embedded database that starts in a fraction of a second. A fresh PGlite
 * runs initdb (~5 s on these machines); instead, one migrated data directory is built per
 * version of the migrations and copied for every test database.
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { tempDir } from '@strata/testkit';
import { openDatabase, type Db, type DatabaseOptions } from './open.js';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

function migrationsHash(): string {
  const h = createHash('sha256');
  for (const name of readdirSync(MIGRATIONS_DIR).sort()) h.update(name).update(readFileSync(join(MIGRATIONS_DIR, name)));
  return h.digest('hex').slice(0, 16);
}

/** A migrated embedded database directory (`LOCK`-free, with `pgdata/`), built once and reused. */
export async function embeddedTemplate(): Promise<string> {
  const dir = join(tmpdir(), `strata-db-template-${migrationsHash()}`);
  if (existsSync(join(dir, 'pgdata', 'PG_VERSION'))) return dir;
  const building = mkdtempSync(join(tmpdir(), 'strata-db-template-build-'));
  const db = await openDatabase({ dir: building });
  await db.close();
  try {
    renameSync(building, dir);
  } catch {
    rmSync(building, { recursive: true, force: true }); // another test process built it first
  }
  return dir;
}

/** Copies the template into `dir` (which must not hold a database yet). */
export async function seedEmbeddedDatabase(dir: string): Promise<void> {
  cpSync(await embeddedTemplate(), dir, { recursive: true });
}

/** A temp data directory whose embedded database (`db/`) is ready: `strata` starts there in a second, not five. */
export async function seededDataDir(name: string): Promise<{ dir: string; remove(): void }> {
  const data = tempDir(name);
  await seedEmbeddedDatabase(join(data.dir, 'db'));
  return data;
}

export interface TestDb extends Db {
  /** Closes the database and removes its files. */
  dispose(): Promise<void>;
}

/**
 * The PostgreSQL server the suite runs against, when it does (`npm run test:engines` sets it for
 * the `engines-store` project); otherwise the embedded engine.
 */
export function testServerUrl(): string | undefined {
  return process.env.STRATA_TEST_PG_URL;
}

let databases = 0;

/** A new, empty database on the test server; returns its URL. */
export async function createServerDatabase(serverUrl: string): Promise<string> {
  const name = `strata_t${process.pid}_${++databases}`;
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(`create database ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * A migrated database of its own: on the server at `url` when given, else a fresh database on
 * the test server when the suite runs against one, else embedded in a temp dir.
 */
export async function openTestDatabase(opts: Omit<DatabaseOptions, 'dir'> = {}): Promise<TestDb> {
  const server = testServerUrl();
  const url = opts.url ?? (server && (await createServerDatabase(server)));
  if (url) {
    const db = await openDatabase({ ...opts, url });
    return Object.assign(db, { dispose: () => db.close() });
  }
  const dir = mkdtempSync(join(tmpdir(), 'strata-db-'));
  await seedEmbeddedDatabase(dir);
  const db = await openDatabase({ ...opts, dir });
  return Object.assign(db, {
    async dispose() {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  });
}
