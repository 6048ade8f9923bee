/**
 * Restore of the database part of a backup, in ONE transaction: either every table is restored
 * and checked or nothing is written.
 *
 * 1. The target must be at the backup's migrations and hold no rows (except what the migrations
 *    themselves write: MIGRATION_SEEDED_TABLES, replaced by the backup's rows).
 * 2. Partitions the backup has and the target lacks are created (`partition of`).
 * 3. User triggers are disabled for the load (a trigger must not rewrite restored rows, e.g. the
 *    auth_version counter); foreign keys stay checked, so tables load parents first.
 * 4. Rows go in pages, each a JSONB array of text rows cast by the target's column types.
 * 5. Sequences are set to the values the backup recorded (never below a restored id).
 * 6. With `check`, every table is dumped again and its count and SHA-256 compared with the
 *    manifest's before the commit.
 * 7. Stream positions: unless kept, consumer_offsets and rule_snapshots are emptied (after the
 *    check): they are offsets into the old stream, and the restored deployment starts a new one.
 */
import { sql } from 'kysely';
import { backupErrors } from '../errors.js';
import type { Manifest, FileEntry, TableEntry } from '../manifest.js';
import { appliedMigrations, foreignKeys, ident, listTables, MIGRATION_SEEDED_TABLES, setOutputSettings, type Sql, type TableInfo } from './catalog.js';
import { tableChecksum } from './dump.js';

/** Tables holding positions in the stream: meaningless on a new stream. */
export const STREAM_POSITION_TABLES = ['consumer_offsets', 'rule_snapshots'];

const INSERT_ROWS = 2000;

export interface LoadOptions {
  db: Sql;
  manifest: Manifest;
  /** The lines of one part, authenticated and checked against the manifest (throws naming the file). */
  readPart: (file: FileEntry) => Promise<string[]>;
  keepStreamPositions: boolean;
  check: boolean;
}

export interface LoadResult {
  tables: { name: string; rows: number; sha256: string }[];
  rows: number;
}

export async function checkRestorable(db: Sql, manifest: Manifest): Promise<void> {
  const id = manifest.id;
  const applied = await appliedMigrations(db);
  const wanted = manifest.database.migrations;
  if (applied.join(',') !== wanted.join(',')) {
    throw backupErrors.STRATA_ERR_BACKUP_SCHEMA({ id, reason: `it was taken at migrations [${wanted.join(', ')}], this database is at [${applied.join(', ')}]: restore with the Strata version that took it, then upgrade` });
  }
  const tables = await listTables(db);
  const holding: string[] = [];
  for (const t of tables) {
    if (MIGRATION_SEEDED_TABLES.has(t.name)) continue;
    const { rows } = await sql<{ one: number }>`select 1 as one from ${sql.raw(ident(t.name))} limit 1`.execute(db);
    if (rows.length > 0) holding.push(t.name);
  }
  if (holding.length > 0) {
    throw backupErrors.STRATA_ERR_BACKUP_NOT_EMPTY({ what: 'database', reason: `tables ${holding.slice(0, 5).join(', ')}${holding.length > 5 ? ` and ${holding.length - 5} more` : ''} hold rows; restore into a new data directory or an empty database` });
  }
}

/** Tables in an order where every table comes after the tables its foreign keys point to. */
function loadOrder(tables: TableEntry[], fks: { child: string; parent: string }[]): TableEntry[] {
  const byName = new Map(tables.map((t) => [t.name, t]));
  const leaves = (name: string): string[] => (byName.has(name) ? [name] : tables.filter((t) => t.partition?.parent === name).map((t) => t.name));
  const deps = new Map<string, Set<string>>(tables.map((t) => [t.name, new Set<string>()]));
  for (const { child, parent } of fks) {
    for (const c of leaves(child)) for (const p of leaves(parent)) if (c !== p) deps.get(c)?.add(p);
  }
  const out: TableEntry[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string): void => {
    if (state.get(name) !== undefined) return; // done, or a cycle: load it where it stands
    state.set(name, 'visiting');
    for (const d of deps.get(name) ?? []) visit(d);
    state.set(name, 'done');
    out.push(byName.get(name)!);
  };
  for (const t of tables) visit(t.name);
  return out;
}

/** The target's view of a backed-up table: its columns in the backup's order, for dumps and casts. */
function targetTable(entry: TableEntry, target: TableInfo | undefined, id: string): TableInfo {
  if (!target) throw backupErrors.STRATA_ERR_BACKUP_SCHEMA({ id, reason: `table ${entry.name} does not exist here` });
  const columns = entry.columns.map((c) => {
    const col = target.columns.find((t) => t.name === c.name);
    if (!col || col.type !== c.type) throw backupErrors.STRATA_ERR_BACKUP_SCHEMA({ id, reason: `column ${entry.name}.${c.name} (${c.type}) is ${col ? col.type : 'missing'} here` });
    return col;
  });
  return { ...target, columns };
}

export async function loadDatabase(opts: LoadOptions): Promise<LoadResult> {
  const { manifest } = opts;
  const id = manifest.id;
  await checkRestorable(opts.db, manifest);
  return opts.db.transaction().execute(async (tx) => {
    await setOutputSettings(tx);
    const existing = new Set((await listTables(tx)).map((t) => t.name));
    // Partitions (state consumer's days): a level at a time, parents first.
    let missing = manifest.database.tables.filter((t) => t.partition && !existing.has(t.name));
    while (missing.length > 0) {
      const ready = missing.filter((t) => existing.has(t.partition!.parent) || !manifest.database.tables.some((o) => o.name === t.partition!.parent));
      if (ready.length === 0) throw backupErrors.STRATA_ERR_BACKUP_SCHEMA({ id, reason: `partitions ${missing.map((t) => t.name).join(', ')} have no parent here` });
      for (const t of ready) {
        await sql.raw(`create table ${ident(t.name)} partition of ${ident(t.partition!.parent)} ${t.partition!.bound}`).execute(tx);
        existing.add(t.name);
      }
      missing = missing.filter((t) => !ready.includes(t));
    }
    const catalog = new Map((await listTables(tx)).map((t) => [t.name, t]));
    const order = loadOrder(manifest.database.tables, await foreignKeys(tx));
    const targets = new Map(order.map((e) => [e.name, targetTable(e, catalog.get(e.name), id)]));
    const touched = [...new Set([...order.map((t) => t.name), ...[...MIGRATION_SEEDED_TABLES].filter((t) => catalog.has(t))])];
    for (const name of touched) await sql.raw(`alter table ${ident(name)} disable trigger user`).execute(tx);
    for (const name of MIGRATION_SEEDED_TABLES) if (catalog.has(name)) await sql.raw(`delete from ${ident(name)}`).execute(tx);

    for (const entry of order) {
      const table = targets.get(entry.name)!;
      const head = `insert into ${ident(entry.name)} (${table.columns.map((c) => ident(c.name)).join(', ')})${table.columns.some((c) => c.identityAlways) ? ' overriding system value' : ''}`;
      const exprs = table.columns.map((c, i) => `(e->>${i})::${c.type}`).join(', ');
      for (const file of entry.files) {
        const lines = await opts.readPart(file);
        for (let i = 0; i < lines.length; i += INSERT_ROWS) {
          const page = `[${lines.slice(i, i + INSERT_ROWS).join(',')}]`;
          await sql`${sql.raw(head)} select ${sql.raw(exprs)} from jsonb_array_elements(${page}::jsonb) as e`.execute(tx);
        }
      }
    }
    for (const s of manifest.database.sequences) {
      await sql`select setval(${ident(s.name)}::regclass, ${s.lastValue}::bigint, ${s.isCalled})`.execute(tx);
    }

    const tables: LoadResult['tables'] = [];
    if (opts.check) {
      const wrong: string[] = [];
      for (const entry of manifest.database.tables) {
        const got = await tableChecksum(tx, targets.get(entry.name)!);
        tables.push({ name: entry.name, ...got });
        if (got.rows !== entry.rows || got.sha256 !== entry.sha256) wrong.push(`${entry.name} (${got.rows} rows, backup ${entry.rows}${got.rows === entry.rows ? ', content differs' : ''})`);
      }
      if (wrong.length > 0) throw backupErrors.STRATA_ERR_BACKUP_MISMATCH({ id, reason: `tables ${wrong.join('; ')}` });
    } else {
      for (const entry of manifest.database.tables) tables.push({ name: entry.name, rows: entry.rows, sha256: entry.sha256 });
    }
    if (!opts.keepStreamPositions) for (const name of STREAM_POSITION_TABLES) if (catalog.has(name)) await sql.raw(`delete from ${ident(name)}`).execute(tx);
    for (const name of touched) await sql.raw(`alter table ${ident(name)} enable trigger user`).execute(tx);
    return { tables, rows: tables.reduce((n, t) => n + t.rows, 0) };
  });
}
